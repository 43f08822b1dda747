package network

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/model"
	netsvc "github.com/nimbus-cloud/nimbus/internal/network"
)

func (h *Handler) registerNetworks(a fiber.Router) {
	a.Get("/networks", h.listNetworks)
	a.Post("/networks", h.createNetwork)
	a.Get("/networks/:id", h.showNetwork)
	a.Put("/networks/:id", h.updateNetwork)
	a.Delete("/networks/:id", h.deleteNetwork)
	a.Get("/subnets", h.listSubnets)
	a.Post("/subnets", h.createSubnet)
	a.Get("/subnets/:id", h.showSubnet)
	a.Put("/subnets/:id", h.updateSubnet)
	a.Delete("/subnets/:id", h.deleteSubnet)
}

const tsLayout = "2006-01-02T15:04:05Z"

func ts(t time.Time) string { return t.UTC().Format(tsLayout) }

// standard are the attributes every Neutron resource has.
func standard(m fiber.Map, id, project, description string, revision int, created, updated time.Time) fiber.Map {
	m["id"], m["tenant_id"], m["project_id"], m["description"] = id, project, project, description
	m["revision_number"], m["created_at"], m["updated_at"], m["tags"] = revision, ts(created), ts(updated), []string{}
	return m
}

func upDown(up bool) string {
	if up {
		return "ACTIVE"
	}
	return "DOWN"
}

func networkJSON(c *fiber.Ctx, n model.Network) fiber.Map {
	subnets := n.Subnets
	if subnets == nil {
		subnets = []string{}
	}
	m := standard(fiber.Map{"name": n.Name, "admin_state_up": n.AdminStateUp, "status": upDown(n.AdminStateUp),
		"subnets": subnets, "shared": n.Shared, "router:external": n.External, "is_default": n.IsDefault,
		"mtu": n.MTU, "port_security_enabled": n.PortSecurity, "availability_zone_hints": []string{},
		"availability_zones": []string{"nova"}, "ipv4_address_scope": nil, "ipv6_address_scope": nil,
		"l2_adjacency": true}, n.ID, n.ProjectID, n.Description, n.Revision, n.CreatedAt, n.UpdatedAt)
	if netsvc.ShowsProvider(api.Token(c)) {
		m["provider:network_type"] = n.NetworkType
		m["provider:physical_network"] = nilIfEmpty(n.PhysicalNetwork)
		if n.SegmentationID != 0 {
			m["provider:segmentation_id"] = n.SegmentationID
		} else {
			m["provider:segmentation_id"] = nil
		}
	}
	return m
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (h *Handler) listNetworks(c *fiber.Ctx) error {
	ns, err := h.svc.Networks(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	items := make([]fiber.Map, len(ns))
	for i, n := range ns {
		items[i] = networkJSON(c, n)
	}
	return h.list(c, "networks", items)
}

func (h *Handler) createNetwork(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	return create(c, creator[netsvc.NetworkInput, model.Network]{key: "network", plural: "networks",
		make: func(in netsvc.NetworkInput) (model.Network, error) { return h.svc.CreateNetwork(ctx, tok, in) },
		undo: func(n model.Network) error { return h.svc.DeleteNetwork(ctx, tok, n.ID) },
		view: func(n model.Network) fiber.Map { return networkJSON(c, n) }})
}

func (h *Handler) showNetwork(c *fiber.Ctx) error {
	n, err := h.svc.Network(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return one(c, fiber.StatusOK, "network", networkJSON(c, n))
}

func (h *Handler) updateNetwork(c *fiber.Ctx) error {
	var in netsvc.NetworkInput
	if err := decode(c, "network", &in); err != nil {
		return err
	}
	n, err := h.svc.UpdateNetwork(c.UserContext(), api.Token(c), api.Param(c, "id"), in)
	if err != nil {
		return err
	}
	return one(c, fiber.StatusOK, "network", networkJSON(c, n))
}

func (h *Handler) deleteNetwork(c *fiber.Ctx) error {
	if err := h.svc.DeleteNetwork(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return noContent(c)
}

func subnetJSON(sn model.Subnet) fiber.Map {
	pools := sn.Pools
	if pools == nil {
		pools = []model.AllocationPool{}
	}
	routes := sn.HostRoutes
	if routes == nil {
		routes = []model.HostRoute{}
	}
	dns := sn.DNS
	if dns == nil {
		dns = []string{}
	}
	return standard(fiber.Map{"name": sn.Name, "network_id": sn.NetworkID, "ip_version": sn.IPVersion, "cidr": sn.CIDR,
		"gateway_ip": nilIfEmpty(sn.GatewayIP), "enable_dhcp": sn.EnableDHCP, "allocation_pools": pools,
		"dns_nameservers": dns, "host_routes": routes, "ipv6_ra_mode": nil, "ipv6_address_mode": nil,
		"subnetpool_id": nil, "service_types": []string{}, "dns_publish_fixed_ip": false},
		sn.ID, sn.ProjectID, sn.Description, sn.Revision, sn.CreatedAt, sn.UpdatedAt)
}

func (h *Handler) listSubnets(c *fiber.Ctx) error {
	ss, err := h.svc.Subnets(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	items := make([]fiber.Map, len(ss))
	for i, sn := range ss {
		items[i] = subnetJSON(sn)
	}
	return h.list(c, "subnets", items)
}

func (h *Handler) createSubnet(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	return create(c, creator[netsvc.SubnetInput, model.Subnet]{key: "subnet", plural: "subnets",
		make: func(in netsvc.SubnetInput) (model.Subnet, error) { return h.svc.CreateSubnet(ctx, tok, in) },
		undo: func(sn model.Subnet) error { return h.svc.DeleteSubnet(ctx, tok, sn.ID) },
		view: subnetJSON})
}

func (h *Handler) showSubnet(c *fiber.Ctx) error {
	sn, err := h.svc.Subnet(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return one(c, fiber.StatusOK, "subnet", subnetJSON(sn))
}

func (h *Handler) updateSubnet(c *fiber.Ctx) error {
	var in netsvc.SubnetInput
	if err := decode(c, "subnet", &in); err != nil {
		return err
	}
	sn, err := h.svc.UpdateSubnet(c.UserContext(), api.Token(c), api.Param(c, "id"), in)
	if err != nil {
		return err
	}
	return one(c, fiber.StatusOK, "subnet", subnetJSON(sn))
}

func (h *Handler) deleteSubnet(c *fiber.Ctx) error {
	if err := h.svc.DeleteSubnet(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return noContent(c)
}
