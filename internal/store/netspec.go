package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

// Queries the hosts' datapath documents are built from (network.HostDocument).

// BoundPort is a port with where it runs and whose it is.
type BoundPort struct {
	model.Port
	// Host runs the port: its instance's host, or its own binding.
	Host string
	// InstanceName names the instance the port belongs to ("" for none).
	InstanceName string
}

// BoundPorts lists the ports that run somewhere: instances' ports (on
// their instance's host, while it has one and is not deleted) and ports
// an admin bound to a host. host "" gives every host's.
func (s *Store) BoundPorts(ctx context.Context, host string) ([]BoundPort, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+portCols+`, coalesce(i.host, p.host), coalesce(i.name, '')
		FROM ports p LEFT JOIN instances i ON p.device_owner LIKE 'compute:%' AND i.id::text = p.device_id
			AND i.deleted_at IS NULL
		WHERE coalesce(i.host, p.host) <> '' AND ($1 = '' OR coalesce(i.host, p.host) = $1)
		ORDER BY p.created_at, p.id`, host)
	ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (BoundPort, error) {
		var b BoundPort
		var pairs, ips []byte
		err := row.Scan(&b.ID, &b.NetworkID, &b.ProjectID, &b.Name, &b.Description, &b.MACAddress, &b.AdminStateUp,
			&b.Status, &b.DeviceID, &b.DeviceOwner, &b.PortSecurity, &pairs, &b.Port.Host, &b.Revision, &b.CreatedAt,
			&b.UpdatedAt, &ips, &b.SecurityGroups, &b.Host, &b.InstanceName)
		if err == nil {
			err = unmarshalPortJSON(&b.Port, pairs, ips)
		}
		return b, err
	})
	return ps, mapErr(err)
}

// NetworksByID reads the given networks.
func (s *Store) NetworksByID(ctx context.Context, ids []string) ([]model.Network, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+networkCols+` FROM networks n WHERE n.id = ANY($1::uuid[]) ORDER BY n.id`, nonNil(ids))
	ns, err := pgx.CollectRows(rows, scanNetwork)
	return ns, mapErr(err)
}

// ServicePorts lists the ports of the network services (DHCP servers,
// router interfaces and gateways), which run on the network node.
func (s *Store) ServicePorts(ctx context.Context) ([]model.Port, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+portCols+` FROM ports p WHERE p.device_owner = ANY($1) ORDER BY p.created_at, p.id`,
		[]string{model.OwnerDHCP, model.OwnerRouterInterface, model.OwnerRouterGateway})
	ps, err := pgx.CollectRows(rows, scanPort)
	return ps, mapErr(err)
}

// AllSubnets lists every subnet.
func (s *Store) AllSubnets(ctx context.Context) ([]model.Subnet, error) {
	return s.Subnets(ctx, "")
}

// MappedFloatingIPs lists the floating IPs mapped to a port.
func (s *Store) MappedFloatingIPs(ctx context.Context) ([]model.FloatingIP, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+floatingCols+` FROM floating_ips f WHERE f.port_id IS NOT NULL ORDER BY f.id`)
	fs, err := pgx.CollectRows(rows, scanFloating)
	return fs, mapErr(err)
}

// GroupsByID reads security groups with their rules.
func (s *Store) GroupsByID(ctx context.Context, ids []string) ([]model.SecurityGroup, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+groupCols+` FROM security_groups g WHERE g.id::text = ANY($1)
		ORDER BY g.created_at, g.id`, nonNil(ids))
	groups, err := pgx.CollectRows(rows, scanGroup)
	if err != nil {
		return nil, mapErr(err)
	}
	rules, err := s.groupRules(ctx, "", nonNil(ids))
	if err != nil {
		return nil, err
	}
	byGroup := map[string][]model.SecurityGroupRule{}
	for _, r := range rules {
		byGroup[r.GroupID] = append(byGroup[r.GroupID], r)
	}
	for i := range groups {
		groups[i].Rules = byGroup[groups[i].ID]
		if groups[i].Rules == nil {
			groups[i].Rules = []model.SecurityGroupRule{}
		}
	}
	return groups, nil
}

// GroupMemberAddresses returns the fixed and allowed-pair addresses of
// each group's member ports (for remote-group rules).
func (s *Store) GroupMemberAddresses(ctx context.Context, groupIDs []string) (map[string][]string, error) {
	rows, _ := s.db.Query(ctx, `SELECT g.group_id::text, host(pi.ip_address) FROM port_security_groups g
			JOIN port_ips pi ON pi.port_id = g.port_id WHERE g.group_id = ANY($1::uuid[])
		UNION SELECT g.group_id::text, pair->>'ip_address' FROM port_security_groups g JOIN ports p ON p.id = g.port_id,
			jsonb_array_elements(p.allowed_address_pairs) pair WHERE g.group_id = ANY($1::uuid[])
		ORDER BY 1, 2`, nonNil(groupIDs))
	out := map[string][]string{}
	var g, ip string
	_, err := pgx.ForEachRow(rows, []any{&g, &ip}, func() error {
		out[g] = append(out[g], ip)
		return nil
	})
	return out, mapErr(err)
}
