package store

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

const portCols = `p.id::text, p.network_id::text, p.project_id, p.name, p.description, p.mac_address::text,
	p.admin_state_up, p.status, p.device_id, p.device_owner, p.port_security_enabled, p.allowed_address_pairs,
	p.host, p.revision_number, p.created_at, p.updated_at,
	coalesce((SELECT json_agg(json_build_object('subnet_id', pi.subnet_id, 'ip_address', host(pi.ip_address))
		ORDER BY pi.ip_address) FROM port_ips pi WHERE pi.port_id = p.id), '[]'),
	ARRAY(SELECT g.group_id::text FROM port_security_groups g WHERE g.port_id = p.id ORDER BY g.group_id)`

func scanPort(row pgx.CollectableRow) (model.Port, error) {
	var p model.Port
	var pairs, ips []byte
	err := row.Scan(&p.ID, &p.NetworkID, &p.ProjectID, &p.Name, &p.Description, &p.MACAddress, &p.AdminStateUp,
		&p.Status, &p.DeviceID, &p.DeviceOwner, &p.PortSecurity, &pairs, &p.Host, &p.Revision, &p.CreatedAt,
		&p.UpdatedAt, &ips, &p.SecurityGroups)
	if err == nil {
		err = unmarshalPortJSON(&p, pairs, ips)
	}
	return p, err
}

func unmarshalPortJSON(p *model.Port, pairs, ips []byte) error {
	if err := json.Unmarshal(pairs, &p.AddressPairs); err != nil {
		return err
	}
	return json.Unmarshal(ips, &p.FixedIPs)
}

// CreatePort inserts a port with its addresses and security groups, in
// one statement (a launch makes one per NIC inside its transaction). A
// taken address is the port_ips_subnet_id_ip_address_key violation, a
// taken MAC the ports_network_id_mac_address_key one.
func (s *Store) CreatePort(ctx context.Context, p model.Port) error {
	subnets, addrs := make([]string, len(p.FixedIPs)), make([]string, len(p.FixedIPs))
	for i, ip := range p.FixedIPs {
		subnets[i], addrs[i] = ip.SubnetID, ip.IPAddress
	}
	// The foreign keys of the CTEs' rows are checked at the statement's
	// end, when the port row is there.
	_, err := s.db.Exec(ctx, `WITH port AS (
		INSERT INTO ports (id, network_id, project_id, name, description, mac_address,
			admin_state_up, status, device_id, device_owner, port_security_enabled, allowed_address_pairs, host)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)),
	ips AS (INSERT INTO port_ips (port_id, subnet_id, ip_address)
		SELECT $1, sn::uuid, a::inet FROM unnest($14::text[], $15::text[]) AS x(sn, a))
	INSERT INTO port_security_groups (port_id, group_id) SELECT DISTINCT $1::uuid, g::uuid FROM unnest($16::text[]) g`,
		p.ID, p.NetworkID, p.ProjectID, p.Name, p.Description, p.MACAddress, p.AdminStateUp, p.Status, p.DeviceID,
		p.DeviceOwner, p.PortSecurity, jsonOf(p.AddressPairs), p.Host, subnets, addrs, nonNil(p.SecurityGroups))
	return mapErr(err)
}

// SetPortIPs replaces a port's fixed IPs. An address another port took
// meanwhile is the port_ips_subnet_id_ip_address_key violation.
func (s *Store) SetPortIPs(ctx context.Context, portID string, ips []model.FixedIP) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM port_ips WHERE port_id = $1`, portID); err != nil {
		return mapErr(err)
	}
	for _, ip := range ips {
		if _, err := s.db.Exec(ctx, `INSERT INTO port_ips (port_id, subnet_id, ip_address) VALUES ($1, $2, $3)`,
			portID, ip.SubnetID, ip.IPAddress); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// SetPortGroups replaces a port's security groups.
func (s *Store) SetPortGroups(ctx context.Context, portID string, groups []string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM port_security_groups WHERE port_id = $1`, portID)
	if err != nil {
		return mapErr(err)
	}
	_, err = s.db.Exec(ctx, `INSERT INTO port_security_groups (port_id, group_id)
		SELECT $1, g::uuid FROM unnest($2::text[]) g ON CONFLICT DO NOTHING`, portID, nonNil(groups))
	return mapErr(err)
}

// UpdatePort writes a port's changeable attributes (addresses and groups
// have their own setters).
func (s *Store) UpdatePort(ctx context.Context, p model.Port) error {
	return affected(s.db.Exec(ctx, `UPDATE ports SET name = $2, description = $3, admin_state_up = $4,
		device_id = $5, device_owner = $6, port_security_enabled = $7, allowed_address_pairs = $8, host = $9,
		mac_address = $10, revision_number = revision_number + 1, updated_at = now() WHERE id = $1`,
		p.ID, p.Name, p.Description, p.AdminStateUp, p.DeviceID, p.DeviceOwner, p.PortSecurity,
		jsonOf(p.AddressPairs), p.Host, p.MACAddress))
}

