package network

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// NetworkInput is a network's create or update body: a nil field was not
// given.
type NetworkInput struct {
	Name            *string  `json:"name"`
	Description     *string  `json:"description"`
	AdminStateUp    *bool    `json:"admin_state_up"`
	Shared          *bool    `json:"shared"`
	External        *bool    `json:"router:external"`
	IsDefault       *bool    `json:"is_default"`
	MTU             *int     `json:"mtu"`
	PortSecurity    *bool    `json:"port_security_enabled"`
	NetworkType     *string  `json:"provider:network_type"`
	PhysicalNetwork *string  `json:"provider:physical_network"`
	SegmentationID  *int     `json:"provider:segmentation_id"`
	ProjectID       string   `json:"project_id"`
	TenantID        string   `json:"tenant_id"`
	AZHints         []string `json:"availability_zone_hints"`
}

func (in *NetworkInput) project() string {
	if in.ProjectID != "" {
		return in.ProjectID
	}
	return in.TenantID
}

// texts checks the free texts every resource has.
func texts(name, description *string) error {
	if name != nil {
		if err := validate.Text("name", *name, 255); err != nil {
			return &Error{Type: "HTTPBadRequest", Err: err}
		}
	}
	if description != nil {
		if err := validate.Text("description", *description, 255); err != nil {
			return &Error{Type: "HTTPBadRequest", Err: err}
		}
	}
	return nil
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// CreateNetwork makes a network: a project's on a segment of the tenant
// type, or, for an admin, a provider network on the segment asked.
func (s *Service) CreateNetwork(ctx context.Context, caller *model.Token, in NetworkInput) (model.Network, error) {
	project, err := ownerOf(caller, in.project())
	if err != nil {
		return model.Network{}, err
	}
	if err := check(caller, policy.CreateNetwork, project); err != nil {
		return model.Network{}, err
	}
	if err := texts(in.Name, in.Description); err != nil {
		return model.Network{}, err
	}
	if in.Shared != nil && *in.Shared {
		if err := check(caller, policy.CreateSharedNetwork, project); err != nil {
			return model.Network{}, err
		}
	}
	if (in.External != nil && *in.External) || (in.IsDefault != nil && *in.IsDefault) {
		if err := check(caller, policy.CreateExternalNetwork, project); err != nil {
			return model.Network{}, err
		}
	}
	provider := in.NetworkType != nil || in.PhysicalNetwork != nil || in.SegmentationID != nil
	if provider {
		if err := check(caller, policy.ProviderNetwork, project); err != nil {
			return model.Network{}, err
		}
	}
	n := model.Network{ID: uuid.NewString(), ProjectID: project, AdminStateUp: true, PortSecurity: true}
	set(&n.Name, in.Name)
	set(&n.Description, in.Description)
	set(&n.AdminStateUp, in.AdminStateUp)
	set(&n.Shared, in.Shared)
	set(&n.External, in.External)
	set(&n.IsDefault, in.IsDefault)
	set(&n.PortSecurity, in.PortSecurity)
	if n.IsDefault && !n.External {
		return model.Network{}, invalidInput("Only an external network can be the default one.")
	}
	if provider {
		set(&n.NetworkType, in.NetworkType)
		set(&n.PhysicalNetwork, in.PhysicalNetwork)
		set(&n.SegmentationID, in.SegmentationID)
		if err := s.checkSegment(&n); err != nil {
			return model.Network{}, err
		}
	} else {
		n.NetworkType = s.opts.TenantNetworkType
		if n.NetworkType == "vlan" {
			n.PhysicalNetwork = s.opts.TenantPhysicalNetwork
		}
	}
	maxMTU := s.opts.MTU
	if n.NetworkType == "vxlan" {
		maxMTU -= 50 // the VXLAN header (IPv4 underlay)
	}
	n.MTU = maxMTU
	if in.MTU != nil {
		if *in.MTU < 68 || *in.MTU > maxMTU {
			return model.Network{}, invalidInput("Requested MTU is too big, maximum is %d.", maxMTU)
		}
		n.MTU = *in.MTU
	}
	// A segment taken by a concurrent create is drawn again.
	for attempt := 0; ; attempt++ {
		if err := s.allocateSegment(ctx, &n, provider && in.SegmentationID != nil, attempt); err != nil {
			return model.Network{}, err
		}
		err = s.store.Tx(ctx, func(tx *store.Store) error {
			if err := quota(ctx, tx, project, "network", 1, tx.CountNetworks); err != nil {
				return err
			}
			return tx.CreateNetwork(ctx, n)
		})
		if err == nil || attempt == 9 || (provider && in.SegmentationID != nil) || !segmentTaken(err) {
			break
		}
	}
	if err != nil {
		return model.Network{}, segmentError(err, n)
	}
	return s.store.Network(ctx, n.ID)
}

func segmentTaken(err error) bool {
	return store.Violated(err, "networks_vxlan") || store.Violated(err, "networks_vlan")
}

// segmentError words the store's refusal of a taken segment as Neutron.
func segmentError(err error, n model.Network) error {
	switch {
	case store.Violated(err, "networks_flat"):
		return conflict("FlatNetworkInUse", "Unable to create the flat network. Physical network %s is in use.", n.PhysicalNetwork)
	case store.Violated(err, "networks_vlan"):
		return conflict("VlanIdInUse", "Unable to create the network. The VLAN %d on physical network %s is in use.",
			n.SegmentationID, n.PhysicalNetwork)
	case store.Violated(err, "networks_vxlan"):
		return conflict("TunnelIdInUse", "Unable to create the network. The tunnel ID %d is in use.", n.SegmentationID)
	case store.Violated(err, "networks_default"):
		return conflict("DefaultExternalNetworkExists", "Unable to set a second network as the default external network.")
	}
	return err
}

// checkSegment validates an admin's provider attributes.
func (s *Service) checkSegment(n *model.Network) error {
	switch n.NetworkType {
	case "local":
		if n.PhysicalNetwork != "" || n.SegmentationID != 0 {
			return invalidInput("provider:physical_network and provider:segmentation_id are not allowed for a local network.")
		}
	case "flat":
		if n.SegmentationID != 0 {
			return invalidInput("provider:segmentation_id is not allowed for a flat network.")
		}
		if !slices.Contains(s.opts.PhysicalNetworks, n.PhysicalNetwork) {
			return invalidInput("physical_network '%s' unknown for flat provider network.", n.PhysicalNetwork)
		}
	case "vlan":
		if !slices.Contains(s.opts.PhysicalNetworks, n.PhysicalNetwork) {
			return invalidInput("physical_network '%s' unknown for VLAN provider network.", n.PhysicalNetwork)
		}
		if n.SegmentationID != 0 && (n.SegmentationID < 1 || n.SegmentationID > 4094) {
			return invalidInput("segmentation_id out of range (1 through 4094).")
		}
	case "vxlan":
		if n.PhysicalNetwork != "" {
			return invalidInput("provider:physical_network is not allowed for a vxlan network.")
		}
		if n.SegmentationID < 0 || n.SegmentationID > 1<<24-1 {
			return invalidInput("segmentation_id out of range (1 through 16777215).")
		}
	case "":
		return invalidInput("provider:network_type required.")
	default:
		return invalidInput("network_type value '%s' not supported.", n.NetworkType)
	}
	return nil
}

// allocateSegment takes the lowest free VNI or VLAN id from the configured
// range when the network needs one and was not given one.
func (s *Service) allocateSegment(ctx context.Context, n *model.Network, given bool, attempt int) error {
	var r Range
	switch n.NetworkType {
	case "vxlan":
		r = s.opts.VNIs
	case "vlan":
		r = s.opts.VLANs
	default:
		return nil
	}
	if given {
		return nil
	}
	used, err := s.store.UsedSegments(ctx, n.NetworkType, n.PhysicalNetwork)
	if err != nil {
		return err
	}
	// The lowest free segment first; after losing it to a concurrent
	// create, one of the next free ones at random, so that creates
	// racing each other spread out instead of colliding again.
	skip := 0
	if attempt > 0 {
		skip = rand.IntN(segmentSpread)
	}
	next := r.Min
	for _, u := range used {
		if u < next {
			continue
		}
		if u == next {
			next++
			continue
		}
		if next+skip < u {
			break
		}
		skip -= u - next
		next = u + 1
	}
	next += skip
	if r.Min == 0 || next > r.Max {
		if skip > 0 {
			return s.allocateSegment(ctx, n, false, 0)
		}
		return &Error{Type: "NoNetworkAvailable", Err: fault.ErrBusy}
	}
	n.SegmentationID = next
	return nil
}

// segmentSpread is how many free segments a retried create draws from.
const segmentSpread = 32

// visibleNetwork is a network the caller may see (its own, shared,
// external, any for an admin); anything else is not found.
func (s *Service) visibleNetwork(ctx context.Context, caller *model.Token, id string) (model.Network, error) {
	n, err := s.store.Network(ctx, id)
	if err == nil && !(n.Shared || n.External || policy.Allowed(caller, policy.GetNetwork, policy.Target{ProjectID: n.ProjectID})) {
		err = store.ErrNotFound
	}
	if err != nil {
		return model.Network{}, orNotFound(err, notFound("Network", id))
	}
	return n, nil
}

// Network returns a network the caller may see.
func (s *Service) Network(ctx context.Context, caller *model.Token, id string) (model.Network, error) {
	return s.visibleNetwork(ctx, caller, id)
}

// Networks lists the networks the caller sees.
func (s *Service) Networks(ctx context.Context, caller *model.Token) ([]model.Network, error) {
	if err := check(caller, policy.GetNetwork, caller.ProjectID); err != nil {
		return nil, err
	}
	return s.store.Networks(ctx, visibleProject(caller))
}

// ShowsProvider reports whether the caller sees provider attributes.
func ShowsProvider(caller *model.Token) bool {
	return policy.Allowed(caller, policy.ProviderNetwork, policy.Target{})
}

// UpdateNetwork changes a network's attributes; the segment cannot change.
func (s *Service) UpdateNetwork(ctx context.Context, caller *model.Token, id string, in NetworkInput) (model.Network, error) {
	n, err := s.visibleNetwork(ctx, caller, id)
	if err != nil {
		return n, err
	}
	if err := check(caller, policy.UpdateNetwork, n.ProjectID); err != nil {
		return n, err
	}
	if in.NetworkType != nil || in.PhysicalNetwork != nil || in.SegmentationID != nil || in.project() != "" {
		return n, badRequest("Invalid input for operation: the provider attributes and project of a network cannot be changed.")
	}
	if err := texts(in.Name, in.Description); err != nil {
		return n, err
	}
	if in.Shared != nil && *in.Shared != n.Shared {
		if err := check(caller, policy.CreateSharedNetwork, n.ProjectID); err != nil {
			return n, err
		}
	}
	if (in.External != nil && *in.External != n.External) || (in.IsDefault != nil && *in.IsDefault != n.IsDefault) {
		if err := check(caller, policy.CreateExternalNetwork, n.ProjectID); err != nil {
			return n, err
		}
	}
	set(&n.Name, in.Name)
	set(&n.Description, in.Description)
	set(&n.AdminStateUp, in.AdminStateUp)
	set(&n.Shared, in.Shared)
	set(&n.External, in.External)
	set(&n.IsDefault, in.IsDefault)
	set(&n.PortSecurity, in.PortSecurity)
	if n.IsDefault && !n.External {
		return n, invalidInput("Only an external network can be the default one.")
	}
	if in.MTU != nil {
		maxMTU := s.opts.MTU
		if n.NetworkType == "vxlan" {
			maxMTU -= 50
		}
		if *in.MTU < 68 || *in.MTU > maxMTU {
			return n, invalidInput("Requested MTU is too big, maximum is %d.", maxMTU)
		}
		n.MTU = *in.MTU
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := tx.LockNetwork(ctx, id); err != nil {
			return err
		}
		if in.External != nil && !*in.External {
			// Neutron refuses to make a network internal while routers
			// or floating IPs use it.
			if n, err := tx.NetworkPortsOwned(ctx, id, model.OwnerRouterGateway, model.OwnerFloatingIP); err != nil {
				return err
			} else if n > 0 {
				return conflict("NetworkInUse", "Unable to complete operation on network %s. There are one or more ports still in use on the network.", id)
			}
		}
		return tx.UpdateNetwork(ctx, n)
	})
	if err != nil {
		return n, segmentError(orNotFound(err, notFound("Network", id)), n)
	}
	s.changed(ctx)
	return s.store.Network(ctx, id)
}

