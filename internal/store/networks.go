package store

import (
	"context"
	"encoding/json"
	"net/netip"

	"github.com/jackc/pgx/v5"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

// Networks, subnets and the segments under them (Neutron's model).

const networkCols = `n.id::text, n.project_id, n.name, n.description, n.admin_state_up, n.shared, n.external,
	n.is_default, n.mtu, n.port_security_enabled, n.network_type, coalesce(n.physical_network, ''),
	coalesce(n.segmentation_id, 0), n.revision_number, n.created_at, n.updated_at,
	ARRAY(SELECT s.id::text FROM subnets s WHERE s.network_id = n.id ORDER BY s.created_at, s.id)`

func scanNetwork(row pgx.CollectableRow) (model.Network, error) {
	var n model.Network
	err := row.Scan(&n.ID, &n.ProjectID, &n.Name, &n.Description, &n.AdminStateUp, &n.Shared, &n.External,
		&n.IsDefault, &n.MTU, &n.PortSecurity, &n.NetworkType, &n.PhysicalNetwork, &n.SegmentationID,
		&n.Revision, &n.CreatedAt, &n.UpdatedAt, &n.Subnets)
	return n, err
}

// CreateNetwork inserts a network.
func (s *Store) CreateNetwork(ctx context.Context, n model.Network) error {
	_, err := s.db.Exec(ctx, `INSERT INTO networks (id, project_id, name, description, admin_state_up, shared,
		external, is_default, mtu, port_security_enabled, network_type, physical_network, segmentation_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, nullif($12, ''), nullif($13, 0))`,
		n.ID, n.ProjectID, n.Name, n.Description, n.AdminStateUp, n.Shared, n.External, n.IsDefault, n.MTU,
		n.PortSecurity, n.NetworkType, n.PhysicalNetwork, n.SegmentationID)
	return mapErr(err)
}

// Network returns a network with its subnet ids.
func (s *Store) Network(ctx context.Context, id string) (model.Network, error) {
	if !isUUID(id) {
		return model.Network{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+networkCols+` FROM networks n WHERE n.id = $1`, id)
	n, err := pgx.CollectExactlyOneRow(rows, scanNetwork)
	return n, mapErr(err)
}

// LockNetwork returns a network with its row locked for the rest of the
// transaction, so ports and subnets are added or counted against it one
// request at a time while it is being deleted or changed.
func (s *Store) LockNetwork(ctx context.Context, id string) (model.Network, error) {
	if !isUUID(id) {
		return model.Network{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+networkCols+` FROM networks n WHERE n.id = $1 FOR UPDATE`, id)
	n, err := pgx.CollectExactlyOneRow(rows, scanNetwork)
	return n, mapErr(err)
}

// Networks lists the networks a project sees: its own, the shared ones
// and the external ones (every network for projectID "").
func (s *Store) Networks(ctx context.Context, projectID string) ([]model.Network, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+networkCols+` FROM networks n
		WHERE $1 = '' OR n.project_id = $1 OR n.shared OR n.external ORDER BY n.created_at, n.id`, projectID)
	ns, err := pgx.CollectRows(rows, scanNetwork)
	return ns, mapErr(err)
}

// UpdateNetwork writes a network's changeable attributes.
func (s *Store) UpdateNetwork(ctx context.Context, n model.Network) error {
	return affected(s.db.Exec(ctx, `UPDATE networks SET name = $2, description = $3, admin_state_up = $4,
		shared = $5, external = $6, is_default = $7, mtu = $8, port_security_enabled = $9,
		revision_number = revision_number + 1, updated_at = now() WHERE id = $1`,
		n.ID, n.Name, n.Description, n.AdminStateUp, n.Shared, n.External, n.IsDefault, n.MTU, n.PortSecurity))
}

// DeleteNetwork removes a network, its subnets and the ports it owns
// itself (DHCP); any other port makes it a conflict, which the caller
// checked under the network's lock.
func (s *Store) DeleteNetwork(ctx context.Context, id string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM ports WHERE network_id = $1 AND device_owner = $2`, id, model.OwnerDHCP); err != nil {
		return mapErr(err)
	}
	if _, err := s.db.Exec(ctx, `DELETE FROM subnets WHERE network_id = $1`, id); err != nil {
		return mapErr(err)
	}
	return affected(s.db.Exec(ctx, `DELETE FROM networks WHERE id = $1`, id))
}

// UsedSegments returns the segmentation ids of a type in use (on a
// physical network, for VLANs), for allocating the next free one.
func (s *Store) UsedSegments(ctx context.Context, networkType, physnet string) ([]int, error) {
	rows, _ := s.db.Query(ctx, `SELECT segmentation_id FROM networks
		WHERE network_type = $1 AND coalesce(physical_network, '') = $2 AND segmentation_id IS NOT NULL
		ORDER BY segmentation_id`, networkType, physnet)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	return ids, mapErr(err)
}

// CountNetworks counts a project's networks (the network quota).
func (s *Store) CountNetworks(ctx context.Context, projectID string) (int, error) {
	return s.count(ctx, `SELECT count(*) FROM networks WHERE project_id = $1`, projectID)
}

func (s *Store) count(ctx context.Context, sql string, args ...any) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, sql, args...).Scan(&n)
	return n, mapErr(err)
}

const subnetCols = `s.id::text, s.network_id::text, s.project_id, s.name, s.description, s.ip_version,
	s.cidr::text, coalesce(host(s.gateway_ip), ''), s.enable_dhcp, s.allocation_pools, s.dns_nameservers,
	s.host_routes, s.revision_number, s.created_at, s.updated_at`

func scanSubnet(row pgx.CollectableRow) (model.Subnet, error) {
	var sn model.Subnet
	var pools, routes []byte
	err := row.Scan(&sn.ID, &sn.NetworkID, &sn.ProjectID, &sn.Name, &sn.Description, &sn.IPVersion, &sn.CIDR,
		&sn.GatewayIP, &sn.EnableDHCP, &pools, &sn.DNS, &routes, &sn.Revision, &sn.CreatedAt, &sn.UpdatedAt)
	if err == nil {
		err = json.Unmarshal(pools, &sn.Pools)
	}
	if err == nil {
		err = json.Unmarshal(routes, &sn.HostRoutes)
	}
	return sn, err
}

// CreateSubnet inserts a subnet.
func (s *Store) CreateSubnet(ctx context.Context, sn model.Subnet) error {
	pools, routes := jsonOf(sn.Pools), jsonOf(sn.HostRoutes)
	_, err := s.db.Exec(ctx, `INSERT INTO subnets (id, network_id, project_id, name, description, ip_version, cidr,
		gateway_ip, enable_dhcp, allocation_pools, dns_nameservers, host_routes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, '')::inet, $9, $10, $11, $12)`,
		sn.ID, sn.NetworkID, sn.ProjectID, sn.Name, sn.Description, sn.IPVersion, sn.CIDR, sn.GatewayIP,
		sn.EnableDHCP, pools, nonNil(sn.DNS), routes)
	return mapErr(err)
}

// UpdateSubnet writes a subnet's changeable attributes.
func (s *Store) UpdateSubnet(ctx context.Context, sn model.Subnet) error {
	return affected(s.db.Exec(ctx, `UPDATE subnets SET name = $2, description = $3, gateway_ip = nullif($4, '')::inet,
		enable_dhcp = $5, allocation_pools = $6, dns_nameservers = $7, host_routes = $8,
		revision_number = revision_number + 1, updated_at = now() WHERE id = $1`,
		sn.ID, sn.Name, sn.Description, sn.GatewayIP, sn.EnableDHCP, jsonOf(sn.Pools), nonNil(sn.DNS), jsonOf(sn.HostRoutes)))
}

// Subnet returns a subnet.
func (s *Store) Subnet(ctx context.Context, id string) (model.Subnet, error) {
	if !isUUID(id) {
		return model.Subnet{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+subnetCols+` FROM subnets s WHERE s.id = $1`, id)
	sn, err := pgx.CollectExactlyOneRow(rows, scanSubnet)
	return sn, mapErr(err)
}

// Subnets lists the subnets on the networks a project sees (every
// subnet for projectID ""), oldest first.
func (s *Store) Subnets(ctx context.Context, projectID string) ([]model.Subnet, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+subnetCols+` FROM subnets s JOIN networks n ON n.id = s.network_id
		WHERE $1 = '' OR s.project_id = $1 OR n.project_id = $1 OR n.shared
		ORDER BY s.created_at, s.id`, projectID)
	ss, err := pgx.CollectRows(rows, scanSubnet)
	return ss, mapErr(err)
}

// NetworkSubnets lists one network's subnets.
func (s *Store) NetworkSubnets(ctx context.Context, networkID string) ([]model.Subnet, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+subnetCols+` FROM subnets s WHERE s.network_id = $1
		ORDER BY s.created_at, s.id`, networkID)
	ss, err := pgx.CollectRows(rows, scanSubnet)
	return ss, mapErr(err)
}

// DeleteSubnet removes a subnet and the DHCP server's address on it.
func (s *Store) DeleteSubnet(ctx context.Context, id string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM port_ips pi USING ports p
		WHERE pi.port_id = p.id AND pi.subnet_id = $1 AND p.device_owner = $2`, id, model.OwnerDHCP); err != nil {
		return mapErr(err)
	}
	return affected(s.db.Exec(ctx, `DELETE FROM subnets WHERE id = $1`, id))
}

