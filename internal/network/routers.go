package network

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// RouterInput is a router's create or update body. Gateway is set (with
// Clear) when the body had external_gateway_info: null or {} clears it.
type RouterInput struct {
	Name         *string       `json:"name"`
	Description  *string       `json:"description"`
	AdminStateUp *bool         `json:"admin_state_up"`
	Gateway      *GatewayInput `json:"external_gateway_info"`
	Routes       routesInput   `json:"routes"`
	ProjectID    string        `json:"project_id"`
	TenantID     string        `json:"tenant_id"`
	Distributed  *bool         `json:"distributed"`
	HA           *bool         `json:"ha"`
}

// routesInput is a router's routes in a body: Set when given at all;
// null, like [], clears them (tempest's extra route test sends null).
type routesInput struct {
	Set    bool
	Routes []model.HostRoute
}

func (r *routesInput) UnmarshalJSON(b []byte) error {
	r.Set, r.Routes = true, []model.HostRoute{}
	if string(b) == "null" {
		return nil
	}
	return json.Unmarshal(b, &r.Routes)
}

// GatewayInput is external_gateway_info.
type GatewayInput struct {
	NetworkID  string          `json:"network_id"`
	EnableSNAT *bool           `json:"enable_snat"`
	FixedIPs   *[]FixedIPInput `json:"external_fixed_ips"`
}

// CreateRouter makes a router, with its gateway when asked.
func (s *Service) CreateRouter(ctx context.Context, caller *model.Token, in RouterInput) (model.Router, error) {
	project, err := ownerOf(caller, firstNonEmpty(in.ProjectID, in.TenantID))
	if err != nil {
		return model.Router{}, err
	}
	if err := check(caller, policy.CreateRouter, project); err != nil {
		return model.Router{}, err
	}
	if err := texts(in.Name, in.Description); err != nil {
		return model.Router{}, err
	}
	if (in.Distributed != nil && *in.Distributed) || (in.HA != nil && *in.HA) {
		return model.Router{}, badRequest("Distributed and HA routers are not supported.")
	}
	r := model.Router{ID: uuid.NewString(), ProjectID: project, AdminStateUp: true, EnableSNAT: true, Routes: []model.HostRoute{}}
	set(&r.Name, in.Name)
	set(&r.Description, in.Description)
	set(&r.AdminStateUp, in.AdminStateUp)
	if len(in.Routes.Routes) > 0 {
		return r, badRequest("Invalid format for routes: a new router has no interfaces to route through.")
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := quota(ctx, tx, project, "router", 1, tx.CountRouters); err != nil {
			return err
		}
		if err := tx.CreateRouter(ctx, r); err != nil {
			return err
		}
		if in.Gateway != nil && in.Gateway.NetworkID != "" {
			return s.setGateway(ctx, tx, caller, &r, in.Gateway)
		}
		return nil
	})
	if err != nil {
		return model.Router{}, err
	}
	s.changed(ctx)
	return s.store.Router(ctx, r.ID)
}

// setGateway gives r a port on an external network (inside tx).
func (s *Service) setGateway(ctx context.Context, tx *store.Store, caller *model.Token, r *model.Router, gw *GatewayInput) error {
	if gw.EnableSNAT != nil {
		if err := check(caller, policy.RouterSNAT, r.ProjectID); err != nil {
			return err
		}
		r.EnableSNAT = *gw.EnableSNAT
	}
	if gw.FixedIPs != nil {
		if err := check(caller, policy.RouterGatewayIPs, r.ProjectID); err != nil {
			return err
		}
	}
	n, err := tx.LockNetwork(ctx, gw.NetworkID)
	if err != nil {
		return orNotFound(err, notFound("Network", gw.NetworkID))
	}
	if !n.External {
		return badRequest("Bad router request: Network %s is not an external network.", n.ID)
	}
	fixed, err := s.addresses(ctx, tx, n.ID, gw.FixedIPs, nil, false)
	if err != nil {
		return err
	}
	if len(fixed) == 0 {
		return badRequest("Bad router request: No subnets on external network %s.", n.ID)
	}
	p := model.Port{ID: uuid.NewString(), NetworkID: n.ID, MACAddress: randomMAC(), AdminStateUp: true,
		Status: model.PortActive, DeviceID: r.ID, DeviceOwner: model.OwnerRouterGateway, FixedIPs: fixed,
		AddressPairs: []model.AddressPair{}}
	if err := tx.CreatePort(ctx, p); err != nil {
		return err
	}
	r.GatewayNetID, r.GatewayPort = n.ID, p.ID
	return tx.UpdateRouter(ctx, *r)
}

