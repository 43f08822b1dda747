-- Lifecycle (issue 9): host aggregates (Nova's os-aggregates). An
-- aggregate groups hosts and carries metadata the scheduler's aggregate
-- filters read (allocation ratios, per-host limits, keys flavors' extra
-- specs must match); its availability_zone key puts its hosts in that
-- zone, over the zone their agent reports.
CREATE TABLE aggregates (
    id          serial PRIMARY KEY,
    uuid        uuid NOT NULL UNIQUE,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz
);
CREATE TABLE aggregate_hosts (
    aggregate_id integer NOT NULL REFERENCES aggregates (id) ON DELETE CASCADE,
    host         text NOT NULL,
    PRIMARY KEY (aggregate_id, host)
);
CREATE INDEX aggregate_hosts_host ON aggregate_hosts (host);
CREATE TABLE aggregate_metadata (
    aggregate_id integer NOT NULL REFERENCES aggregates (id) ON DELETE CASCADE,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    value        text NOT NULL CHECK (length(value) <= 255),
    PRIMARY KEY (aggregate_id, key)
);
