-- Flavors and quota limits. The compute issue fills in instances; these two
-- exist now because the first start seeds Nova's default flavors and quotas.

CREATE TABLE flavors (
    id           text PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
    vcpus        integer NOT NULL CHECK (vcpus > 0),
    ram_mb       integer NOT NULL CHECK (ram_mb > 0),
    disk_gb      integer NOT NULL CHECK (disk_gb >= 0),
    ephemeral_gb integer NOT NULL DEFAULT 0 CHECK (ephemeral_gb >= 0),
    swap_mb      integer NOT NULL DEFAULT 0 CHECK (swap_mb >= 0),
    rxtx_factor  double precision NOT NULL DEFAULT 1.0,
    is_public    boolean NOT NULL DEFAULT true,
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- quota_defaults: one row per resource, the limit for projects without
-- their own (Nova's quota class "default"). -1 is unlimited.
CREATE TABLE quota_defaults (
    resource text PRIMARY KEY,
    hard_limit integer NOT NULL CHECK (hard_limit >= -1)
);

-- quotas: a project's own limits, overriding the defaults.
CREATE TABLE quotas (
    project_id text NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    resource   text NOT NULL,
    hard_limit integer NOT NULL CHECK (hard_limit >= -1),
    PRIMARY KEY (project_id, resource)
);

---- create above / drop below ----

DROP TABLE quotas, quota_defaults, flavors;
