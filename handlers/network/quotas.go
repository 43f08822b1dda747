package network

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	netsvc "github.com/nimbus-cloud/nimbus/internal/network"
)

func (h *Handler) registerQuotas(a fiber.Router) {
	a.Get("/quotas", h.listQuotas)
	a.Get("/quotas/:project", h.showQuota)
	a.Get("/quotas/:project/details", h.quotaDetails)
	a.Get("/quotas/:project/default", h.defaultQuota)
	a.Put("/quotas/:project", h.updateQuota)
	a.Delete("/quotas/:project", h.resetQuota)
}

func limitsJSON(q map[string]netsvc.QuotaUse) fiber.Map {
	m := fiber.Map{}
	for r, u := range q {
		m[r] = u.Limit
	}
	return m
}

func (h *Handler) listQuotas(c *fiber.Ctx) error {
	ps, err := h.svc.QuotaProjects(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	out := []fiber.Map{}
	for _, p := range ps {
		q, err := h.svc.Quotas(c.UserContext(), api.Token(c), p)
		if err != nil {
			continue // a project removed meanwhile
		}
		m := limitsJSON(q)
		m["project_id"], m["tenant_id"] = p, p
		out = append(out, m)
	}
	return c.JSON(fiber.Map{"quotas": out})
}

func (h *Handler) showQuota(c *fiber.Ctx) error {
	q, err := h.svc.Quotas(c.UserContext(), api.Token(c), api.Param(c, "project"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"quota": limitsJSON(q)})
}

func (h *Handler) quotaDetails(c *fiber.Ctx) error {
	q, err := h.svc.Quotas(c.UserContext(), api.Token(c), api.Param(c, "project"))
	if err != nil {
		return err
	}
	m := fiber.Map{}
	for r, u := range q {
		m[r] = fiber.Map{"limit": u.Limit, "used": u.Used, "reserved": 0}
	}
	return c.JSON(fiber.Map{"quota": m})
}

func (h *Handler) defaultQuota(c *fiber.Ctx) error {
	q, err := h.svc.DefaultQuotas(c.UserContext(), api.Token(c), api.Param(c, "project"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"quota": limitsJSON(q)})
}

func (h *Handler) updateQuota(c *fiber.Ctx) error {
	var in map[string]int
	if err := decode(c, "quota", &in); err != nil {
		return err
	}
	q, err := h.svc.UpdateQuotas(c.UserContext(), api.Token(c), api.Param(c, "project"), in)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"quota": limitsJSON(q)})
}

func (h *Handler) resetQuota(c *fiber.Ctx) error {
	if err := h.svc.ResetQuotas(c.UserContext(), api.Token(c), api.Param(c, "project")); err != nil {
		return err
	}
	return noContent(c)
}
