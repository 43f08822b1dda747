package network

import (
	"context"
	"net/netip"
	"slices"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// SubnetInput is a subnet's create or update body. GatewayIP is set to
// "null" when the body asked for no gateway.
type SubnetInput struct {
	Name        *string                 `json:"name"`
	Description *string                 `json:"description"`
	NetworkID   *string                 `json:"network_id"`
	IPVersion   *int                    `json:"ip_version"`
	CIDR        *string                 `json:"cidr"`
	GatewayIP   nullable                `json:"gateway_ip"`
	EnableDHCP  *bool                   `json:"enable_dhcp"`
	Pools       *[]model.AllocationPool `json:"allocation_pools"`
	DNS         *[]string               `json:"dns_nameservers"`
	HostRoutes  *[]model.HostRoute      `json:"host_routes"`
	ProjectID   string                  `json:"project_id"`
	TenantID    string                  `json:"tenant_id"`
	// Accepted as Neutron's defaults only.
	IPv6RAMode      *string `json:"ipv6_ra_mode"`
	IPv6AddressMode *string `json:"ipv6_address_mode"`
	SubnetPoolID    *string `json:"subnetpool_id"`
}

// GatewayOf is a subnet's gateway_ip as the portal asks for it.
func GatewayOf(ip string) nullable { return nullable{Set: true, Valid: true, S: ip} }

// PortOf is a floating IP's port_id as the portal asks for it ("": null,
// unmapped).
func PortOf(id string) nullable { return nullable{Set: true, Valid: id != "", S: id} }

// nullable is a string field that may be given as JSON null: Set when
// the body had it at all, Valid when not null. (A *string cannot tell
// null from absent: encoding/json leaves a pointer nil for both, which
// made {"port_id": null} not unmap a floating IP — tempest's
// test_floating_ips.)
type nullable struct {
	Set, Valid bool
	S          string
}

func (n *nullable) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = nullable{Set: true}
		return nil
	}
	n.Set, n.Valid = true, true
	return jsonUnmarshal(b, &n.S)
}

// CreateSubnet adds a subnet to a network the caller owns (an admin: any),
// with its DHCP server's address when DHCP is on.
func (s *Service) CreateSubnet(ctx context.Context, caller *model.Token, in SubnetInput) (model.Subnet, error) {
	if in.NetworkID == nil || in.CIDR == nil {
		return model.Subnet{}, badRequest("Invalid input for operation: network_id and cidr are required.")
	}
	if in.SubnetPoolID != nil && *in.SubnetPoolID != "" {
		return model.Subnet{}, badRequest("Subnet pools are not supported: give a cidr.")
	}
	if err := texts(in.Name, in.Description); err != nil {
		return model.Subnet{}, err
	}
	n, err := s.visibleNetwork(ctx, caller, *in.NetworkID)
	if err != nil {
		return model.Subnet{}, err
	}
	if err := check(caller, policy.CreateSubnet, n.ProjectID); err != nil {
		return model.Subnet{}, err
	}
	project := n.ProjectID
	if p := firstNonEmpty(in.ProjectID, in.TenantID); p != "" {
		if project, err = ownerOf(caller, p); err != nil {
			return model.Subnet{}, err
		}
	}
	version := 4
	set(&version, in.IPVersion)
	if version != 4 && version != 6 {
		return model.Subnet{}, invalidInput("%d is not in [4, 6].", version)
	}
	prefix, err := parseCIDR(*in.CIDR, version)
	if err != nil {
		return model.Subnet{}, err
	}
	sn := model.Subnet{ID: uuid.NewString(), NetworkID: n.ID, ProjectID: project, IPVersion: version,
		CIDR: prefix.String(), EnableDHCP: true, DNS: []string{}, HostRoutes: []model.HostRoute{}}
	set(&sn.Name, in.Name)
	set(&sn.Description, in.Description)
	set(&sn.EnableDHCP, in.EnableDHCP)
	gw := prefix.Addr().Next()
	if in.GatewayIP.Set {
		gw = netip.Addr{}
		if in.GatewayIP.Valid {
			if gw, err = s.checkGateway(prefix, in.GatewayIP.S); err != nil {
				return model.Subnet{}, err
			}
		}
	}
	if gw.IsValid() {
		sn.GatewayIP = gw.String()
	}
	sn.Pools = defaultPools(prefix, gw)
	if in.Pools != nil {
		if err := checkPools(prefix, gw, *in.Pools); err != nil {
			return model.Subnet{}, err
		}
		sn.Pools = *in.Pools
	}
	if err := applyDNSAndRoutes(&sn, prefix, in); err != nil {
		return model.Subnet{}, err
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := tx.LockNetwork(ctx, n.ID); err != nil {
			return err
		}
		if err := quota(ctx, tx, project, "subnet", 1, tx.CountSubnets); err != nil {
			return err
		}
		others, err := tx.NetworkSubnets(ctx, n.ID)
		if err != nil {
			return err
		}
		for _, o := range others {
			if overlaps(netip.MustParsePrefix(o.CIDR), prefix) {
				return invalidInput("Requested subnet with cidr: %s for network: %s overlaps with another subnet.", prefix, n.ID)
			}
		}
		if err := tx.CreateSubnet(ctx, sn); err != nil {
			return err
		}
		if sn.EnableDHCP {
			return s.giveDHCPAddress(ctx, tx, n, sn)
		}
		return nil
	})
	if err != nil {
		return model.Subnet{}, orNotFound(err, notFound("Network", n.ID))
	}
	s.changed(ctx)
	return s.store.Subnet(ctx, sn.ID)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// checkGateway reads an asked gateway: an address on the subnet that is
