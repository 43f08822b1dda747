package network

import (
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/model"
	netsvc "github.com/nimbus-cloud/nimbus/internal/network"
)

func (h *Handler) registerRouters(a fiber.Router) {
	a.Get("/routers", h.listRouters)
	a.Post("/routers", h.createRouter)
	a.Get("/routers/:id", h.showRouter)
	a.Put("/routers/:id", h.updateRouter)
	a.Delete("/routers/:id", h.deleteRouter)
	a.Put("/routers/:id/add_router_interface", h.routerInterface(true))
	a.Put("/routers/:id/remove_router_interface", h.routerInterface(false))
	a.Get("/floatingips", h.listFloatingIPs)
	a.Post("/floatingips", h.createFloatingIP)
	a.Get("/floatingips/:id", h.showFloatingIP)
	a.Put("/floatingips/:id", h.updateFloatingIP)
	a.Delete("/floatingips/:id", h.deleteFloatingIP)
}

func routerJSON(r model.Router) fiber.Map {
	var gw any
	if r.GatewayNetID != "" {
		ips := make([]fiber.Map, len(r.GatewayIPs))
		for i, f := range r.GatewayIPs {
			ips[i] = fiber.Map{"subnet_id": f.SubnetID, "ip_address": f.IPAddress}
		}
		gw = fiber.Map{"network_id": r.GatewayNetID, "enable_snat": r.EnableSNAT, "external_fixed_ips": ips}
	}
	routes := r.Routes
	if routes == nil {
		routes = []model.HostRoute{}
	}
	return standard(fiber.Map{"name": r.Name, "admin_state_up": r.AdminStateUp, "status": upDown(r.AdminStateUp),
		"external_gateway_info": gw, "routes": routes, "distributed": false, "ha": false,
		"availability_zone_hints": []string{}, "availability_zones": []string{"nova"}, "flavor_id": nil},
		r.ID, r.ProjectID, r.Description, r.Revision, r.CreatedAt, r.UpdatedAt)
}

func (h *Handler) listRouters(c *fiber.Ctx) error {
	rs, err := h.svc.Routers(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	items := make([]fiber.Map, len(rs))
	for i, r := range rs {
		items[i] = routerJSON(r)
	}
	return h.list(c, "routers", items)
}

func (h *Handler) createRouter(c *fiber.Ctx) error {
	var in netsvc.RouterInput
	if err := decode(c, "router", &in); err != nil {
		return err
	}
	r, err := h.svc.CreateRouter(c.UserContext(), api.Token(c), in)
	if err != nil {
		return err
	}
	return one(c, fiber.StatusCreated, "router", routerJSON(r))
}

func (h *Handler) showRouter(c *fiber.Ctx) error {
	r, err := h.svc.Router(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return one(c, fiber.StatusOK, "router", routerJSON(r))
}

func (h *Handler) updateRouter(c *fiber.Ctx) error {
	var in netsvc.RouterInput
	if err := decode(c, "router", &in); err != nil {
		return err
	}
	// external_gateway_info: null (or {}) clears the gateway; absent
	// leaves it, which the typed body cannot tell apart.
	var raw struct {
		Router map[string]json.RawMessage `json:"router"`
	}
	_ = json.Unmarshal(c.Body(), &raw)
	_, gatewayGiven := raw.Router["external_gateway_info"]
	r, err := h.svc.UpdateRouter(c.UserContext(), api.Token(c), api.Param(c, "id"), in, gatewayGiven)
	if err != nil {
		return err
	}
	return one(c, fiber.StatusOK, "router", routerJSON(r))
}

func (h *Handler) deleteRouter(c *fiber.Ctx) error {
	if err := h.svc.DeleteRouter(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return noContent(c)
}

// routerInterface serves add_router_interface and remove_router_interface,
// whose bodies are bare ({"subnet_id": ...}), not wrapped.
func (h *Handler) routerInterface(add bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var b struct {
			SubnetID string `json:"subnet_id"`
			PortID   string `json:"port_id"`
		}
		if err := json.Unmarshal(c.Body(), &b); err != nil {
			return decode(c, "", nil)
		}
		op := h.svc.RemoveRouterInterface
		if add {
			op = h.svc.AddRouterInterface
		}
		info, err := op(c.UserContext(), api.Token(c), api.Param(c, "id"), b.SubnetID, b.PortID)
		if err != nil {
			return err
		}
		m := fiber.Map{"id": info.RouterID, "tenant_id": info.ProjectID, "project_id": info.ProjectID,
			"port_id": info.PortID, "network_id": info.NetworkID, "subnet_ids": info.SubnetIDs, "tags": []string{}}
		if len(info.SubnetIDs) > 0 {
			m["subnet_id"] = info.SubnetIDs[0]
		}
		return c.JSON(m)
	}
}

func floatingJSON(f model.FloatingIP) fiber.Map {
	return standard(fiber.Map{"floating_ip_address": f.Address, "floating_network_id": f.NetworkID,
		"port_id": nilIfEmpty(f.PortID), "fixed_ip_address": nilIfEmpty(f.FixedIP), "router_id": nilIfEmpty(f.RouterID),
		"status": f.Status(), "port_forwardings": []fiber.Map{}, "qos_policy_id": nil, "dns_domain": "", "dns_name": ""},
		f.ID, f.ProjectID, f.Description, f.Revision, f.CreatedAt, f.UpdatedAt)
}

func (h *Handler) listFloatingIPs(c *fiber.Ctx) error {
	fs, err := h.svc.FloatingIPs(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	items := make([]fiber.Map, len(fs))
	for i, f := range fs {
		items[i] = floatingJSON(f)
	}
	return h.list(c, "floatingips", items)
}

func (h *Handler) createFloatingIP(c *fiber.Ctx) error {
	var in netsvc.FloatingIPInput
	if err := decode(c, "floatingip", &in); err != nil {
		return err
	}
	f, err := h.svc.CreateFloatingIP(c.UserContext(), api.Token(c), in)
	if err != nil {
		return err
	}
	return one(c, fiber.StatusCreated, "floatingip", floatingJSON(f))
}

func (h *Handler) showFloatingIP(c *fiber.Ctx) error {
	f, err := h.svc.FloatingIP(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return one(c, fiber.StatusOK, "floatingip", floatingJSON(f))
}

func (h *Handler) updateFloatingIP(c *fiber.Ctx) error {
	var in netsvc.FloatingIPInput
	if err := decode(c, "floatingip", &in); err != nil {
		return err
	}
	f, err := h.svc.UpdateFloatingIP(c.UserContext(), api.Token(c), api.Param(c, "id"), in)
	if err != nil {
		return err
	}
	return one(c, fiber.StatusOK, "floatingip", floatingJSON(f))
}

func (h *Handler) deleteFloatingIP(c *fiber.Ctx) error {
	if err := h.svc.DeleteFloatingIP(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return noContent(c)
}
