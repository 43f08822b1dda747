-- Lifecycle (issue 9): resize and cold migration (Nova's migrations
-- table, os-migrations). A migration moves an instance from source_host
-- to dest_host, with a new flavor (resize) or the same one (migration).
-- While it is open the migration, not the instance, holds the host
-- claims: the old flavor's on the source (source_claim) and the new
-- flavor's on the destination (dest_claim). Confirming gives the
-- destination's claim to the instance and releases the source's;
-- reverting the other way round. Each flag is cleared by the statement
-- that releases or hands over its claim, so a claim moves once.
CREATE TABLE migrations (
    id              serial PRIMARY KEY,
    uuid            uuid NOT NULL UNIQUE,
    instance_id     uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    project_id      text NOT NULL,
    user_id         text NOT NULL,
    migration_type  text NOT NULL CHECK (migration_type IN ('resize', 'migration')),
    status          text NOT NULL,
    source_host     text NOT NULL,
    dest_host       text,
    old_flavor_id   text NOT NULL,
    old_flavor_name text NOT NULL,
    old_vcpus       integer NOT NULL,
    old_memory_mb   integer NOT NULL,
    old_root_gb     integer NOT NULL,
    new_flavor_id   text NOT NULL,
    new_flavor_name text NOT NULL,
    new_vcpus       integer NOT NULL,
    new_memory_mb   integer NOT NULL,
    new_root_gb     integer NOT NULL,
    source_claim    boolean NOT NULL DEFAULT false,
    dest_claim      boolean NOT NULL DEFAULT false,
    -- The target host an admin named (migrate, 2.56), if any.
    requested_host  text,
    -- The source's copy of the disk as the relay holds it.
    disk_sha512     text,
    disk_size       bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- When the instance reached VERIFY_RESIZE (the auto-confirm clock).
    finished_at     timestamptz
);
CREATE INDEX migrations_instance ON migrations (instance_id);
-- At most one open migration per instance.
CREATE UNIQUE INDEX migrations_open ON migrations (instance_id)
    WHERE status IN ('pre-migrating', 'migrating', 'post-migrating', 'finished', 'confirming', 'reverting');