// neither its network nor its broadcast address.
func (s *Service) checkGateway(prefix netip.Prefix, asked string) (netip.Addr, error) {
	gw, err := netip.ParseAddr(asked)
	if err != nil {
		return gw, invalidInput("'%s' is not a valid IP address.", asked)
	}
	if !usable(prefix, gw) {
		return gw, badRequest("Invalid input for operation: Gateway is not valid on subnet.")
	}
	return gw, nil
}

// applyDNSAndRoutes checks and sets the DNS servers and host routes.
func applyDNSAndRoutes(sn *model.Subnet, prefix netip.Prefix, in SubnetInput) error {
	if in.DNS != nil {
		seen := map[string]bool{}
		for _, d := range *in.DNS {
			a, err := netip.ParseAddr(d)
			if err != nil {
				return invalidInput("'%s' is not a valid nameserver.", d)
			}
			if seen[a.String()] {
				return invalidInput("Duplicate nameserver '%s'.", d)
			}
			seen[a.String()] = true
		}
		if len(*in.DNS) > 5 {
			return badRequest("Number of DNS nameservers exceeds the limit 5.")
		}
		sn.DNS = slices.Clone(*in.DNS)
	}
	if in.HostRoutes != nil {
		for _, r := range *in.HostRoutes {
			d, err1 := netip.ParsePrefix(r.Destination)
			h, err2 := netip.ParseAddr(r.NextHop)
			if err1 != nil || err2 != nil || d.Masked() != d || d.Addr().Is4() != prefix.Addr().Is4() || h.Is4() != prefix.Addr().Is4() {
				return invalidInput("Invalid data format for hostroute: '%s via %s'.", r.Destination, r.NextHop)
			}
		}
		if len(*in.HostRoutes) > 20 {
			return badRequest("Number of host routes exceeds the limit 20.")
		}
		sn.HostRoutes = slices.Clone(*in.HostRoutes)
	}
	return nil
}

// giveDHCPAddress gives the network's DHCP port (made on first need) an
// address on sn, Neutron's DHCP agent's port.
func (s *Service) giveDHCPAddress(ctx context.Context, tx *store.Store, n model.Network, sn model.Subnet) error {
	ports, err := tx.Ports(ctx, store.PortFilter{NetworkID: n.ID})
	if err != nil {
		return err
	}
	var dhcp *model.Port
	for i := range ports {
		if ports[i].DeviceOwner == model.OwnerDHCP {
			dhcp = &ports[i]
			break
		}
	}
	ip, err := s.allocate(ctx, tx, sn.ID, "", false)
	if err != nil {
		return err
	}
	if dhcp != nil {
		return tx.SetPortIPs(ctx, dhcp.ID, append(dhcp.FixedIPs, model.FixedIP{SubnetID: sn.ID, IPAddress: ip}))
	}
	p := model.Port{ID: uuid.NewString(), NetworkID: n.ID, ProjectID: n.ProjectID, MACAddress: randomMAC(),
		AdminStateUp: true, Status: model.PortActive, DeviceID: "dhcp-" + n.ID, DeviceOwner: model.OwnerDHCP,
		PortSecurity: false, FixedIPs: []model.FixedIP{{SubnetID: sn.ID, IPAddress: ip}}}
	return tx.CreatePort(ctx, p)
}

// allocate picks an address on a subnet inside tx: want when given (it
// must be free and on the subnet), else a free one of the pools — the
// lowest, or (random) one drawn from the lowest free ones. Nothing is
// locked: the unique index on port_ips is the arbiter, and createPort
// draws again when another request took the address meanwhile.
func (s *Service) allocate(ctx context.Context, tx *store.Store, subnetID, want string, random bool) (string, error) {
	sn, err := tx.Subnet(ctx, subnetID)
	if err != nil {
		return "", orNotFound(err, notFound("Subnet", subnetID))
	}
	prefix := netip.MustParsePrefix(sn.CIDR)
	used, err := tx.SubnetUsedIPs(ctx, subnetID)
	if err != nil {
		return "", err
	}
	if want != "" {
		a, err := netip.ParseAddr(want)
		if err != nil || !usable(prefix, a) {
			return "", invalidInput("IP address %s is not a valid IP for the specified subnet.", want)
		}
		if slices.Contains(used, a) {
			return "", conflict("IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s", want, subnetID)
		}
		return a.String(), nil
	}
	var gw netip.Addr
	if sn.GatewayIP != "" {
		gw = netip.MustParseAddr(sn.GatewayIP)
	}
	pick := firstFree
	if random {
		pick = randomFree
	}
	a, ok := pick(sn.Pools, used, gw)
	if !ok {
		return "", conflict("IpAddressGenerationFailure", "No more IP addresses available on network %s.", sn.NetworkID)
	}
	return a.String(), nil
}

