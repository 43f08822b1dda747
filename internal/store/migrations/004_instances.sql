-- Instances and everything their launch needs: compute hosts (their
-- capacity and claims), the action log Nova shows, and the outbox through
-- which jobs leave PostgreSQL for Redis streams.

CREATE TABLE compute_hosts (
    host            text PRIMARY KEY,
    -- Nova shows hypervisors and services by integer id before
    -- microversion 2.53 and by UUID from it on.
    id              serial UNIQUE,
    uuid            uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    az              text NOT NULL DEFAULT 'nova',
    hypervisor_type text NOT NULL DEFAULT '',
    arch            text NOT NULL DEFAULT 'x86_64',
    vcpus           integer NOT NULL DEFAULT 0,
    memory_mb       integer NOT NULL DEFAULT 0,
    disk_gb         integer NOT NULL DEFAULT 0,
    -- claims made by the scheduler for the instances placed here
    vcpus_used      integer NOT NULL DEFAULT 0 CHECK (vcpus_used >= 0),
    memory_mb_used  integer NOT NULL DEFAULT 0 CHECK (memory_mb_used >= 0),
    disk_gb_used    integer NOT NULL DEFAULT 0 CHECK (disk_gb_used >= 0),
    running_vms     integer NOT NULL DEFAULT 0 CHECK (running_vms >= 0),
    disabled        boolean NOT NULL DEFAULT false,
    disabled_reason text NOT NULL DEFAULT '',
    last_seen       timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE instances (
    id                uuid PRIMARY KEY,
    project_id        text NOT NULL REFERENCES projects(id) ON DELETE RESTRICT,
    user_id           text NOT NULL,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    flavor_id         text NOT NULL,
    -- the flavor as it was at launch: later flavor changes do not move it
    vcpus             integer NOT NULL,
    memory_mb         integer NOT NULL,
    root_gb           integer NOT NULL,
    flavor_name       text NOT NULL,
    image_id          uuid,
    key_name          text,
    key_data          text,
    user_data         text,
    metadata          jsonb NOT NULL DEFAULT '{}',
    availability_zone text NOT NULL DEFAULT '',
    host              text REFERENCES compute_hosts(host),
    vm_state          text NOT NULL,
    task_state        text,
    power_state       integer NOT NULL DEFAULT 0,
    vnc_port          integer,
    fault             jsonb,
    reservation_id    text NOT NULL,
    launch_index      integer NOT NULL DEFAULT 0,
    attempts          integer NOT NULL DEFAULT 0,
    tried_hosts       text[] NOT NULL DEFAULT '{}',
    build_deadline    timestamptz,
    launched_at       timestamptz,
    terminated_at     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz
);
CREATE INDEX instances_project ON instances (project_id, created_at DESC, id) WHERE deleted_at IS NULL;
CREATE INDEX instances_host ON instances (host) WHERE deleted_at IS NULL;
CREATE INDEX instances_updated ON instances (updated_at);
CREATE INDEX instances_building ON instances (build_deadline) WHERE vm_state = 'building';

CREATE TABLE instance_actions (
    id          bigserial PRIMARY KEY,
    instance_id uuid NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    action      text NOT NULL,
    request_id  text NOT NULL,
    user_id     text NOT NULL,
    project_id  text NOT NULL,
    message     text,
    start_time  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instance_actions_instance ON instance_actions (instance_id, start_time DESC);
CREATE UNIQUE INDEX instance_actions_request ON instance_actions (instance_id, request_id);

CREATE TABLE instance_action_events (
    id          bigserial PRIMARY KEY,
    action_id   bigint NOT NULL REFERENCES instance_actions(id) ON DELETE CASCADE,
    event       text NOT NULL,
    host        text,
    start_time  timestamptz NOT NULL DEFAULT now(),
    finish_time timestamptz,
    result      text,
    -- details for admins only (libvirt messages, host paths)
    traceback   text
);
CREATE INDEX instance_action_events_action ON instance_action_events (action_id);

-- outbox: jobs written in the same transaction as the change that causes
-- them; the relay copies them to their Redis stream and marks them sent.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    stream     text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

---- create above / drop below ----

DROP TABLE outbox, instance_action_events, instance_actions, instances, compute_hosts;