// CountSubnets counts a project's subnets (the subnet quota).
func (s *Store) CountSubnets(ctx context.Context, projectID string) (int, error) {
	return s.count(ctx, `SELECT count(*) FROM subnets WHERE project_id = $1`, projectID)
}

// SubnetUsedIPs returns the addresses taken on a subnet, sorted.
func (s *Store) SubnetUsedIPs(ctx context.Context, subnetID string) ([]netip.Addr, error) {
	rows, _ := s.db.Query(ctx, `SELECT host(ip_address) FROM port_ips WHERE subnet_id = $1 ORDER BY ip_address`, subnetID)
	ips, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (netip.Addr, error) {
		var t string
		if err := row.Scan(&t); err != nil {
			return netip.Addr{}, err
		}
		return netip.ParseAddr(t)
	})
	return ips, mapErr(err)
}

// SubnetPortsBesides counts the ports with an address on a subnet other
// than those owned by the given device owners (Neutron's SubnetInUse).
func (s *Store) SubnetPortsBesides(ctx context.Context, subnetID string, owners ...string) (int, error) {
	return s.count(ctx, `SELECT count(DISTINCT p.id) FROM port_ips pi JOIN ports p ON p.id = pi.port_id
		WHERE pi.subnet_id = $1 AND NOT (p.device_owner = ANY($2))`, subnetID, nonNil(owners))
}

func jsonOf(v any) []byte {
	b, _ := json.Marshal(v)
	if string(b) == "null" {
		return []byte("[]")
	}
	return b
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// LockSubnet returns a subnet with its row locked for the transaction:
// addresses on it are handed out one request at a time.
func (s *Store) LockSubnet(ctx context.Context, id string) (model.Subnet, error) {
	if !isUUID(id) {
		return model.Subnet{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+subnetCols+` FROM subnets s WHERE s.id = $1 FOR UPDATE`, id)
	sn, err := pgx.CollectExactlyOneRow(rows, scanSubnet)
	return sn, mapErr(err)
}

// ShareNetwork locks a network against deletion and change for the rest
// of the transaction, letting other requests add ports to it meanwhile.
func (s *Store) ShareNetwork(ctx context.Context, id string) (model.Network, error) {
	if !isUUID(id) {
		return model.Network{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+networkCols+` FROM networks n WHERE n.id = $1 FOR SHARE`, id)
	n, err := pgx.CollectExactlyOneRow(rows, scanNetwork)
	return n, mapErr(err)
}
