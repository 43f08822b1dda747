-- Identity: domains, projects, users, roles, assignments and tokens, as
-- Keystone keeps them. Ids are Keystone-style hex UUIDs except the default
-- domain, whose id is "default" as in every Keystone.

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE domains (
    id          text PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    enabled     boolean NOT NULL DEFAULT true
);

CREATE TABLE projects (
    id          text PRIMARY KEY,
    domain_id   text NOT NULL REFERENCES domains(id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 1024),
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (domain_id, name)
);

CREATE TABLE users (
    id                 text PRIMARY KEY,
    domain_id          text NOT NULL REFERENCES domains(id),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    email              text NOT NULL DEFAULT '' CHECK (length(email) <= 255),
    description        text NOT NULL DEFAULT '' CHECK (length(description) <= 1024),
    enabled            boolean NOT NULL DEFAULT true,
    default_project_id text REFERENCES projects(id) ON DELETE SET NULL,
    password_hash      text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (domain_id, name)
);

CREATE TABLE roles (
    id          text PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
    description text NOT NULL DEFAULT ''
);

-- implied_roles: holding prior_role also grants implied_role
-- (admin -> member -> reader), as Keystone's bootstrap sets up.
CREATE TABLE implied_roles (
    prior_role_id   text NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    implied_role_id text NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id)
);

CREATE TABLE role_assignments (
    user_id    text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id text NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    role_id    text NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, project_id, role_id)
);
CREATE INDEX role_assignments_project ON role_assignments (project_id);
CREATE INDEX role_assignments_role ON role_assignments (role_id);

-- tokens: only the SHA-256 of a token is stored. audit_chain lists the
-- audit ids of the tokens it was made from, so revoking a parent revokes
-- its children.
CREATE TABLE tokens (
    hash        bytea PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id  text REFERENCES projects(id) ON DELETE CASCADE,
    methods     text[] NOT NULL,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    audit_id    text NOT NULL UNIQUE,
    audit_chain text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX tokens_user ON tokens (user_id, project_id);
CREATE INDEX tokens_expires ON tokens (expires_at);
CREATE INDEX tokens_audit_chain ON tokens USING gin (audit_chain);

---- create above / drop below ----

DROP TABLE tokens, role_assignments, implied_roles, roles, users, projects, domains, settings;
