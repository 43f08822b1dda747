-- Images (Glance), key pairs (Nova, per user) and the flavor details Nova
-- exposes: extra specs and access lists for private flavors.

CREATE TABLE images (
    id               uuid PRIMARY KEY,
    owner            text NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name             text NOT NULL DEFAULT '' CHECK (length(name) <= 255),
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'saving', 'active', 'killed', 'deleted', 'pending_delete', 'deactivated')),
    visibility       text NOT NULL DEFAULT 'private'
                     CHECK (visibility IN ('public', 'private', 'shared', 'community')),
    protected        boolean NOT NULL DEFAULT false,
    disk_format      text CHECK (disk_format IN ('qcow2', 'raw', 'iso')),
    container_format text CHECK (container_format IN ('bare', 'ovf')),
    size             bigint CHECK (size >= 0),
    virtual_size     bigint,
    checksum         text,
    os_hash_algo     text,
    os_hash_value    text,
    min_disk         integer NOT NULL DEFAULT 0 CHECK (min_disk >= 0),
    min_ram          integer NOT NULL DEFAULT 0 CHECK (min_ram >= 0),
    tags             text[] NOT NULL DEFAULT '{}',
    -- properties holds the free-form image properties (hw_*, os_*, ...).
    properties       jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX images_owner ON images (owner);
CREATE INDEX images_created ON images (created_at, id);

CREATE TABLE keypairs (
    user_id     text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    type        text NOT NULL DEFAULT 'ssh' CHECK (type IN ('ssh', 'x509')),
    public_key  text NOT NULL,
    fingerprint text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, name)
);

CREATE TABLE flavor_extra_specs (
    flavor_id text NOT NULL REFERENCES flavors(id) ON DELETE CASCADE,
    key       text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    value     text NOT NULL CHECK (length(value) <= 255),
    PRIMARY KEY (flavor_id, key)
);

CREATE TABLE flavor_access (
    flavor_id  text NOT NULL REFERENCES flavors(id) ON DELETE CASCADE,
    project_id text NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    PRIMARY KEY (flavor_id, project_id)
);

---- create above / drop below ----

DROP TABLE flavor_access, flavor_extra_specs, keypairs, images;
