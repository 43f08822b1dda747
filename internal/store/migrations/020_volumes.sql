-- Volumes (issue 12): Cinder's model. A volume lives on one storage host
-- (host); an attachment gives it to one instance (multiattach is off: the
-- unique index on volume_id is what keeps two writers away, whatever two
-- requests race); a snapshot is a copy on the volume's host. Statuses
-- are Cinder's words (internal/volume has the table of who may go where).
CREATE TABLE volume_types (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 255),
    is_public   boolean NOT NULL DEFAULT true,
    -- extra_specs: {"volume_backend_name": "local"} names the backend.
    extra_specs jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- Cinder's default type, __DEFAULT__, which a volume gets when it names none.
INSERT INTO volume_types (id, name, description) VALUES
    ('5c2a6b7e-0d1f-4a36-9c3e-6f9d3f1d2b01', '__DEFAULT__', 'Default Volume Type');

CREATE TABLE volumes (
    id                uuid PRIMARY KEY,
    project_id        text NOT NULL,
    user_id           text NOT NULL,
    name              text NOT NULL DEFAULT '' CHECK (length(name) <= 255),
    description       text NOT NULL DEFAULT '' CHECK (length(description) <= 255),
    size_gb           integer NOT NULL CHECK (size_gb > 0),
    status            text NOT NULL,
    -- new_size_gb: where a running extend goes.
    new_size_gb       integer,
    volume_type_id    uuid NOT NULL REFERENCES volume_types (id),
    availability_zone text NOT NULL DEFAULT 'nova',
    bootable          boolean NOT NULL DEFAULT false,
    source_volid      uuid,
    snapshot_id       uuid,
    image_id          text,
    -- volume_image_metadata: the image's properties a volume made from it keeps.
    image_metadata    jsonb,
    metadata          jsonb NOT NULL DEFAULT '{}',
    -- host: the storage host that keeps the data ('' until placed).
    host              text NOT NULL DEFAULT '',
    -- error: why the last operation failed (shown to the project).
    error             text NOT NULL DEFAULT '',
    -- status_at: when status last changed: the reaper's clock for an
    -- operation whose driver died.
    status_at         timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX volumes_project ON volumes (project_id, created_at);
CREATE INDEX volumes_busy ON volumes (status_at)
    WHERE status IN ('creating', 'attaching', 'detaching', 'extending', 'deleting');

CREATE TABLE volume_attachments (
    id                    uuid PRIMARY KEY,
    volume_id             uuid NOT NULL UNIQUE REFERENCES volumes (id),
    instance_id           uuid NOT NULL,
    -- device: the name reported to the user (/dev/vdb), its target (vdb).
    device                text NOT NULL,
    -- host: the compute host the guest runs on when it was attached.
    host                  text NOT NULL DEFAULT '',
    -- export_name: the NBD export the compute host reads a remote volume
    -- from ('' for a volume on the instance's own host).
    export_name           text NOT NULL DEFAULT '',
    -- export_key: the attachment's TLS-PSK (hex) for that export.
    export_key            text NOT NULL DEFAULT '',
    delete_on_termination boolean NOT NULL DEFAULT false,
    -- boot_index: 0 for a volume the instance boots from, NULL otherwise.
    boot_index            integer,
    created_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (instance_id, device)
);
CREATE INDEX volume_attachments_instance ON volume_attachments (instance_id);

CREATE TABLE volume_snapshots (
    id          uuid PRIMARY KEY,
    volume_id   uuid NOT NULL REFERENCES volumes (id),
    project_id  text NOT NULL,
    user_id     text NOT NULL,
    name        text NOT NULL DEFAULT '' CHECK (length(name) <= 255),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 255),
    size_gb     integer NOT NULL,
    status      text NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}',
    error       text NOT NULL DEFAULT '',
    status_at   timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX volume_snapshots_volume ON volume_snapshots (volume_id);
CREATE INDEX volume_snapshots_project ON volume_snapshots (project_id, created_at);

-- The portal's live pages hear of every change (migration 016's feed):
-- a snapshot's change is its volume's.
CREATE TRIGGER volumes_change AFTER INSERT OR DELETE ON volumes
    FOR EACH ROW EXECUTE FUNCTION nimbus_change('volume', 'project_id', 'id');
CREATE TRIGGER volumes_change_update AFTER UPDATE ON volumes
    FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION nimbus_change('volume', 'project_id', 'id');
CREATE TRIGGER volume_snapshots_change AFTER INSERT OR UPDATE OR DELETE ON volume_snapshots
    FOR EACH ROW EXECUTE FUNCTION nimbus_change('volume', 'project_id', 'volume_id');

-- Cinder's default quotas; each type's own (volumes_<type>, ...) are
-- unlimited by default and come and go with the type.
INSERT INTO quota_defaults (resource, hard_limit) VALUES
    ('volumes', 10), ('gigabytes', 1000), ('snapshots', 10),
    ('volumes___DEFAULT__', -1), ('gigabytes___DEFAULT__', -1), ('snapshots___DEFAULT__', -1)
ON CONFLICT (resource) DO NOTHING;

---- create above / drop below ----

DELETE FROM quotas WHERE resource IN ('volumes', 'gigabytes', 'snapshots') OR resource LIKE 'volumes\_%'
    OR resource LIKE 'gigabytes\_%' OR resource LIKE 'snapshots\_%';
DELETE FROM quota_defaults WHERE resource IN ('volumes', 'gigabytes', 'snapshots') OR resource LIKE 'volumes\_%'
    OR resource LIKE 'gigabytes\_%' OR resource LIKE 'snapshots\_%';
DROP TABLE volume_snapshots, volume_attachments, volumes, volume_types;