// visibleSubnet is a subnet on a network the caller sees.
func (s *Service) visibleSubnet(ctx context.Context, caller *model.Token, id string) (model.Subnet, model.Network, error) {
	sn, err := s.store.Subnet(ctx, id)
	if err != nil {
		return sn, model.Network{}, orNotFound(err, notFound("Subnet", id))
	}
	n, err := s.visibleNetwork(ctx, caller, sn.NetworkID)
	if err != nil && !policy.Allowed(caller, policy.GetSubnet, policy.Target{ProjectID: sn.ProjectID}) {
		return sn, n, orNotFound(err, notFound("Subnet", id))
	}
	return sn, n, nil
}

// Subnet returns a subnet the caller may see.
func (s *Service) Subnet(ctx context.Context, caller *model.Token, id string) (model.Subnet, error) {
	sn, _, err := s.visibleSubnet(ctx, caller, id)
	return sn, err
}

// Subnets lists the subnets the caller sees.
func (s *Service) Subnets(ctx context.Context, caller *model.Token) ([]model.Subnet, error) {
	if err := check(caller, policy.GetSubnet, caller.ProjectID); err != nil {
		return nil, err
	}
	return s.store.Subnets(ctx, visibleProject(caller))
}

// UpdateSubnet changes a subnet; its CIDR and version cannot change.
func (s *Service) UpdateSubnet(ctx context.Context, caller *model.Token, id string, in SubnetInput) (model.Subnet, error) {
	sn, n, err := s.visibleSubnet(ctx, caller, id)
	if err != nil {
		return sn, err
	}
	if err := check(caller, policy.UpdateSubnet, sn.ProjectID); err != nil {
		return sn, err
	}
	if in.CIDR != nil || in.IPVersion != nil || in.NetworkID != nil || firstNonEmpty(in.ProjectID, in.TenantID) != "" {
		return sn, badRequest("Cannot update read-only attribute cidr, ip_version, network_id or project_id")
	}
	if err := texts(in.Name, in.Description); err != nil {
		return sn, err
	}
	prefix := netip.MustParsePrefix(sn.CIDR)
	set(&sn.Name, in.Name)
	set(&sn.Description, in.Description)
	set(&sn.EnableDHCP, in.EnableDHCP)
	var gw netip.Addr
	if sn.GatewayIP != "" {
		gw = netip.MustParseAddr(sn.GatewayIP)
	}
	if in.GatewayIP.Set {
		gw = netip.Addr{}
		if in.GatewayIP.Valid {
			if gw, err = s.checkGateway(prefix, in.GatewayIP.S); err != nil {
				return sn, err
			}
		}
		sn.GatewayIP = ""
		if gw.IsValid() {
			sn.GatewayIP = gw.String()
		}
	}
	if in.Pools != nil {
		sn.Pools = *in.Pools
	}
	if in.Pools != nil || in.GatewayIP.Set {
		if err := checkPools(prefix, gw, sn.Pools); err != nil {
			return sn, err
		}
	}
	if err := applyDNSAndRoutes(&sn, prefix, in); err != nil {
		return sn, err
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		old, err := tx.LockSubnet(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.UpdateSubnet(ctx, sn); err != nil {
			return err
		}
		if sn.EnableDHCP && !old.EnableDHCP {
			return s.giveDHCPAddress(ctx, tx, n, sn)
		}
		return nil
	})
	if err != nil {
		return sn, orNotFound(err, notFound("Subnet", id))
	}
	s.changed(ctx)
	return s.store.Subnet(ctx, id)
}

// DeleteSubnet removes a subnet no port but the DHCP server uses.
func (s *Service) DeleteSubnet(ctx context.Context, caller *model.Token, id string) error {
	sn, _, err := s.visibleSubnet(ctx, caller, id)
	if err != nil {
		return err
	}
	if err := check(caller, policy.DeleteSubnet, sn.ProjectID); err != nil {
		return err
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := tx.LockNetwork(ctx, sn.NetworkID); err != nil {
			return err
		}
		busy, err := tx.SubnetPortsBesides(ctx, id, model.OwnerDHCP)
		if err != nil {
			return err
		}
		if busy > 0 {
			return conflict("SubnetInUse", "Unable to complete operation on subnet %s: One or more ports have an IP allocation from this subnet.", id)
		}
		return tx.DeleteSubnet(ctx, id)
	})
	if err != nil {
		return orNotFound(err, notFound("Subnet", id))
	}
	s.changed(ctx)
	return nil
}
