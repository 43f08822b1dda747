package network

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/model"
	netsvc "github.com/nimbus-cloud/nimbus/internal/network"
)

func (h *Handler) registerSecurityGroups(a fiber.Router) {
	a.Get("/security-groups", h.listGroups)
	a.Post("/security-groups", h.createGroup)
	a.Get("/security-groups/:id", h.showGroup)
	a.Put("/security-groups/:id", h.updateGroup)
	a.Delete("/security-groups/:id", h.deleteGroup)
	a.Get("/security-group-rules", h.listRules)
	a.Post("/security-group-rules", h.createRule)
	a.Get("/security-group-rules/:id", h.showRule)
	a.Delete("/security-group-rules/:id", h.deleteRule)
}

func ruleJSON(r model.SecurityGroupRule) fiber.Map {
	intOrNil := func(p *int) any {
		if p == nil {
			return nil
		}
		return *p
	}
	return standard(fiber.Map{"security_group_id": r.GroupID, "direction": r.Direction, "ethertype": r.Ethertype,
		"protocol": nilIfEmpty(r.Protocol), "port_range_min": intOrNil(r.PortRangeMin),
		"port_range_max": intOrNil(r.PortRangeMax), "remote_ip_prefix": nilIfEmpty(r.RemoteIPPrefix),
		"normalized_cidr": nilIfEmpty(r.RemoteIPPrefix), "remote_group_id": nilIfEmpty(r.RemoteGroupID),
		"remote_address_group_id": nil, "belongs_to_default_sg": nil},
		r.ID, r.ProjectID, r.Description, r.Revision, r.CreatedAt, r.UpdatedAt)
}

func groupJSON(g model.SecurityGroup) fiber.Map {
	rules := make([]fiber.Map, len(g.Rules))
	for i, r := range g.Rules {
		rules[i] = ruleJSON(r)
	}
	return standard(fiber.Map{"name": g.Name, "stateful": g.Stateful, "shared": false, "security_group_rules": rules},
		g.ID, g.ProjectID, g.Description, g.Revision, g.CreatedAt, g.UpdatedAt)
}

func (h *Handler) listGroups(c *fiber.Ctx) error {
	gs, err := h.svc.SecurityGroups(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	items := make([]fiber.Map, len(gs))
	for i, g := range gs {
		items[i] = groupJSON(g)
	}
	return h.list(c, "security_groups", items)
}

func (h *Handler) createGroup(c *fiber.Ctx) error {
	var in netsvc.GroupInput
	if err := decode(c, "security_group", &in); err != nil {
		return err
	}
	g, err := h.svc.CreateSecurityGroup(c.UserContext(), api.Token(c), in)
	if err != nil {
		return err
	}
	return one(c, fiber.StatusCreated, "security_group", groupJSON(g))
}

func (h *Handler) showGroup(c *fiber.Ctx) error {
	g, err := h.svc.SecurityGroup(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return one(c, fiber.StatusOK, "security_group", groupJSON(g))
}

func (h *Handler) updateGroup(c *fiber.Ctx) error {
	var in netsvc.GroupInput
	if err := decode(c, "security_group", &in); err != nil {
		return err
	}
	g, err := h.svc.UpdateSecurityGroup(c.UserContext(), api.Token(c), api.Param(c, "id"), in)
	if err != nil {
		return err
	}
	return one(c, fiber.StatusOK, "security_group", groupJSON(g))
}

func (h *Handler) deleteGroup(c *fiber.Ctx) error {
	if err := h.svc.DeleteSecurityGroup(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return noContent(c)
}

func (h *Handler) listRules(c *fiber.Ctx) error {
	rs, err := h.svc.SecurityGroupRules(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	items := make([]fiber.Map, len(rs))
	for i, r := range rs {
		items[i] = ruleJSON(r)
	}
	return h.list(c, "security_group_rules", items)
}

func (h *Handler) createRule(c *fiber.Ctx) error {
	var in netsvc.RuleInput
	if err := decode(c, "security_group_rule", &in); err != nil {
		return err
	}
	r, err := h.svc.CreateSecurityGroupRule(c.UserContext(), api.Token(c), in)
	if err != nil {
		return err
	}
	return one(c, fiber.StatusCreated, "security_group_rule", ruleJSON(r))
}

func (h *Handler) showRule(c *fiber.Ctx) error {
	r, err := h.svc.SecurityGroupRule(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return one(c, fiber.StatusOK, "security_group_rule", ruleJSON(r))
}

func (h *Handler) deleteRule(c *fiber.Ctx) error {
	if err := h.svc.DeleteSecurityGroupRule(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return noContent(c)
}
