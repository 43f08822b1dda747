package compute

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/network"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// registerInterfaces mounts os-interface.
func (h *Handler) registerInterfaces(a fiber.Router) {
	a.Get("/servers/:id/os-interface", h.listInterfaces)
	a.Post("/servers/:id/os-interface", h.attachInterface)
	a.Get("/servers/:id/os-interface/:port", h.showInterface)
	a.Delete("/servers/:id/os-interface/:port", h.detachInterface)
}

func interfaceJSON(p model.Port) fiber.Map {
	ips := make([]fiber.Map, len(p.FixedIPs))
	for i, f := range p.FixedIPs {
		ips[i] = fiber.Map{"subnet_id": f.SubnetID, "ip_address": f.IPAddress}
	}
	return fiber.Map{"port_id": p.ID, "net_id": p.NetworkID, "mac_addr": p.MACAddress, "port_state": p.Status, "fixed_ips": ips}
}

func (h *Handler) listInterfaces(c *fiber.Ctx) error {
	_, ports, err := h.svc.Interfaces(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(ports))
	for i, p := range ports {
		out[i] = interfaceJSON(p)
	}
	return c.JSON(fiber.Map{"interfaceAttachments": out})
}

func (h *Handler) showInterface(c *fiber.Ctx) error {
	_, ports, err := h.svc.Interfaces(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	port := api.Param(c, "port")
	for _, p := range ports {
		if p.ID == port {
			return c.JSON(fiber.Map{"interfaceAttachment": interfaceJSON(p)})
		}
	}
	return fault.NotFound("Port %s is not attached", port)
}

func (h *Handler) attachInterface(c *fiber.Ctx) error {
	var b struct {
		A *struct {
			NetID    *string `json:"net_id"`
			PortID   *string `json:"port_id"`
			FixedIPs []struct {
				IPAddress string `json:"ip_address"`
			} `json:"fixed_ips"`
		} `json:"interfaceAttachment"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	var r network.NICRequest
	if b.A != nil {
		for _, f := range []struct {
			v   *string
			dst *string
		}{{b.A.NetID, &r.NetworkID}, {b.A.PortID, &r.PortID}} {
			if f.v != nil {
				id, ok := validate.UUID(*f.v)
				if !ok {
					return fault.Invalid("interfaceAttachment", "Invalid input for field/attribute interfaceAttachment: %q is not a 'uuid'", *f.v)
				}
				*f.dst = id
			}
		}
		if len(b.A.FixedIPs) > 1 {
			return fault.Invalid("fixed_ips", "Invalid input for field/attribute fixed_ips: at most one address.")
		}
		if len(b.A.FixedIPs) == 1 {
			r.FixedIP = b.A.FixedIPs[0].IPAddress
		}
	}
	if r.NetworkID == "" && r.PortID == "" {
		return fault.Invalid("interfaceAttachment", "Invalid input: a net_id or a port_id is required (Nimbus does not pick a network for an interface).")
	}
	if r.PortID != "" {
		r.NetworkID, r.FixedIP = "", ""
	}
	p, err := h.svc.AttachInterface(c.UserContext(), api.Token(c), api.Param(c, "id"), r)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"interfaceAttachment": interfaceJSON(p)})
}

func (h *Handler) detachInterface(c *fiber.Ctx) error {
	if err := h.svc.DetachInterface(c.UserContext(), api.Token(c), api.Param(c, "id"), api.Param(c, "port")); err != nil {
		return err
	}
	return empty(c, fiber.StatusAccepted)
}
