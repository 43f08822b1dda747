-- Volumes (issue 12): the rest of Cinder's quota set, which its clients
-- read and set whole (backups, backup_gigabytes and groups count nothing
-- here: Nimbus has none; per_volume_gigabytes bounds one volume's size).
INSERT INTO quota_defaults (resource, hard_limit) VALUES
    ('backups', 10), ('backup_gigabytes', 1000), ('groups', 10), ('per_volume_gigabytes', -1)
ON CONFLICT (resource) DO NOTHING;

---- create above / drop below ----

DELETE FROM quotas WHERE resource IN ('backups', 'backup_gigabytes', 'groups', 'per_volume_gigabytes');
DELETE FROM quota_defaults WHERE resource IN ('backups', 'backup_gigabytes', 'groups', 'per_volume_gigabytes');
