-- The usage report (os-simple-tenant-usage, the portal's Usage pages)
-- reads the instances that ran in a period, deleted ones included.
CREATE INDEX instances_usage ON instances (project_id, launched_at) WHERE launched_at IS NOT NULL;
