package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// Nova's side of networking: the ports of a server.

// NICRequest is one entry of a server create's "networks": a network (and
// an address on it) to make a port on, or a port to bind.
type NICRequest struct {
	NetworkID string
	PortID    string
	FixedIP   string
	// Groups are the security groups of a port made for the server
	// (nil: the project's default group).
	Groups []string
}

// Network modes of a server create beside a list of requests.
const (
	NetworksAuto = "auto" // the project's network; made for it when it has none (get-me-a-network)
	NetworksNone = "none"
)

// novaError words a networking refusal as Nova's server create does: a
// missing network or port is the request's fault (400), not a 404.
func novaError(err error) error {
	var ne *Error
	if errors.As(err, &ne) && errors.Is(err, fault.ErrNotFound) {
		return fault.Invalid("networks", "%s", strings.TrimSuffix(ne.Err.Error(), ": "+fault.ErrNotFound.Error()))
	}
	return err
}

// PlanNICs turns a server create's networks into the requests each of its
// instances gets: the list as given, or for "auto" (and for no networks
// at all) the one network the project has, made by get-me-a-network when
// it has none and the cloud has a default external network. A project
// with no network and nothing to make one from launches without NICs.
func (s *Service) PlanNICs(ctx context.Context, caller *model.Token, mode string, reqs []NICRequest, count int, groups []string) ([]NICRequest, error) {
	if mode == NetworksNone {
		return nil, nil
	}
	plan, err := s.planNICs(ctx, caller, reqs, count)
	if err == nil && len(plan) == 0 && mode == NetworksAuto {
		// Asked for explicitly, "auto" must give a network (Nova's 400
		// when Neutron cannot allocate one); left out, as before 2.37,
		// a server without networks boots without NICs.
		return nil, fault.Invalid("networks", "Unable to automatically allocate a network for project %s", caller.ProjectID)
	}
	if err != nil || len(groups) == 0 {
		return plan, err
	}
	ids, err := s.GroupIDs(ctx, caller.ProjectID, groups)
	if err != nil {
		return nil, err
	}
	for i := range plan {
		if plan[i].PortID == "" {
			plan[i].Groups = ids
		}
	}
	return plan, nil
}

func (s *Service) planNICs(ctx context.Context, caller *model.Token, reqs []NICRequest, count int) ([]NICRequest, error) {
	if len(reqs) > 0 {
		for _, r := range reqs {
			if r.PortID != "" && count > 1 {
				return nil, fault.Invalid("networks", "Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.")
			}
			if r.NetworkID != "" {
				n, err := s.visibleNetwork(ctx, caller, r.NetworkID)
				if err != nil {
					return nil, novaError(err)
				}
				if n.External && !n.Shared && !policy.Allowed(caller, policy.CreatePort, policy.Target{ProjectID: n.ProjectID}) {
					return nil, &Error{Type: "Forbidden", Err: fmt.Errorf("It is not allowed to create an interface on external network %s: %w", n.ID, fault.ErrForbidden)}
				}
			}
		}
		return reqs, nil
	}
	nets, err := s.store.Networks(ctx, caller.ProjectID)
	if err != nil {
		return nil, err
	}
	var usable []model.Network
	for _, n := range nets {
		if !n.External && len(n.Subnets) > 0 && (n.ProjectID == caller.ProjectID || n.Shared) {
			usable = append(usable, n)
		}
	}
	switch {
	case len(usable) == 1:
		return []NICRequest{{NetworkID: usable[0].ID}}, nil
	case len(usable) > 1:
		return nil, &Error{Type: "NetworkAmbiguous", Err: fault.Conflict("Multiple possible networks found, use a Network ID to be more specific.")}
	}
	id, err := s.autoAllocate(ctx, caller)
	if err != nil || id == "" {
		return nil, err
	}
	return []NICRequest{{NetworkID: id}}, nil
}

