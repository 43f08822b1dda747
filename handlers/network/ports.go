package network

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/model"
	netsvc "github.com/nimbus-cloud/nimbus/internal/network"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

func (h *Handler) registerPorts(a fiber.Router) {
	a.Get("/ports", h.listPorts)
	a.Post("/ports", h.createPort)
	a.Get("/ports/:id", h.showPort)
	a.Put("/ports/:id", h.updatePort)
	a.Delete("/ports/:id", h.deletePort)
}

func portJSON(c *fiber.Ctx, p model.Port) fiber.Map {
	ips := make([]fiber.Map, len(p.FixedIPs))
	for i, f := range p.FixedIPs {
		ips[i] = fiber.Map{"subnet_id": f.SubnetID, "ip_address": f.IPAddress}
	}
	groups := p.SecurityGroups
	if groups == nil {
		groups = []string{}
	}
	pairs := p.AddressPairs
	if pairs == nil {
		pairs = []model.AddressPair{}
	}
	for i := range pairs {
		if pairs[i].MACAddress == "" {
			pairs[i].MACAddress = p.MACAddress
		}
	}
	m := standard(fiber.Map{"name": p.Name, "network_id": p.NetworkID, "mac_address": p.MACAddress,
		"admin_state_up": p.AdminStateUp, "status": p.Status, "device_id": p.DeviceID, "device_owner": p.DeviceOwner,
		"fixed_ips": ips, "security_groups": groups, "allowed_address_pairs": pairs,
		"port_security_enabled": p.PortSecurity, "extra_dhcp_opts": []fiber.Map{}, "binding:vnic_type": "normal"},
		p.ID, p.ProjectID, p.Description, p.Revision, p.CreatedAt, p.UpdatedAt)
	if netsvc.ShowsBinding(api.Token(c)) {
		m["binding:host_id"] = p.Host
		m["binding:profile"] = fiber.Map{}
		m["binding:vif_details"] = fiber.Map{}
		if p.Host != "" {
			m["binding:vif_type"] = "tap"
		} else {
			m["binding:vif_type"] = "unbound"
		}
	}
	return m
}

func (h *Handler) listPorts(c *fiber.Ctx) error {
	ps, err := h.svc.Ports(c.UserContext(), api.Token(c), store.PortFilter{NetworkID: c.Query("network_id"),
		DeviceID: c.Query("device_id")})
	if err != nil {
		return err
	}
	items := make([]fiber.Map, len(ps))
	for i, p := range ps {
		items[i] = portJSON(c, p)
	}
	return h.list(c, "ports", items)
}

func (h *Handler) createPort(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	return create(c, creator[netsvc.PortInput, model.Port]{key: "port", plural: "ports",
		make: func(in netsvc.PortInput) (model.Port, error) { return h.svc.CreatePort(ctx, tok, in) },
		undo: func(p model.Port) error { return h.svc.DeletePort(ctx, tok, p.ID) },
		view: func(p model.Port) fiber.Map { return portJSON(c, p) }})
}

func (h *Handler) showPort(c *fiber.Ctx) error {
	p, err := h.svc.Port(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return one(c, fiber.StatusOK, "port", portJSON(c, p))
}

func (h *Handler) updatePort(c *fiber.Ctx) error {
	var in netsvc.PortInput
	if err := decode(c, "port", &in); err != nil {
		return err
	}
	p, err := h.svc.UpdatePort(c.UserContext(), api.Token(c), api.Param(c, "id"), in)
	if err != nil {
		return err
	}
	return one(c, fiber.StatusOK, "port", portJSON(c, p))
}

func (h *Handler) deletePort(c *fiber.Ctx) error {
	if err := h.svc.DeletePort(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return noContent(c)
}
