-- Hardening (issue 8). Every message may arrive twice or late, and jobs
-- may be lost with a Redis that restarts empty:
--   task_action_id: the action whose job the current task waits for; an
--     event of another (older) action never finishes it;
--   task_sent_at: when that job was last sent, so the reconciler re-sends
--     jobs of tasks that have waited too long;
--   agent_event_at: the agent's time of the last event applied, so a
--     power report taken before it (applied late, or by a slower applier)
--     changes nothing;
--   claim_host: the host whose resources (compute_hosts.*_used) this
--     instance holds, NULL once released, so a claim is released exactly
--     once (a failed build released it, and its delete released it again);
--   unrecognised_domains: Nimbus domains a host reports that the database
--     does not place there (a host renamed, a database restored from an
--     older backup). They are never destroyed on sight: an admin decides.
ALTER TABLE instances ADD COLUMN task_action_id bigint, ADD COLUMN task_sent_at timestamptz,
    ADD COLUMN agent_event_at timestamptz,
    ADD COLUMN claim_host text;
-- Until now a claim was held by every live placed instance except a build
-- that failed (which released it and kept its host).
UPDATE instances SET claim_host = host
    WHERE deleted_at IS NULL AND host IS NOT NULL AND NOT (vm_state = 'error' AND launched_at IS NULL);
CREATE INDEX instances_in_task ON instances (task_sent_at) WHERE task_state IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE unrecognised_domains (
    host        text NOT NULL,
    instance_id uuid NOT NULL,
    power       text NOT NULL DEFAULT '',
    -- why it is not recognised: 'unknown' (no such instance) or
    -- 'elsewhere' (the instance lives on placed_on, or on no host)
    reason      text NOT NULL,
    placed_on   text NOT NULL DEFAULT '',
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, instance_id)
);