// autoAllocate is Neutron's auto-allocated topology: a network, a subnet
// and a router to the default external network, for a project with none
// ("" when the cloud has no default external network).
func (s *Service) autoAllocate(ctx context.Context, caller *model.Token) (string, error) {
	nets, err := s.store.Networks(ctx, "")
	if err != nil {
		return "", err
	}
	var ext *model.Network
	for i, n := range nets {
		if n.External && (n.IsDefault || ext == nil) {
			ext = &nets[i]
		}
	}
	if ext == nil || len(ext.Subnets) == 0 {
		return "", nil
	}
	yes := true
	name, desc := "auto_allocated_network", "Made by Nimbus for the project's first server (get-me-a-network)"
	n, err := s.CreateNetwork(ctx, caller, NetworkInput{Name: &name, Description: &desc})
	if err != nil {
		return "", err
	}
	subName, cidr, four := "auto_allocated_subnet", "10.0.0.0/24", 4
	sn, err := s.CreateSubnet(ctx, caller, SubnetInput{Name: &subName, NetworkID: &n.ID, CIDR: &cidr, IPVersion: &four, EnableDHCP: &yes})
	if err != nil {
		return "", err
	}
	rName := "auto_allocated_router"
	r, err := s.CreateRouter(ctx, caller, RouterInput{Name: &rName, Gateway: &GatewayInput{NetworkID: ext.ID}})
	if err != nil {
		return "", err
	}
	if _, err := s.AddRouterInterface(ctx, caller, r.ID, sn.ID, ""); err != nil {
		return "", err
	}
	return n.ID, nil
}

// AttachNewInstance gives a new instance its ports inside tx (its
// launch's transaction): a port made on each requested network, with the
// address asked, or the given port bound to it; then its network info.
func (s *Service) AttachNewInstance(ctx context.Context, tx *store.Store, caller *model.Token, in model.Instance, reqs []NICRequest) error {
	return s.attach(ctx, tx, caller, in, reqs, false)
}

// PortsFit checks the port quota of a launch's project once compute
// locked it (store.LockQuota counted used, the ports it made already
// among them); extra are those still to be made.
func PortsFit(limits map[string]int, used, extra int) error {
	if l, ok := limits["port"]; ok && l >= 0 && used+extra > l {
		return &fault.OverQuota{Resource: "port", Limit: l, Used: used, Requested: extra}
	}
	return nil
}

func (s *Service) attach(ctx context.Context, tx *store.Store, caller *model.Token, in model.Instance, reqs []NICRequest, countQuota bool) error {
	owner := model.OwnerCompute + zoneOr(in.AvailabilityZone)
	var nics []model.NIC
	for _, r := range reqs {
		var p model.Port
		var err error
		if r.PortID != "" {
			p, err = s.bindPort(ctx, tx, caller, r.PortID, in.ID, owner)
		} else {
			var ips *[]FixedIPInput
			if r.FixedIP != "" {
				ips = &[]FixedIPInput{{IPAddress: r.FixedIP}}
			}
			n, nerr := tx.Network(ctx, r.NetworkID)
			if nerr != nil {
				return novaError(orNotFound(nerr, notFound("Network", r.NetworkID)))
			}
			p, err = s.makePort(ctx, tx, model.Port{ID: uuid.NewString(), NetworkID: r.NetworkID, ProjectID: in.ProjectID,
				AdminStateUp: true, Status: model.PortDown, PortSecurity: n.PortSecurity, DeviceID: in.ID, DeviceOwner: owner,
				AddressPairs: []model.AddressPair{}, SecurityGroups: r.Groups}, ips, r.Groups == nil, countQuota)
		}
		if err != nil {
			return novaError(err)
		}
		nics = append(nics, model.NIC{PortID: p.ID, NetworkID: p.NetworkID, MAC: p.MACAddress, Created: r.PortID == ""})
	}
	if len(nics) == 0 {
		return nil
	}
	return s.writeNICs(ctx, tx, in.ID, nics)
}

func zoneOr(az string) string {
	if az == "" {
		return "nova"
	}
	return az
}

// bindPort gives a free port of the caller's project to an instance.
func (s *Service) bindPort(ctx context.Context, tx *store.Store, caller *model.Token, portID, instanceID, owner string) (model.Port, error) {
	p, err := s.visiblePort(ctx, caller, portID)
	if err != nil {
		return p, err
	}
	if err := check(caller, policy.UpdatePort, p.ProjectID); err != nil {
		return p, notFound("Port", portID)
	}
	cur, err := tx.LockPort(ctx, portID)
	if err != nil {
		return p, orNotFound(err, notFound("Port", portID))
	}
	if cur.DeviceID != "" || cur.DeviceOwner != "" {
		return p, &Error{Type: "PortInUse", Err: fault.Conflict("Port %s is still in use.", portID)}
	}
	if len(cur.FixedIPs) == 0 {
		return p, fault.Invalid("networks", "Port %s requires a FixedIP in order to be used.", portID)
	}
	cur.DeviceID, cur.DeviceOwner = instanceID, owner
	if err := tx.UpdatePort(ctx, cur); err != nil {
		return p, err
	}
	return cur, nil
}