// clearGateway removes r's gateway port, refused while floating IPs use it.
func (s *Service) clearGateway(ctx context.Context, tx *store.Store, r *model.Router) error {
	if r.GatewayPort == "" {
		return nil
	}
	fips, err := tx.RouterFloatingIPs(ctx, r.ID)
	if err != nil {
		return err
	}
	if len(fips) > 0 {
		return conflict("RouterExternalGatewayInUseByFloatingIp", "Gateway cannot be updated for router %s, since a gateway to external network %s is required by one or more floating IPs.", r.ID, r.GatewayNetID)
	}
	port := r.GatewayPort
	r.GatewayNetID, r.GatewayPort = "", ""
	r.EnableSNAT = true
	if err := tx.UpdateRouter(ctx, *r); err != nil {
		return err
	}
	return tx.DeletePort(ctx, port)
}

func (s *Service) visibleRouter(ctx context.Context, caller *model.Token, id string) (model.Router, error) {
	r, err := s.store.Router(ctx, id)
	if err == nil && !policy.Allowed(caller, policy.GetRouter, policy.Target{ProjectID: r.ProjectID}) {
		err = store.ErrNotFound
	}
	if err != nil {
		return r, orNotFound(err, notFound("Router", id))
	}
	return r, nil
}

// Router returns a router the caller may see.
func (s *Service) Router(ctx context.Context, caller *model.Token, id string) (model.Router, error) {
	return s.visibleRouter(ctx, caller, id)
}

// Routers lists the caller's project's routers (an admin: all).
func (s *Service) Routers(ctx context.Context, caller *model.Token) ([]model.Router, error) {
	if err := check(caller, policy.GetRouter, caller.ProjectID); err != nil {
		return nil, err
	}
	return s.store.Routers(ctx, visibleProject(caller))
}

// UpdateRouter changes a router: names, gateway, extra routes.
func (s *Service) UpdateRouter(ctx context.Context, caller *model.Token, id string, in RouterInput, gatewayGiven bool) (model.Router, error) {
	r, err := s.visibleRouter(ctx, caller, id)
	if err != nil {
		return r, err
	}
	if err := check(caller, policy.UpdateRouter, r.ProjectID); err != nil {
		return r, err
	}
	if err := texts(in.Name, in.Description); err != nil {
		return r, err
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockRouter(ctx, id)
		if err != nil {
			return err
		}
		r = cur
		set(&r.Name, in.Name)
		set(&r.Description, in.Description)
		set(&r.AdminStateUp, in.AdminStateUp)
		if in.Routes.Set {
			if err := s.checkRoutes(ctx, tx, r, in.Routes.Routes); err != nil {
				return err
			}
			r.Routes = in.Routes.Routes
		}
		if err := tx.UpdateRouter(ctx, r); err != nil {
			return err
		}
		if !gatewayGiven {
			return nil
		}
		if in.Gateway == nil || in.Gateway.NetworkID == "" {
			return s.clearGateway(ctx, tx, &r)
		}
		if in.Gateway.NetworkID == r.GatewayNetID && in.Gateway.FixedIPs == nil {
			if in.Gateway.EnableSNAT != nil && *in.Gateway.EnableSNAT != r.EnableSNAT {
				if err := check(caller, policy.RouterSNAT, r.ProjectID); err != nil {
					return err
				}
				r.EnableSNAT = *in.Gateway.EnableSNAT
				return tx.UpdateRouter(ctx, r)
			}
			return nil
		}
		if err := s.clearGateway(ctx, tx, &r); err != nil {
			return err
		}
		return s.setGateway(ctx, tx, caller, &r, in.Gateway)
	})
	if err != nil {
		return r, orNotFound(err, notFound("Router", id))
	}
	s.changed(ctx)
	return s.store.Router(ctx, id)
}

// checkRoutes: each extra route's next hop is on a subnet the router has
// an interface on (Neutron's InvalidRoutes).
func (s *Service) checkRoutes(ctx context.Context, tx *store.Store, r model.Router, routes []model.HostRoute) error {
	subnets, err := s.routerSubnets(ctx, tx, r)
	if err != nil {
		return err
	}
	for _, rt := range routes {
		d, err1 := netip.ParsePrefix(rt.Destination)
		h, err2 := netip.ParseAddr(rt.NextHop)
		if err1 != nil || err2 != nil || d.Masked() != d {
			return &Error{Type: "InvalidRoutes", Err: fault.Invalid("routes", "Invalid format for routes: %s via %s.", rt.Destination, rt.NextHop)}
		}
		ok := false
		for _, sn := range subnets {
			if netip.MustParsePrefix(sn.CIDR).Contains(h) {
				ok = true
			}
		}
		if !ok {
			return &Error{Type: "InvalidRoutes", Err: fault.Invalid("routes",
				"Invalid format for routes: the nexthop %s is not connected with router %s.", rt.NextHop, r.ID)}
		}
	}
	return nil
}

