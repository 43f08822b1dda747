package network

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// PortInput is a port's create or update body.
type PortInput struct {
	Name           *string              `json:"name"`
	Description    *string              `json:"description"`
	NetworkID      *string              `json:"network_id"`
	AdminStateUp   *bool                `json:"admin_state_up"`
	MACAddress     *string              `json:"mac_address"`
	FixedIPs       *[]FixedIPInput      `json:"fixed_ips"`
	DeviceID       *string              `json:"device_id"`
	DeviceOwner    *string              `json:"device_owner"`
	SecurityGroups *[]string            `json:"security_groups"`
	PortSecurity   *bool                `json:"port_security_enabled"`
	AddressPairs   *[]model.AddressPair `json:"allowed_address_pairs"`
	HostID         *string              `json:"binding:host_id"`
	VNICType       *string              `json:"binding:vnic_type"`
	Profile        map[string]any       `json:"binding:profile"`
	ProjectID      string               `json:"project_id"`
	TenantID       string               `json:"tenant_id"`
}

// FixedIPInput asks for an address: on a subnet, a given one, or both.
type FixedIPInput struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

// CreatePort makes a port on a network the caller owns or that is shared.
func (s *Service) CreatePort(ctx context.Context, caller *model.Token, in PortInput) (model.Port, error) {
	if in.NetworkID == nil {
		return model.Port{}, badRequest("Invalid input for operation: network_id is required.")
	}
	n, err := s.visibleNetwork(ctx, caller, *in.NetworkID)
	if err != nil {
		return model.Port{}, err
	}
	project, err := ownerOf(caller, firstNonEmpty(in.ProjectID, in.TenantID))
	if err != nil {
		return model.Port{}, err
	}
	if err := check(caller, policy.CreatePort, project); err != nil {
		return model.Port{}, err
	}
	// A project may put ports on its own networks and shared ones; an
	// external network is the admin's (floating IPs and gateways use it).
	if !n.Shared && !policy.Allowed(caller, policy.CreatePort, policy.Target{ProjectID: n.ProjectID}) {
		return model.Port{}, forbidden(policy.CreatePort)
	}
	p := model.Port{ID: uuid.NewString(), NetworkID: n.ID, ProjectID: project, AdminStateUp: true, Status: model.PortDown,
		PortSecurity: n.PortSecurity, AddressPairs: []model.AddressPair{}}
	if err := s.applyPort(caller, &p, in, true); err != nil {
		return model.Port{}, err
	}
	return s.createPort(ctx, s.store, p, in.FixedIPs, in.SecurityGroups == nil)
}

// createPort stores a port made by the API or by Nimbus itself (an
// instance's, a router's), with its addresses and, when defaultGroup, the
// project's default security group. It runs inside st's transaction when
// st is one (an instance's launch), in its own otherwise. Locks are taken
// project (quota) first, network second, as everywhere.
func (s *Service) createPort(ctx context.Context, st *store.Store, p model.Port, ips *[]FixedIPInput, defaultGroup bool) (model.Port, error) {
	return s.makePort(ctx, st, p, ips, defaultGroup, true)
}