// writeNICs completes nics (network names, MTUs, addresses, floating
// addresses) and writes them as the instance's network info.
func (s *Service) writeNICs(ctx context.Context, tx *store.Store, instanceID string, nics []model.NIC) error {
	ids := make([]string, len(nics))
	for i, n := range nics {
		ids[i] = n.PortID
	}
	details, err := tx.NICDetails(ctx, ids)
	if err != nil {
		return err
	}
	out := nics[:0]
	for _, nic := range nics {
		d, ok := details[nic.PortID]
		if !ok {
			continue // deleted meanwhile
		}
		nic.NetworkName, nic.MTU, nic.MAC, nic.Groups = d.NetworkName, d.MTU, d.MAC, d.Groups
		if len(nic.Groups) == 0 {
			nic.Groups = nil
		}
		nic.IPs = nil
		for _, f := range d.FixedIPs {
			nic.IPs = append(nic.IPs, model.NICAddress{Address: f, Version: ipVersion(netip.MustParseAddr(f)), Type: "fixed"})
			if fl, ok := d.Floating[f]; ok {
				nic.IPs = append(nic.IPs, model.NICAddress{Address: fl, Version: 4, Type: "floating"})
			}
		}
		out = append(out, nic)
	}
	return tx.SetInstanceNICs(ctx, instanceID, out)
}

