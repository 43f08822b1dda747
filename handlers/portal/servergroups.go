package portal

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/views"
)

// Project > Server Groups: the project's groups with their policy and
// members; create (name and policy) and delete.

func (h *Handler) registerServerGroups(g fiber.Router) {
	g.Get("/server_groups", h.serverGroupList)
	g.Post("/server_groups", h.serverGroupCreate)
	g.Post("/server_groups/:id/delete", h.serverGroupDelete)
}

func (h *Handler) serverGroupList(c *fiber.Ctx) error {
	gs, err := h.compute.ServerGroups(c.UserContext(), api.Token(c), false)
	if err != nil {
		return err
	}
	v := views.ServerGroupList{Page: h.page(c, "server-groups", "groups.title"),
		Policies: []string{"anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity"}}
	for _, g := range gs {
		v.Groups = append(v.Groups, views.ServerGroupRow{ID: g.ID, Name: g.Name, Policy: g.Policy, Members: len(g.Members)})
	}
	return render(c, views.ServerGroupListPage(v))
}

func (h *Handler) serverGroupCreate(c *fiber.Ctx) error {
	name := strings.TrimSpace(c.FormValue("name"))
	_, err := h.compute.CreateServerGroup(c.UserContext(), api.Token(c), name, c.FormValue("policy"))
	return h.serverGroupDone(c, err, "groups.created_flash", name)
}

func (h *Handler) serverGroupDelete(c *fiber.Ctx) error {
	err := h.compute.DeleteServerGroup(c.UserContext(), api.Token(c), api.Param(c, "id"))
	return h.serverGroupDone(c, err, "groups.deleted_flash")
}

// serverGroupDone flashes the outcome (a refusal the user can fix: a bad
// name or policy, the server_groups quota) and goes back to the list.
func (h *Handler) serverGroupDone(c *fiber.Ctx, err error, okKey string, args ...any) error {
	var v *fault.Validation
	var over *fault.OverQuota
	switch {
	case err == nil:
		h.flash(c, "ok", okKey, args...)
	case errors.As(err, &v), errors.As(err, &over):
		h.flash(c, "error", "groups.refused", err.Error())
	default:
		return err
	}
	return c.Redirect("/project/server_groups", fiber.StatusSeeOther)
}
