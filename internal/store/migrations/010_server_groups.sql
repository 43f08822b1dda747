-- Lifecycle (issue 9): server groups (Nova's os-server-groups). A group's
-- policy says where the scheduler may put its members relative to each
-- other: affinity (one host), anti-affinity (all different hosts), and
-- their soft forms (preferred, not required). A member is an instance
-- launched with the scheduler hint group=<id>; deleted instances stop
-- being members.
CREATE TABLE server_groups (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    project_id  text NOT NULL,
    user_id     text NOT NULL,
    policy      text NOT NULL CHECK (policy IN ('affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX server_groups_project ON server_groups (project_id);
CREATE TABLE server_group_members (
    group_id    uuid NOT NULL REFERENCES server_groups (id) ON DELETE CASCADE,
    instance_id uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, instance_id)
);
CREATE UNIQUE INDEX server_group_members_instance ON server_group_members (instance_id);