// makePort is createPort; countQuota false leaves the port quota to the
// caller (a launch counts its ports with its instances, under the
// project lock it takes last).
func (s *Service) makePort(ctx context.Context, st *store.Store, p model.Port, ips *[]FixedIPInput, defaultGroup, countQuota bool) (model.Port, error) {
	err := st.Tx(ctx, func(tx *store.Store) error {
		if p.ProjectID != "" && countQuota {
			if err := quota(ctx, tx, p.ProjectID, "port", 1, tx.CountPorts); err != nil {
				return err
			}
		}
		// Shared: other ports may be made on the network meanwhile; its
		// deletion waits.
		if _, err := tx.ShareNetwork(ctx, p.NetworkID); err != nil {
			return orNotFound(err, notFound("Network", p.NetworkID))
		}
		// A drawn MAC is not looked up first: the unique index refuses
		// the rare one in use, and another is drawn (one query less for
		// each of a burst of launches).
		generated := p.MACAddress == ""
		if generated {
			p.MACAddress = randomMAC()
		}
		checked := false
		if defaultGroup && p.PortSecurity && !strings.HasPrefix(p.DeviceOwner, "network:") && p.ProjectID != "" {
			id, err := s.defaultGroupID(ctx, tx, p.ProjectID)
			if err != nil {
				return err
			}
			p.SecurityGroups, checked = []string{id}, true
		}
		if !checked {
			if err := s.checkGroups(ctx, tx, p); err != nil {
				return err
			}
		}
		// An address another request took meanwhile (both drew it before
		// either committed) is drawn again, in a savepoint.
		random := !strings.HasPrefix(p.DeviceOwner, "network:")
		for attempt := 0; ; attempt++ {
			err := tx.Savepoint(ctx, func(sp *store.Store) error {
				fixed, err := s.addresses(ctx, sp, p.NetworkID, ips, nil, random)
				if err != nil {
					return err
				}
				p.FixedIPs = fixed
				return sp.CreatePort(ctx, p)
			})
			switch {
			case store.Violated(err, "ports_network_id_mac_address_key"):
				if !generated || attempt >= 8 {
					return conflict("MacAddressInUse", "Unable to complete operation for network %s. The mac address %s is in use.", p.NetworkID, p.MACAddress)
				}
				p.MACAddress = randomMAC()
			case store.Violated(err, "port_ips_subnet_id_ip_address_key"):
				if ips != nil || attempt >= 8 {
					return conflict("IpAddressAlreadyAllocated", "IP address already allocated by a concurrent request on network %s", p.NetworkID)
				}
			default:
				return err
			}
		}
	})
	if err != nil {
		return model.Port{}, err
	}
	s.changed(ctx)
	return st.Port(ctx, p.ID)
}

// applyPort copies the body's attributes onto p and checks them.
func (s *Service) applyPort(caller *model.Token, p *model.Port, in PortInput, create bool) error {
	if err := texts(in.Name, in.Description); err != nil {
		return err
	}
	if in.VNICType != nil && *in.VNICType != "normal" {
		return invalidInput("binding:vnic_type '%s' is not supported: only 'normal'.", *in.VNICType)
	}
	set(&p.Name, in.Name)
	set(&p.Description, in.Description)
	set(&p.AdminStateUp, in.AdminStateUp)
	for _, f := range []*string{in.DeviceID, in.DeviceOwner} {
		if f != nil && (len(*f) > 255 || strings.ContainsRune(*f, 0)) {
			return invalidInput("'%s' exceeds maximum length of 255.", *f)
		}
	}
	set(&p.DeviceID, in.DeviceID)
	set(&p.DeviceOwner, in.DeviceOwner)
	if in.HostID != nil {
		if err := check(caller, policy.BindPort, p.ProjectID); err != nil {
			return err
		}
		p.Host = *in.HostID
	}
	if in.MACAddress != nil {
		mac, err := net.ParseMAC(*in.MACAddress)
		if err != nil || len(mac) != 6 || mac[0]&1 == 1 {
			return invalidInput("'%s' is not a valid MAC address.", *in.MACAddress)
		}
		if !create && p.Host != "" && !policy.Allowed(caller, policy.BindPort, policy.Target{}) {
			return conflict("PortBound", "Unable to complete operation on port %s, port is already bound.", p.ID)
		}
		p.MACAddress = mac.String()
	}
	set(&p.PortSecurity, in.PortSecurity)
	if in.AddressPairs != nil {
		pairs := make([]model.AddressPair, 0, len(*in.AddressPairs))
		for _, ap := range *in.AddressPairs {
			if _, err := netip.ParsePrefix(ap.IPAddress); err != nil {
				if _, err := netip.ParseAddr(ap.IPAddress); err != nil {
					return invalidInput("'%s' is not a valid IP address.", ap.IPAddress)
				}
			}
			if ap.MACAddress != "" {
				if _, err := net.ParseMAC(ap.MACAddress); err != nil {
					return invalidInput("'%s' is not a valid MAC address.", ap.MACAddress)
				}
			}
			if slices.Contains(pairs, ap) {
				return badRequest("Request contains duplicate address pair: mac_address %s ip_address %s.", ap.MACAddress, ap.IPAddress)
			}
			pairs = append(pairs, ap)
		}
		p.AddressPairs = pairs
	}
	if in.SecurityGroups != nil {
		p.SecurityGroups = slices.Compact(slices.Sorted(slices.Values(*in.SecurityGroups)))
	}
	if !p.PortSecurity {
		if len(p.AddressPairs) > 0 {
			return conflict("AddressPairAndPortSecurityRequired", "Port Security must be enabled in order to have allowed address pairs on a port.")
		}
		if len(p.SecurityGroups) > 0 {
			if in.SecurityGroups != nil {
				return &Error{Type: "PortSecurityAndIPRequiredForSecurityGroups", Err: fault.Invalid("security_groups",
					"Port security must be enabled and port must have an IP address in order to use security groups.")}
			}
			return conflict("PortSecurityPortHasSecurityGroup", "Port has security group associated. Cannot disable port security or ip address until security group is removed")
		}
	}
	return nil
}