// SetPortStatus sets a port's status (the datapath reports it).
func (s *Store) SetPortStatus(ctx context.Context, id, status string) error {
	_, err := s.db.Exec(ctx, `UPDATE ports SET status = $2, updated_at = now() WHERE id = $1 AND status <> $2`, id, status)
	return mapErr(err)
}

// Port returns a port.
func (s *Store) Port(ctx context.Context, id string) (model.Port, error) {
	if !isUUID(id) {
		return model.Port{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+portCols+` FROM ports p WHERE p.id = $1`, id)
	p, err := pgx.CollectExactlyOneRow(rows, scanPort)
	return p, mapErr(err)
}

// LockPort returns a port with its row locked for the transaction.
func (s *Store) LockPort(ctx context.Context, id string) (model.Port, error) {
	if !isUUID(id) {
		return model.Port{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+portCols+` FROM ports p WHERE p.id = $1 FOR UPDATE OF p`, id)
	p, err := pgx.CollectExactlyOneRow(rows, scanPort)
	return p, mapErr(err)
}

// PortFilter narrows a port listing in SQL (the API's other filters are
// applied to the answer).
type PortFilter struct {
	// ProjectID: the project's ports and the ports on its networks; ""
	// for every port.
	ProjectID string
	NetworkID string
	DeviceID  string
	Host      string
	// DeviceOwner: ports with that owner only (network:router_interface
	// for every router's interfaces in one query).
	DeviceOwner string
}

// Ports lists ports, oldest first.
func (s *Store) Ports(ctx context.Context, f PortFilter) ([]model.Port, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+portCols+` FROM ports p
		WHERE ($1 = '' OR p.project_id = $1 OR p.network_id IN (SELECT id FROM networks WHERE project_id = $1))
		AND ($2 = '' OR p.network_id::text = $2) AND ($3 = '' OR p.device_id = $3) AND ($4 = '' OR p.host = $4)
		AND ($5 = '' OR p.device_owner = $5)
		ORDER BY p.created_at, p.id`, f.ProjectID, f.NetworkID, f.DeviceID, f.Host, f.DeviceOwner)
	ps, err := pgx.CollectRows(rows, scanPort)
	return ps, mapErr(err)
}

// DeletePort removes a port (its addresses and group memberships with it)
// and unmaps the floating IPs that pointed at it.
func (s *Store) DeletePort(ctx context.Context, id string) error {
	if _, err := s.db.Exec(ctx, `UPDATE floating_ips SET port_id = NULL, fixed_ip_address = NULL, router_id = NULL,
		revision_number = revision_number + 1, updated_at = now() WHERE port_id = $1`, id); err != nil {
		return mapErr(err)
	}
	return affected(s.db.Exec(ctx, `DELETE FROM ports WHERE id = $1`, id))
}

// CountPorts counts a project's ports (the port quota).
func (s *Store) CountPorts(ctx context.Context, projectID string) (int, error) {
	return s.count(ctx, `SELECT count(*) FROM ports WHERE project_id = $1`, projectID)
}

// NetworkPortsBesides counts the ports on a network not owned by owners
// (Neutron's NetworkInUse).
func (s *Store) NetworkPortsBesides(ctx context.Context, networkID string, owners ...string) (int, error) {
	return s.count(ctx, `SELECT count(*) FROM ports WHERE network_id = $1 AND NOT (device_owner = ANY($2))`,
		networkID, nonNil(owners))
}

// NetworkPortsOwned counts the ports on a network owned by owners.
func (s *Store) NetworkPortsOwned(ctx context.Context, networkID string, owners ...string) (int, error) {
	return s.count(ctx, `SELECT count(*) FROM ports WHERE network_id = $1 AND device_owner = ANY($2)`,
		networkID, nonNil(owners))
}

// InstancePorts lists the ports bound to an instance (device_id the
// instance, owner compute:<zone>).
func (s *Store) InstancePorts(ctx context.Context, instanceID string) ([]model.Port, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+portCols+` FROM ports p WHERE p.device_id = $1 AND p.device_owner LIKE 'compute:%'
		ORDER BY p.created_at, p.id`, instanceID)
	ps, err := pgx.CollectRows(rows, scanPort)
	return ps, mapErr(err)
}

// NICDetail is what an instance's network info shows of one of its ports.
type NICDetail struct {
	NetworkID, NetworkName, MAC string
	MTU                         int
	Groups                      []string          // security group names
	FixedIPs                    []string          // in address order
	Floating                    map[string]string // floating address by fixed address
}

