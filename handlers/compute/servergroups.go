package compute

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

// registerServerGroups mounts os-server-groups.
func (h *Handler) registerServerGroups(a fiber.Router) {
	a.Get("/os-server-groups", h.listServerGroups)
	a.Post("/os-server-groups", h.createServerGroup)
	a.Get("/os-server-groups/:id", h.showServerGroup)
	a.Delete("/os-server-groups/:id", h.deleteServerGroup)
}

// serverGroupJSON is Nova's server group below 2.64 (policies as a list).
func serverGroupJSON(c *fiber.Ctx, g model.ServerGroup) fiber.Map {
	m := fiber.Map{"id": g.ID, "name": g.Name, "policies": []string{g.Policy}, "members": g.Members, "metadata": fiber.Map{}}
	if version(c).AtLeast(2, 13) {
		m["project_id"], m["user_id"] = g.ProjectID, g.UserID
	}
	return m
}

func (h *Handler) createServerGroup(c *fiber.Ctx) error {
	var b struct {
		Group *struct {
			Name     *string  `json:"name"`
			Policies []string `json:"policies"`
		} `json:"server_group"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.Group == nil || b.Group.Name == nil {
		return fault.InvalidAs("required", "name", "Invalid input for field/attribute name. 'name' is a required property")
	}
	if len(b.Group.Policies) != 1 {
		return fault.Invalid("policies", "Invalid input for field/attribute policies: exactly one policy is required.")
	}
	pol := b.Group.Policies[0]
	if strings.HasPrefix(pol, "soft-") && !version(c).AtLeast(2, 15) {
		return fault.Invalid("policies", "Invalid input for field/attribute policies. %q needs microversion 2.15 or later.", pol)
	}
	g, err := h.svc.CreateServerGroup(c.UserContext(), api.Token(c), *b.Group.Name, pol)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"server_group": serverGroupJSON(c, g)})
}

func (h *Handler) listServerGroups(c *fiber.Ctx) error {
	all := strings.EqualFold(c.Query("all_projects"), "true") || c.Query("all_projects") == "1"
	gs, err := h.svc.ServerGroups(c.UserContext(), api.Token(c), all)
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(gs))
	for i, g := range gs {
		out[i] = serverGroupJSON(c, g)
	}
	return c.JSON(fiber.Map{"server_groups": out})
}

func (h *Handler) showServerGroup(c *fiber.Ctx) error {
	g, err := h.svc.ServerGroup(c.UserContext(), api.Token(c), api.Param(c, "id"), policy.ShowServerGroup)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"server_group": serverGroupJSON(c, g)})
}

func (h *Handler) deleteServerGroup(c *fiber.Ctx) error {
	if err := h.svc.DeleteServerGroup(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