// checkGroups: every group of the port exists and is the port's project's.
func (s *Service) checkGroups(ctx context.Context, tx *store.Store, p model.Port) error {
	if len(p.SecurityGroups) == 0 {
		return nil
	}
	owners, err := tx.GroupOwners(ctx, p.SecurityGroups)
	if err != nil {
		return err
	}
	for _, id := range p.SecurityGroups {
		if owner, ok := owners[id]; !ok || (owner != p.ProjectID && p.ProjectID != "") {
			return notFound("SecurityGroup", id)
		}
	}
	return nil
}

// addresses resolves asked fixed IPs into addresses on the network's
// subnets (nil: one address from the first IPv4 and the first IPv6 subnet
// with room). keep are the port's current addresses, which an update may
// name again without them being "in use".
func (s *Service) addresses(ctx context.Context, tx *store.Store, networkID string, asked *[]FixedIPInput, keep []model.FixedIP, random bool) ([]model.FixedIP, error) {
	subnets, err := tx.NetworkSubnets(ctx, networkID)
	if err != nil {
		return nil, err
	}
	out := []model.FixedIP{}
	if asked == nil {
		for _, version := range []int{4, 6} {
			var lastErr error
			for _, sn := range subnets {
				if sn.IPVersion != version {
					continue
				}
				ip, err := s.allocate(ctx, tx, sn.ID, "", random)
				if err == nil {
					out = append(out, model.FixedIP{SubnetID: sn.ID, IPAddress: ip})
					lastErr = nil
					break
				}
				lastErr = err
			}
			if lastErr != nil {
				return nil, lastErr
			}
		}
		return out, nil
	}
	for _, f := range *asked {
		subnetID := f.SubnetID
		if subnetID == "" && f.IPAddress == "" {
			return nil, badRequest("Invalid input for fixed_ips: each needs a subnet_id or an ip_address.")
		}
		if subnetID == "" {
			a, err := netip.ParseAddr(f.IPAddress)
			if err != nil {
				return nil, invalidInput("'%s' is not a valid IP address.", f.IPAddress)
			}
			for _, sn := range subnets {
				if netip.MustParsePrefix(sn.CIDR).Contains(a) {
					subnetID = sn.ID
				}
			}
			if subnetID == "" {
				return nil, invalidInput("IP address %s is not a valid IP for any of the subnets on the specified network.", f.IPAddress)
			}
		} else if !slices.ContainsFunc(subnets, func(sn model.Subnet) bool { return sn.ID == subnetID }) {
			if _, err := tx.Subnet(ctx, subnetID); err != nil {
				return nil, orNotFound(err, notFound("Subnet", subnetID))
			}
			return nil, invalidInput("Failed to create port on network %s, because fixed_ips included invalid subnet %s.", networkID, subnetID)
		}
		kept := slices.IndexFunc(keep, func(k model.FixedIP) bool {
			return k.SubnetID == subnetID && (f.IPAddress == "" || k.IPAddress == canonicalIP(f.IPAddress))
		})
		if kept >= 0 {
			out = append(out, keep[kept])
			keep = slices.Delete(slices.Clone(keep), kept, kept+1)
			continue
		}
		ip, err := s.allocate(ctx, tx, subnetID, f.IPAddress, random)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, model.FixedIP{SubnetID: subnetID, IPAddress: ip}) {
			return nil, conflict("IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s", ip, subnetID)
		}
		out = append(out, model.FixedIP{SubnetID: subnetID, IPAddress: ip})
	}
	return out, nil
}

func canonicalIP(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}