// DeleteNetwork removes a network with no ports but its DHCP server's
// and its unmapped floating IPs'.
func (s *Service) DeleteNetwork(ctx context.Context, caller *model.Token, id string) error {
	n, err := s.visibleNetwork(ctx, caller, id)
	if err != nil {
		return err
	}
	if err := check(caller, policy.DeleteNetwork, n.ProjectID); err != nil {
		return err
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := tx.LockNetwork(ctx, id); err != nil {
			return err
		}
		// Floating IPs mapped to nothing go with their external network,
		// as in Neutron; a mapped one keeps it in use.
		if err := tx.DeleteUnmappedFloatingIPs(ctx, id); err != nil {
			return err
		}
		busy, err := tx.NetworkPortsBesides(ctx, id, model.OwnerDHCP)
		if err != nil {
			return err
		}
		if busy > 0 {
			return conflict("NetworkInUse", "Unable to complete operation on network %s. There are one or more ports still in use on the network.", id)
		}
		return tx.DeleteNetwork(ctx, id)
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return conflict("NetworkInUse", "Unable to complete operation on network %s. There are one or more ports still in use on the network.", id)
		}
		return orNotFound(err, notFound("Network", id))
	}
	s.changed(ctx)
	return nil
}

// EnsurePublicNetwork makes the cloud's external network "public" (flat,
// on physical network "public", the default for get-me-a-network) with a
// subnet of cidr, owned by project, unless a network of that name exists.
// make run calls it at start; the first address is the host's.
func (s *Service) EnsurePublicNetwork(ctx context.Context, project, cidr string) (bool, error) {
	nets, err := s.store.Networks(ctx, "")
	if err != nil {
		return false, err
	}
	for _, n := range nets {
		if n.Name == "public" && n.External {
			return false, nil
		}
	}
	prefix, err := parseCIDR(cidr, 4)
	if err != nil {
		return false, err
	}
	n := model.Network{ID: uuid.NewString(), ProjectID: project, Name: "public", AdminStateUp: true, External: true,
		IsDefault: true, MTU: s.opts.MTU, PortSecurity: true, NetworkType: "flat", PhysicalNetwork: "public"}
	gw := prefix.Addr().Next()
	sn := model.Subnet{ID: uuid.NewString(), NetworkID: n.ID, ProjectID: project, Name: "public-subnet", IPVersion: 4,
		CIDR: prefix.String(), GatewayIP: gw.String(), Pools: defaultPools(prefix, gw), DNS: []string{}, HostRoutes: []model.HostRoute{}}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.CreateNetwork(ctx, n); err != nil {
			return err
		}
		return tx.CreateSubnet(ctx, sn)
	})
	if err != nil {
		return false, segmentError(err, n)
	}
	s.changed(ctx)
	return true, nil
}