// routerSubnets are the subnets r has interfaces on, and its gateway's.
func (s *Service) routerSubnets(ctx context.Context, tx *store.Store, r model.Router) ([]model.Subnet, error) {
	ports, err := tx.Ports(ctx, store.PortFilter{DeviceID: r.ID})
	if err != nil {
		return nil, err
	}
	var out []model.Subnet
	for _, p := range ports {
		if p.DeviceOwner != model.OwnerRouterInterface && p.DeviceOwner != model.OwnerRouterGateway {
			continue
		}
		for _, f := range p.FixedIPs {
			sn, err := tx.Subnet(ctx, f.SubnetID)
			if err != nil {
				return nil, err
			}
			out = append(out, sn)
		}
	}
	return out, nil
}

// InterfaceInfo answers add/remove_router_interface.
type InterfaceInfo struct {
	RouterID, ProjectID, PortID, NetworkID string
	SubnetIDs                              []string
}

// AddRouterInterface attaches a subnet (the router takes its gateway
// address) or a free port to a router.
func (s *Service) AddRouterInterface(ctx context.Context, caller *model.Token, id, subnetID, portID string) (InterfaceInfo, error) {
	r, err := s.visibleRouter(ctx, caller, id)
	if err != nil {
		return InterfaceInfo{}, err
	}
	if err := check(caller, policy.AddRouterInterface, r.ProjectID); err != nil {
		return InterfaceInfo{}, err
	}
	if (subnetID == "") == (portID == "") {
		return InterfaceInfo{}, badRequest("Bad router request: Either subnet_id or port_id must be specified.")
	}
	var p model.Port
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := tx.LockRouter(ctx, id); err != nil {
			return err
		}
		attached, err := s.routerSubnets(ctx, tx, r)
		if err != nil {
			return err
		}
		if portID != "" {
			if p, err = s.visiblePort(ctx, caller, portID); err != nil {
				return err
			}
			if p.DeviceOwner != "" || p.DeviceID != "" {
				return conflict("PortInUse", "Unable to complete operation on port %s for network %s. Port already has an attached device %s.", p.ID, p.NetworkID, p.DeviceID)
			}
			if len(p.FixedIPs) == 0 {
				return badRequest("Bad router request: Router port must have at least one fixed IP.")
			}
		} else {
			sn, n, err := s.visibleSubnet(ctx, caller, subnetID)
			if err != nil {
				return err
			}
			if sn.GatewayIP == "" {
				return badRequest("Bad router request: Subnet for router interface must have a gateway IP.")
			}
			if n.External {
				return badRequest("Bad router request: Router interfaces cannot be on an external network.")
			}
			p = model.Port{ID: uuid.NewString(), NetworkID: sn.NetworkID, ProjectID: r.ProjectID,
				AddressPairs: []model.AddressPair{}, FixedIPs: []model.FixedIP{{SubnetID: sn.ID, IPAddress: sn.GatewayIP}}}
		}
		for _, f := range p.FixedIPs {
			sn, err := tx.Subnet(ctx, f.SubnetID)
			if err != nil {
				return err
			}
			for _, a := range attached {
				if overlaps(netip.MustParsePrefix(a.CIDR), netip.MustParsePrefix(sn.CIDR)) {
					return badRequest("Bad router request: Cidr %s of subnet %s overlaps with cidr %s of subnet %s.", sn.CIDR, sn.ID, a.CIDR, a.ID)
				}
			}
		}
		p.DeviceID, p.DeviceOwner, p.Status, p.AdminStateUp, p.PortSecurity = r.ID, model.OwnerRouterInterface, model.PortActive, true, false
		if portID != "" {
			if err := tx.SetPortGroups(ctx, p.ID, nil); err != nil {
				return err
			}
			p.SecurityGroups = nil
			return tx.UpdatePort(ctx, p)
		}
		p.MACAddress = randomMAC()
		if _, err := tx.LockNetwork(ctx, p.NetworkID); err != nil {
			return err
		}
		if _, err := s.allocate(ctx, tx, subnetID, p.FixedIPs[0].IPAddress, false); err != nil {
			if errors.Is(err, fault.ErrConflict) {
				return conflict("IpAddressInUse", "Unable to complete operation for network %s. The IP address %s is in use.", p.NetworkID, p.FixedIPs[0].IPAddress)
			}
			return err
		}
		return tx.CreatePort(ctx, p)
	})
	if err != nil {
		return InterfaceInfo{}, orNotFound(err, notFound("Router", id))
	}
	s.changed(ctx)
	info := InterfaceInfo{RouterID: r.ID, ProjectID: r.ProjectID, PortID: p.ID, NetworkID: p.NetworkID}
	for _, f := range p.FixedIPs {
		info.SubnetIDs = append(info.SubnetIDs, f.SubnetID)
	}
	return info, nil
}

