-- Networking (issue 10): Neutron's model. Networks with their segment
-- (provider attributes), IPv4/IPv6 subnets, ports with their fixed IPs
-- and security groups, security groups and rules, routers and floating
-- IPs. The database keeps the invariants two requests could race on:
-- an address is used once per subnet, a segment once per physical
-- network, a MAC once per network, a rule once per group, one default
-- group per project.
CREATE TABLE networks (
    id                    uuid PRIMARY KEY,
    project_id            text NOT NULL,
    name                  text NOT NULL DEFAULT '' CHECK (length(name) <= 255),
    description           text NOT NULL DEFAULT '' CHECK (length(description) <= 255),
    admin_state_up        boolean NOT NULL DEFAULT true,
    shared                boolean NOT NULL DEFAULT false,
    external              boolean NOT NULL DEFAULT false,
    -- is_default: the external network Nova's "auto" allocation uses.
    is_default            boolean NOT NULL DEFAULT false,
    mtu                   integer NOT NULL CHECK (mtu BETWEEN 68 AND 65535),
    port_security_enabled boolean NOT NULL DEFAULT true,
    network_type          text NOT NULL CHECK (network_type IN ('local', 'flat', 'vlan', 'vxlan')),
    physical_network      text,
    segmentation_id       integer,
    revision_number       integer NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX networks_project ON networks (project_id);
-- One network per flat physical network, per VLAN of a physical network,
-- per VXLAN VNI (Neutron's segment allocation tables).
CREATE UNIQUE INDEX networks_flat ON networks (physical_network) WHERE network_type = 'flat';
CREATE UNIQUE INDEX networks_vlan ON networks (physical_network, segmentation_id) WHERE network_type = 'vlan';
CREATE UNIQUE INDEX networks_vxlan ON networks (segmentation_id) WHERE network_type = 'vxlan';
CREATE UNIQUE INDEX networks_default ON networks (is_default) WHERE is_default;

CREATE TABLE subnets (
    id               uuid PRIMARY KEY,
    network_id       uuid NOT NULL REFERENCES networks (id),
    project_id       text NOT NULL,
    name             text NOT NULL DEFAULT '' CHECK (length(name) <= 255),
    description      text NOT NULL DEFAULT '' CHECK (length(description) <= 255),
    ip_version       integer NOT NULL CHECK (ip_version IN (4, 6)),
    cidr             cidr NOT NULL,
    gateway_ip       inet,
    enable_dhcp      boolean NOT NULL DEFAULT true,
    -- [{"start": "10.0.0.2", "end": "10.0.0.254"}], Neutron's shape.
    allocation_pools jsonb NOT NULL DEFAULT '[]',
    dns_nameservers  text[] NOT NULL DEFAULT '{}',
    -- [{"destination": "...", "nexthop": "..."}]
    host_routes      jsonb NOT NULL DEFAULT '[]',
    revision_number  integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subnets_network ON subnets (network_id);

CREATE TABLE ports (
    id                    uuid PRIMARY KEY,
    network_id            uuid NOT NULL REFERENCES networks (id),
    -- project_id is '' for the ports Neutron gives no tenant (router
    -- gateways, floating IPs' own ports).
    project_id            text NOT NULL,
    name                  text NOT NULL DEFAULT '' CHECK (length(name) <= 255),
    description           text NOT NULL DEFAULT '' CHECK (length(description) <= 255),
    mac_address           macaddr NOT NULL,
    admin_state_up        boolean NOT NULL DEFAULT true,
    status                text NOT NULL DEFAULT 'DOWN',
    device_id             text NOT NULL DEFAULT '' CHECK (length(device_id) <= 255),
    device_owner          text NOT NULL DEFAULT '' CHECK (length(device_owner) <= 255),
    port_security_enabled boolean NOT NULL DEFAULT true,
    -- [{"ip_address": "...", "mac_address": "..."}]
    allowed_address_pairs jsonb NOT NULL DEFAULT '[]',
    -- binding:host_id: the host whose datapath carries the port.
    host                  text NOT NULL DEFAULT '',
    revision_number       integer NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (network_id, mac_address)
);
CREATE INDEX ports_project ON ports (project_id);
CREATE INDEX ports_device ON ports (device_id) WHERE device_id <> '';
CREATE INDEX ports_host ON ports (host) WHERE host <> '';

-- port_ips: each fixed IP once per subnet, whoever asks at the same time.
CREATE TABLE port_ips (
    port_id    uuid NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    subnet_id  uuid NOT NULL REFERENCES subnets (id),
    ip_address inet NOT NULL,
    PRIMARY KEY (port_id, subnet_id, ip_address),
    UNIQUE (subnet_id, ip_address)
);

CREATE TABLE security_groups (
    id              uuid PRIMARY KEY,
    project_id      text NOT NULL,
    name            text NOT NULL DEFAULT '' CHECK (length(name) <= 255),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 255),
    is_default      boolean NOT NULL DEFAULT false,
    stateful        boolean NOT NULL DEFAULT true,
    revision_number integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX security_groups_project ON security_groups (project_id);
CREATE UNIQUE INDEX security_groups_default ON security_groups (project_id) WHERE is_default;

CREATE TABLE security_group_rules (
    id               uuid PRIMARY KEY,
    group_id         uuid NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    project_id       text NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('ingress', 'egress')),
    ethertype        text NOT NULL CHECK (ethertype IN ('IPv4', 'IPv6')),
    protocol         text,
    port_range_min   integer,
    port_range_max   integer,
    remote_ip_prefix cidr,
    remote_group_id  uuid REFERENCES security_groups (id) ON DELETE CASCADE,
    description      text NOT NULL DEFAULT '' CHECK (length(description) <= 255),
    revision_number  integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (group_id, direction, ethertype, protocol, port_range_min, port_range_max,
        remote_ip_prefix, remote_group_id)
);
CREATE INDEX security_group_rules_remote ON security_group_rules (remote_group_id) WHERE remote_group_id IS NOT NULL;

CREATE TABLE port_security_groups (
    port_id  uuid NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    group_id uuid NOT NULL REFERENCES security_groups (id),
    PRIMARY KEY (port_id, group_id)
);
CREATE INDEX port_security_groups_group ON port_security_groups (group_id);

CREATE TABLE routers (
    id              uuid PRIMARY KEY,
    project_id      text NOT NULL,
    name            text NOT NULL DEFAULT '' CHECK (length(name) <= 255),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 255),
    admin_state_up  boolean NOT NULL DEFAULT true,
    -- The external gateway: its network and port (device_owner
    -- network:router_gateway), and whether it SNATs the subnets behind it.
    gw_network_id   uuid REFERENCES networks (id),
    gw_port_id      uuid REFERENCES ports (id),
    enable_snat     boolean NOT NULL DEFAULT true,
    -- [{"destination": "...", "nexthop": "..."}]
    routes          jsonb NOT NULL DEFAULT '[]',
    -- host runs the router's namespace (Neutron's L3 agent binding).
    host            text NOT NULL DEFAULT '',
    revision_number integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routers_project ON routers (project_id);

CREATE TABLE floating_ips (
    id                  uuid PRIMARY KEY,
    project_id          text NOT NULL,
    description         text NOT NULL DEFAULT '' CHECK (length(description) <= 255),
    floating_network_id uuid NOT NULL REFERENCES networks (id),
    -- The address is held by a port of its own on the external network
    -- (device_owner network:floatingip), so IPAM has one home.
    floating_port_id    uuid NOT NULL REFERENCES ports (id),
    floating_ip_address inet NOT NULL,
    port_id             uuid REFERENCES ports (id),
    fixed_ip_address    inet,
    router_id           uuid REFERENCES routers (id),
    revision_number     integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- A fixed address has one floating address at a time.
    UNIQUE (port_id, fixed_ip_address)
);
CREATE INDEX floating_ips_project ON floating_ips (project_id);

-- Neutron's default quotas.
INSERT INTO quota_defaults (resource, hard_limit) VALUES
    ('network', 100), ('subnet', 100), ('port', 500), ('router', 10), ('floatingip', 50),
    ('security_group', 10), ('security_group_rule', 100)
ON CONFLICT (resource) DO NOTHING;

---- create above / drop below ----

DELETE FROM quotas WHERE resource IN ('network', 'subnet', 'port', 'router', 'floatingip', 'security_group', 'security_group_rule');
DELETE FROM quota_defaults WHERE resource IN ('network', 'subnet', 'port', 'router', 'floatingip', 'security_group', 'security_group_rule');
DROP TABLE floating_ips, routers, port_security_groups, security_group_rules, security_groups, port_ips, ports, subnets, networks;