// visiblePort is a port the caller may see: its project's, or on its
// project's network; an admin any.
func (s *Service) visiblePort(ctx context.Context, caller *model.Token, id string) (model.Port, error) {
	p, err := s.store.Port(ctx, id)
	if err == nil && !policy.Allowed(caller, policy.GetPort, policy.Target{ProjectID: p.ProjectID}) {
		n, nerr := s.store.Network(ctx, p.NetworkID)
		if nerr != nil || !policy.Allowed(caller, policy.GetPort, policy.Target{ProjectID: n.ProjectID}) {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		return model.Port{}, orNotFound(err, notFound("Port", id))
	}
	return p, nil
}

// Port returns a port the caller may see.
func (s *Service) Port(ctx context.Context, caller *model.Token, id string) (model.Port, error) {
	return s.visiblePort(ctx, caller, id)
}

// Ports lists the ports the caller sees, narrowed by network and device.
func (s *Service) Ports(ctx context.Context, caller *model.Token, f store.PortFilter) ([]model.Port, error) {
	if err := check(caller, policy.GetPort, caller.ProjectID); err != nil {
		return nil, err
	}
	f.ProjectID = visibleProject(caller)
	return s.store.Ports(ctx, f)
}

// ShowsBinding reports whether the caller sees a port's binding.
func ShowsBinding(caller *model.Token) bool {
	return policy.Allowed(caller, policy.BindPort, policy.Target{})
}

// UpdatePort changes a port: its addresses, groups, security and names.
func (s *Service) UpdatePort(ctx context.Context, caller *model.Token, id string, in PortInput) (model.Port, error) {
	p, err := s.visiblePort(ctx, caller, id)
	if err != nil {
		return p, err
	}
	if err := check(caller, policy.UpdatePort, p.ProjectID); err != nil {
		return p, err
	}
	if in.NetworkID != nil || firstNonEmpty(in.ProjectID, in.TenantID) != "" {
		return p, badRequest("Cannot update read-only attribute network_id or project_id")
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockPort(ctx, id)
		if err != nil {
			return err
		}
		p = cur
		if err := s.applyPort(caller, &p, in, false); err != nil {
			return err
		}
		if err := s.checkGroups(ctx, tx, p); err != nil {
			return err
		}
		if in.FixedIPs != nil {
			if _, err := tx.LockNetwork(ctx, p.NetworkID); err != nil {
				return err
			}
			// The old addresses are given back first so the same ones may
			// be asked for again.
			if err := tx.SetPortIPs(ctx, id, nil); err != nil {
				return err
			}
			fixed, err := s.addresses(ctx, tx, p.NetworkID, in.FixedIPs, cur.FixedIPs, !strings.HasPrefix(p.DeviceOwner, "network:"))
			if err != nil {
				return err
			}
			if err := tx.SetPortIPs(ctx, id, fixed); err != nil {
				return err
			}
		}
		if in.SecurityGroups != nil || in.PortSecurity != nil {
			if err := tx.SetPortGroups(ctx, id, p.SecurityGroups); err != nil {
				return err
			}
		}
		if err := tx.UpdatePort(ctx, p); err != nil {
			return err
		}
		if strings.HasPrefix(cur.DeviceOwner, model.OwnerCompute) && cur.DeviceID != p.DeviceID {
			if err := s.refreshInstance(ctx, tx, cur.DeviceID); err != nil {
				return err
			}
		}
		return s.refreshPorts(ctx, tx, id)
	})
	if err != nil {
		if store.Violated(err, "ports_network_id_mac_address_key") {
			return p, conflict("MacAddressInUse", "Unable to complete operation for network %s. The mac address %s is in use.", p.NetworkID, p.MACAddress)
		}
		return p, orNotFound(err, notFound("Port", id))
	}
	s.changed(ctx)
	return s.store.Port(ctx, id)
}

// DeletePort removes a port; a router's interface goes through the
// router, as Neutron insists.
func (s *Service) DeletePort(ctx context.Context, caller *model.Token, id string) error {
	p, err := s.visiblePort(ctx, caller, id)
	if err != nil {
		return err
	}
	if err := check(caller, policy.DeletePort, p.ProjectID); err != nil {
		return err
	}
	if p.DeviceOwner == model.OwnerRouterInterface || p.DeviceOwner == model.OwnerRouterGateway || p.DeviceOwner == model.OwnerFloatingIP {
		return conflict("ServicePortInUse", "Port %s cannot be deleted directly via the port API: has device owner %s.", id, p.DeviceOwner)
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.DeletePort(ctx, id); err != nil {
			return err
		}
		if strings.HasPrefix(p.DeviceOwner, model.OwnerCompute) {
			return s.refreshInstance(ctx, tx, p.DeviceID)
		}
		return nil
	})
	if err != nil {
		return orNotFound(err, notFound("Port", id))
	}
	s.changed(ctx)
	return nil
}