// refreshInstance rewrites the network info of the instance a port is
// bound to, after its port or floating IPs changed: the NICs keep their
// order, a port bound since is added, one gone is dropped.
func (s *Service) refreshInstance(ctx context.Context, tx *store.Store, instanceID string) error {
	if !isInstance(instanceID) {
		return nil
	}
	in, err := tx.Instance(ctx, instanceID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	if in.DeletedAt != nil {
		return nil
	}
	bound, err := tx.InstancePorts(ctx, instanceID)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, p := range bound {
		have[p.ID] = true
	}
	var nics []model.NIC
	kept := map[string]bool{}
	for _, n := range in.NICs {
		if have[n.PortID] {
			nics = append(nics, n)
			kept[n.PortID] = true
		}
	}
	for _, p := range bound {
		if !kept[p.ID] {
			nics = append(nics, model.NIC{PortID: p.ID, NetworkID: p.NetworkID})
		}
	}
	return s.writeNICs(ctx, tx, instanceID, nics)
}

func isInstance(deviceID string) bool {
	_, err := uuid.Parse(deviceID)
	return err == nil
}

// refreshPorts refreshes the instances the given ports are bound to.
func (s *Service) refreshPorts(ctx context.Context, tx *store.Store, portIDs ...string) error {
	for _, id := range portIDs {
		if id == "" {
			continue
		}
		p, err := tx.Port(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if strings.HasPrefix(p.DeviceOwner, model.OwnerCompute) {
			if err := s.refreshInstance(ctx, tx, p.DeviceID); err != nil {
				return err
			}
		}
	}
	return nil
}

// ServerSecurityGroups lists the security groups of an instance's ports
// (Nova's os-security-groups of a server), by name.
func (s *Service) ServerSecurityGroups(ctx context.Context, in model.Instance) ([]model.SecurityGroup, error) {
	ports, err := s.store.InstancePorts(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range ports {
		for _, g := range p.SecurityGroups {
			if !slices.Contains(ids, g) {
				ids = append(ids, g)
			}
		}
	}
	groups, err := s.store.GroupsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	return groups, nil
}

// groupByName finds a group of project by name, or by id.
func (s *Service) groupByName(ctx context.Context, project, name string) (model.SecurityGroup, error) {
	if err := s.EnsureDefaultGroup(ctx, project); err != nil {
		return model.SecurityGroup{}, err
	}
	groups, err := s.store.SecurityGroups(ctx, project)
	if err != nil {
		return model.SecurityGroup{}, err
	}
	var found []model.SecurityGroup
	for _, g := range groups {
		if g.ID == name || g.Name == name {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return model.SecurityGroup{}, fault.NotFound("Security group %s not found for project %s.", name, project)
	case 1:
		return found[0], nil
	}
	return model.SecurityGroup{}, fault.Conflict("Multiple security groups named %s: use an id.", name)
}

// GroupIDs resolves a server create's security group names in project.
func (s *Service) GroupIDs(ctx context.Context, project string, names []string) ([]string, error) {
	var ids []string
	for _, n := range names {
		g, err := s.groupByName(ctx, project, n)
		if err != nil {
			if errors.Is(err, fault.ErrNotFound) {
				return nil, fault.Invalid("security_groups", "Security group %s not found for project %s.", n, project)
			}
			return nil, err
		}
		ids = append(ids, g.ID)
	}
	return ids, nil
}

// ChangeServerGroup adds a security group to every port (with port
// security) of an instance, or removes it from every one.
func (s *Service) ChangeServerGroup(ctx context.Context, caller *model.Token, in model.Instance, name string, add bool) error {
	if err := check(caller, policy.UpdatePort, in.ProjectID); err != nil {
		return err
	}
	g, err := s.groupByName(ctx, in.ProjectID, name)
	if err != nil {
		return err
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		ports, err := tx.InstancePorts(ctx, in.ID)
		if err != nil {
			return err
		}
		changed := false
		for _, p := range ports {
			if !p.PortSecurity {
				continue
			}
			has := slices.Contains(p.SecurityGroups, g.ID)
			switch {
			case add && !has:
				p.SecurityGroups = append(p.SecurityGroups, g.ID)
			case !add && has:
				p.SecurityGroups = slices.DeleteFunc(p.SecurityGroups, func(id string) bool { return id == g.ID })
			default:
				continue
			}
			changed = true
			if err := tx.SetPortGroups(ctx, p.ID, p.SecurityGroups); err != nil {
				return err
			}
		}
		if !changed && !add {
			return fault.Invalid("name", "Security group %s not associated with the instance %s", name, in.ID)
		}
		if len(ports) == 0 {
			return fault.Invalid("name", "The instance %s has no network interface to put security group %s on", in.ID, name)
		}
		return s.refreshInstance(ctx, tx, in.ID)
	})
	if err != nil {
		return err
	}
	s.changed(ctx)
	return nil
}

// AttachInterface gives a running instance one more port (os-interface):
// made on a network, or the given one bound; it is added to the
// instance's NICs.
func (s *Service) AttachInterface(ctx context.Context, caller *model.Token, in model.Instance, r NICRequest) (model.Port, error) {
	if _, err := s.planNICs(ctx, caller, []NICRequest{r}, 1); err != nil {
		return model.Port{}, err
	}
	var p model.Port
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockInstance(ctx, in.ID)
		if err != nil {
			return err
		}
		if err := s.attach(ctx, tx, caller, cur, []NICRequest{r}, true); err != nil {
			return err
		}
		after, err := tx.Instance(ctx, in.ID)
		if err != nil {
			return err
		}
		if len(after.NICs) != 1 {
			return fault.Conflict("The interface was not attached")
		}
		// AttachNewInstance wrote the new NIC alone: the others go first.
		nics := append(slices.Clone(cur.NICs), after.NICs[0])
		if err := s.writeNICs(ctx, tx, in.ID, nics); err != nil {
			return err
		}
		p, err = tx.Port(ctx, nics[len(nics)-1].PortID)
		return err
	})
	if err != nil {
		return p, err
	}
	s.changed(ctx)
	return p, nil
}

// DetachInterface takes a port from an instance: deleted when Nova made
// it, unbound otherwise.
func (s *Service) DetachInterface(ctx context.Context, in model.Instance, portID string) error {
	i := slices.IndexFunc(in.NICs, func(n model.NIC) bool { return n.PortID == portID })
	if i < 0 {
		return fault.NotFound("Port %s is not attached", portID)
	}
	nic := in.NICs[i]
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		if nic.Created {
			if err := tx.DeletePort(ctx, portID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		} else if p, err := tx.LockPort(ctx, portID); err == nil {
			p.DeviceID, p.DeviceOwner, p.Host = "", "", ""
			if err := tx.UpdatePort(ctx, p); err != nil {
				return err
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return s.refreshInstance(ctx, tx, in.ID)
	})
	if err != nil {
		return err
	}
	s.changed(ctx)
	return nil
}

// InstancePorts lists the ports bound to an instance.
func (s *Service) InstancePorts(ctx context.Context, in model.Instance) ([]model.Port, error) {
	return s.store.InstancePorts(ctx, in.ID)
}
