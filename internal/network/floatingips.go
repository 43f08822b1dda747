package network

import (
	"context"
	"errors"
	"net/netip"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// FloatingIPInput is a floating IP's create or update body. PortID is
// Set with Valid false when the body had "port_id": null (disassociate).
type FloatingIPInput struct {
	NetworkID   *string  `json:"floating_network_id"`
	Address     *string  `json:"floating_ip_address"`
	SubnetID    *string  `json:"subnet_id"`
	PortID      nullable `json:"port_id"`
	FixedIP     *string  `json:"fixed_ip_address"`
	Description *string  `json:"description"`
	ProjectID   string   `json:"project_id"`
	TenantID    string   `json:"tenant_id"`
}

// CreateFloatingIP takes an address on an external network, mapped to a
// port at once when one is given.
func (s *Service) CreateFloatingIP(ctx context.Context, caller *model.Token, in FloatingIPInput) (model.FloatingIP, error) {
	if in.NetworkID == nil {
		return model.FloatingIP{}, badRequest("Invalid input for operation: floating_network_id is required.")
	}
	project, err := ownerOf(caller, firstNonEmpty(in.ProjectID, in.TenantID))
	if err != nil {
		return model.FloatingIP{}, err
	}
	if err := check(caller, policy.CreateFloatingIP, project); err != nil {
		return model.FloatingIP{}, err
	}
	if err := texts(nil, in.Description); err != nil {
		return model.FloatingIP{}, err
	}
	if in.Address != nil {
		if err := check(caller, policy.FloatingIPAddress, project); err != nil {
			return model.FloatingIP{}, err
		}
	}
	n, err := s.visibleNetwork(ctx, caller, *in.NetworkID)
	if err != nil {
		return model.FloatingIP{}, err
	}
	if !n.External {
		return model.FloatingIP{}, badRequest("Bad floatingip request: Network %s is not a valid external network.", n.ID)
	}
	f := model.FloatingIP{ID: uuid.NewString(), ProjectID: project, NetworkID: n.ID}
	set(&f.Description, in.Description)
	var ask *[]FixedIPInput
	if in.Address != nil || in.SubnetID != nil {
		a := FixedIPInput{}
		set(&a.IPAddress, in.Address)
		set(&a.SubnetID, in.SubnetID)
		ask = &[]FixedIPInput{a}
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := tx.LockNetwork(ctx, n.ID); err != nil {
			return err
		}
		if err := quota(ctx, tx, project, "floatingip", 1, tx.CountFloatingIPs); err != nil {
			return err
		}
		fixed, err := s.addresses(ctx, tx, n.ID, ask, nil, false)
		if err != nil {
			return err
		}
		var v4 []model.FixedIP
		for _, x := range fixed {
			if netip.MustParseAddr(x.IPAddress).Is4() {
				v4 = append(v4, x)
			}
		}
		if len(v4) == 0 {
			return conflict("IpAddressGenerationFailure", "No more IP addresses available on network %s.", n.ID)
		}
		fp := model.Port{ID: uuid.NewString(), NetworkID: n.ID, MACAddress: randomMAC(), AdminStateUp: true,
			Status: model.PortActive, DeviceID: f.ID, DeviceOwner: model.OwnerFloatingIP, FixedIPs: v4[:1],
			AddressPairs: []model.AddressPair{}}
		if err := tx.CreatePort(ctx, fp); err != nil {
			return err
		}
		f.FloatingPortID, f.Address = fp.ID, v4[0].IPAddress
		if in.PortID.Valid {
			if err := s.mapping(ctx, tx, caller, &f, in.PortID.S, deref(in.FixedIP)); err != nil {
				return err
			}
		}
		if err := tx.CreateFloatingIP(ctx, f); err != nil {
			return err
		}
		return s.refreshPorts(ctx, tx, f.PortID)
	})
	if store.Violated(err, "floating_ips_port_id_fixed_ip_address_key") {
		return f, conflict("FloatingIPPortAlreadyAssociated", "Cannot associate floating IP %s with port %s using fixed IP %s, as that fixed IP already has a floating IP on external network %s.", f.Address, f.PortID, f.FixedIP, f.NetworkID)
	}
	if err != nil {
		return f, orNotFound(err, notFound("Network", n.ID))
	}
	s.changed(ctx)
	return s.store.FloatingIP(ctx, f.ID)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// mapping points f at a port's fixed address through a router that joins
// the port's subnet to f's external network.
func (s *Service) mapping(ctx context.Context, tx *store.Store, caller *model.Token, f *model.FloatingIP, portID, fixedIP string) error {
	p, err := s.visiblePort(ctx, caller, portID)
	if err != nil {
		return err
	}
	if p.ProjectID != f.ProjectID {
		return notFound("Port", portID)
	}
	var fixed model.FixedIP
	for _, x := range p.FixedIPs {
		a := netip.MustParseAddr(x.IPAddress)
		if fixedIP == "" && a.Is4() || fixedIP != "" && a.String() == canonicalIP(fixedIP) {
			fixed = x
			break
		}
	}
	if fixed.IPAddress == "" {
		if fixedIP != "" {
			return badRequest("Bad floatingip request: Port %s does not have fixed ip %s.", portID, fixedIP)
		}
		return badRequest("Bad floatingip request: Port %s does not have any IPv4 address.", portID)
	}
	routers, err := tx.Routers(ctx, "")
	if err != nil {
		return err
	}
	for _, r := range routers {
		if r.GatewayNetID != f.NetworkID {
			continue
		}
		subnets, err := s.routerSubnets(ctx, tx, r)
		if err != nil {
			return err
		}
		for _, sn := range subnets {
			if sn.ID == fixed.SubnetID {
				f.PortID, f.FixedIP, f.RouterID = p.ID, fixed.IPAddress, r.ID
				return nil
			}
		}
	}
	return &Error{Type: "ExternalGatewayForFloatingIPNotFound", Err: fault.NotFound(
		"External network %s is not reachable from subnet %s.  Therefore, cannot associate Port %s with a Floating IP.",
		f.NetworkID, fixed.SubnetID, p.ID)}
}

func (s *Service) visibleFloatingIP(ctx context.Context, caller *model.Token, id string) (model.FloatingIP, error) {
	f, err := s.store.FloatingIP(ctx, id)
	if err == nil && !policy.Allowed(caller, policy.GetFloatingIP, policy.Target{ProjectID: f.ProjectID}) {
		err = store.ErrNotFound
	}
	if err != nil {
		return f, orNotFound(err, notFound("FloatingIP", id))
	}
	return f, nil
}

// FloatingIP returns a floating IP the caller may see.
func (s *Service) FloatingIP(ctx context.Context, caller *model.Token, id string) (model.FloatingIP, error) {
	return s.visibleFloatingIP(ctx, caller, id)
}

// FloatingIPs lists the caller's project's floating IPs (an admin: all).
func (s *Service) FloatingIPs(ctx context.Context, caller *model.Token) ([]model.FloatingIP, error) {
	if err := check(caller, policy.GetFloatingIP, caller.ProjectID); err != nil {
		return nil, err
	}
	return s.store.FloatingIPs(ctx, visibleProject(caller))
}

// UpdateFloatingIP maps a floating IP to a port, or unmaps it (port null).
func (s *Service) UpdateFloatingIP(ctx context.Context, caller *model.Token, id string, in FloatingIPInput) (model.FloatingIP, error) {
	f, err := s.visibleFloatingIP(ctx, caller, id)
	if err != nil {
		return f, err
	}
	if err := check(caller, policy.UpdateFloatingIP, f.ProjectID); err != nil {
		return f, err
	}
	if in.NetworkID != nil || in.Address != nil || in.SubnetID != nil {
		return f, badRequest("Cannot update read-only attribute floating_network_id, floating_ip_address or subnet_id")
	}
	if err := texts(nil, in.Description); err != nil {
		return f, err
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockFloatingIP(ctx, id)
		if err != nil {
			return err
		}
		f = cur
		set(&f.Description, in.Description)
		if in.PortID.Set {
			f.PortID, f.FixedIP, f.RouterID = "", "", ""
			if in.PortID.Valid {
				if err := s.mapping(ctx, tx, caller, &f, in.PortID.S, deref(in.FixedIP)); err != nil {
					return err
				}
			}
		}
		if err := tx.MapFloatingIP(ctx, f.ID, f.PortID, f.FixedIP, f.RouterID, f.Description); err != nil {
			return err
		}
		return s.refreshPorts(ctx, tx, cur.PortID, f.PortID)
	})
	if store.Violated(err, "floating_ips_port_id_fixed_ip_address_key") {
		return f, conflict("FloatingIPPortAlreadyAssociated", "Cannot associate floating IP %s with port %s using fixed IP %s, as that fixed IP already has a floating IP on external network %s.", f.Address, f.PortID, f.FixedIP, f.NetworkID)
	}
	if err != nil {
		return f, orNotFound(err, notFound("FloatingIP", id))
	}
	s.changed(ctx)
	return s.store.FloatingIP(ctx, id)
}

// DeleteFloatingIP releases a floating IP and its address.
func (s *Service) DeleteFloatingIP(ctx context.Context, caller *model.Token, id string) error {
	f, err := s.visibleFloatingIP(ctx, caller, id)
	if err != nil {
		return err
	}
	if err := check(caller, policy.DeleteFloatingIP, f.ProjectID); err != nil {
		return err
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.DeleteFloatingIP(ctx, f); err != nil {
			return err
		}
		return s.refreshPorts(ctx, tx, f.PortID)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil {
		return notFound("FloatingIP", id)
	}
	s.changed(ctx)
	return nil
}