// NICDetails reads the network info of ports in one query, by port id;
// ports that do not exist are left out.
func (s *Store) NICDetails(ctx context.Context, portIDs []string) (map[string]NICDetail, error) {
	rows, _ := s.db.Query(ctx, `SELECT p.id::text, p.network_id::text, n.name, n.mtu, p.mac_address::text,
		ARRAY(SELECT g.name FROM port_security_groups pg JOIN security_groups g ON g.id = pg.group_id
			WHERE pg.port_id = p.id ORDER BY pg.group_id),
		ARRAY(SELECT host(i.ip_address) FROM port_ips i WHERE i.port_id = p.id ORDER BY i.ip_address),
		ARRAY(SELECT host(f.fixed_ip_address) || ' ' || host(f.floating_ip_address) FROM floating_ips f
			WHERE f.port_id = p.id AND f.fixed_ip_address IS NOT NULL ORDER BY f.floating_ip_address)
		FROM ports p JOIN networks n ON n.id = p.network_id WHERE p.id::text = ANY($1)`, nonNil(portIDs))
	out := map[string]NICDetail{}
	var id string
	var d NICDetail
	var floating []string
	_, err := pgx.ForEachRow(rows, []any{&id, &d.NetworkID, &d.NetworkName, &d.MTU, &d.MAC, &d.Groups, &d.FixedIPs, &floating}, func() error {
		d.Floating = map[string]string{}
		for _, f := range floating {
			if fixed, fl, ok := strings.Cut(f, " "); ok {
				d.Floating[fixed] = fl
			}
		}
		out[id] = d
		d = NICDetail{}
		return nil
	})
	return out, mapErr(err)
}

// PortFloatingIPs returns the floating addresses mapped to a port, by
// fixed address.
func (s *Store) PortFloatingIPs(ctx context.Context, portID string) (map[string]string, error) {
	rows, _ := s.db.Query(ctx, `SELECT host(fixed_ip_address), host(floating_ip_address) FROM floating_ips
		WHERE port_id = $1 ORDER BY floating_ip_address`, portID)
	out := map[string]string{}
	var fixed, floating string
	_, err := pgx.ForEachRow(rows, []any{&fixed, &floating}, func() error {
		out[fixed] = floating
		return nil
	})
	return out, mapErr(err)
}

// SetInstanceNICs writes an instance's network info cache (and so its
// updated_at: what the server shows changed).
func (s *Store) SetInstanceNICs(ctx context.Context, instanceID string, nics []model.NIC) error {
	b, _ := json.Marshal(nonNil(nics))
	_, err := s.db.Exec(ctx, `UPDATE instances SET network_info = $2, updated_at = clock_timestamp() WHERE id = $1`, instanceID, b)
	return mapErr(err)
}

// ReleaseInstancePorts is what a deleted instance does to its ports, as
// Nova: those it made are deleted (their floating IPs unmapped first),
// those the user gave are unbound and stay.
func (s *Store) ReleaseInstancePorts(ctx context.Context, instanceID string) error {
	_, err := s.db.Exec(ctx, `WITH made AS (
			SELECT (n->>'port_id')::uuid AS id FROM instances i, jsonb_array_elements(i.network_info) n
			WHERE i.id = $1::uuid AND (n->>'created')::boolean)
		UPDATE floating_ips SET port_id = NULL, fixed_ip_address = NULL, router_id = NULL,
			revision_number = revision_number + 1, updated_at = now()
		WHERE port_id IN (SELECT id FROM made)`, instanceID)
	if err == nil {
		_, err = s.db.Exec(ctx, `DELETE FROM ports WHERE id IN (
			SELECT (n->>'port_id')::uuid FROM instances i, jsonb_array_elements(i.network_info) n
			WHERE i.id = $1::uuid AND (n->>'created')::boolean)`, instanceID)
	}
	if err == nil {
		_, err = s.db.Exec(ctx, `UPDATE ports SET device_id = '', device_owner = '', host = '',
			revision_number = revision_number + 1, updated_at = now()
			WHERE device_id = $1 AND device_owner LIKE 'compute:%'`, instanceID)
	}
	return mapErr(err)
}

// SetPortStatuses marks the instance ports a host applied ACTIVE and
// those no host carries (neither active nor pending) DOWN.
func (s *Store) SetPortStatuses(ctx context.Context, active, pending []string) error {
	if _, err := s.db.Exec(ctx, `UPDATE ports SET status = 'ACTIVE', updated_at = now()
		WHERE id = ANY($1::uuid[]) AND status <> 'ACTIVE'`, nonNil(active)); err != nil {
		return mapErr(err)
	}
	_, err := s.db.Exec(ctx, `UPDATE ports SET status = 'DOWN', updated_at = now()
		WHERE device_owner LIKE 'compute:%' AND status <> 'DOWN' AND NOT (id = ANY($1::uuid[]))`,
		append(nonNil(active), pending...))
	return mapErr(err)
}