// RemoveRouterInterface detaches a subnet or an interface port, refused
// while a floating IP is reached through it.
func (s *Service) RemoveRouterInterface(ctx context.Context, caller *model.Token, id, subnetID, portID string) (InterfaceInfo, error) {
	r, err := s.visibleRouter(ctx, caller, id)
	if err != nil {
		return InterfaceInfo{}, err
	}
	if err := check(caller, policy.RemoveRouterInterface, r.ProjectID); err != nil {
		return InterfaceInfo{}, err
	}
	if subnetID == "" && portID == "" {
		return InterfaceInfo{}, badRequest("Bad router request: Either subnet_id or port_id must be specified.")
	}
	var found model.Port
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := tx.LockRouter(ctx, id); err != nil {
			return err
		}
		ports, err := tx.Ports(ctx, store.PortFilter{DeviceID: r.ID})
		if err != nil {
			return err
		}
		for _, p := range ports {
			if p.DeviceOwner != model.OwnerRouterInterface || (portID != "" && p.ID != portID) {
				continue
			}
			for _, f := range p.FixedIPs {
				if subnetID == "" || f.SubnetID == subnetID {
					found = p
				}
			}
		}
		if found.ID == "" {
			if portID != "" {
				return &Error{Type: "RouterInterfaceNotFound", Err: fault.NotFound("Router %s does not have an interface with id %s", r.ID, portID)}
			}
			return &Error{Type: "RouterInterfaceNotFoundForSubnet", Err: fault.NotFound("Router %s has no interface on subnet %s", r.ID, subnetID)}
		}
		fips, err := tx.RouterFloatingIPs(ctx, r.ID)
		if err != nil {
			return err
		}
		for _, f := range fips {
			fp, err := tx.Port(ctx, f.PortID)
			if err == nil && fp.NetworkID == found.NetworkID {
				return conflict("RouterInterfaceInUseByFloatingIP", "Router interface for subnet %s on router %s cannot be deleted, as it is required by one or more floating IPs.", firstNonEmpty(subnetID, found.FixedIPs[0].SubnetID), r.ID)
			}
		}
		return tx.DeletePort(ctx, found.ID)
	})
	if err != nil {
		return InterfaceInfo{}, orNotFound(err, notFound("Router", id))
	}
	s.changed(ctx)
	info := InterfaceInfo{RouterID: r.ID, ProjectID: r.ProjectID, PortID: found.ID, NetworkID: found.NetworkID}
	for _, f := range found.FixedIPs {
		info.SubnetIDs = append(info.SubnetIDs, f.SubnetID)
	}
	return info, nil
}

// DeleteRouter removes a router without interfaces, and its gateway.
func (s *Service) DeleteRouter(ctx context.Context, caller *model.Token, id string) error {
	r, err := s.visibleRouter(ctx, caller, id)
	if err != nil {
		return err
	}
	if err := check(caller, policy.DeleteRouter, r.ProjectID); err != nil {
		return err
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockRouter(ctx, id)
		if err != nil {
			return err
		}
		ports, err := tx.Ports(ctx, store.PortFilter{DeviceID: r.ID})
		if err != nil {
			return err
		}
		for _, p := range ports {
			if p.DeviceOwner == model.OwnerRouterInterface {
				return conflict("RouterInUse", "Router %s still has ports", r.ID)
			}
		}
		if err := s.clearGateway(ctx, tx, &cur); err != nil {
			return err
		}
		return tx.DeleteRouter(ctx, id)
	})
	if err != nil {
		return orNotFound(err, notFound("Router", id))
	}
	s.changed(ctx)
	return nil
}
