package identity

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

func (h *Handler) roleJSON(r model.Role) fiber.Map {
	return fiber.Map{"id": r.ID, "name": r.Name, "domain_id": nil, "description": r.Description,
		"options": fiber.Map{}, "links": h.selfLink("roles", r.ID)}
}

type roleBody struct {
	Role *struct {
		Name        *string `json:"name"`
		Description *string `json:"description"`
	} `json:"role"`
}

func (h *Handler) listRoles(c *fiber.Ctx) error {
	rs, err := h.svc.Roles(c.UserContext(), api.Token(c), query(c, "name"))
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(rs))
	for i, r := range rs {
		out[i] = h.roleJSON(r)
	}
	return c.JSON(fiber.Map{"roles": out, "links": h.listLinks("roles")})
}

func (h *Handler) getRole(c *fiber.Ctx) error {
	r, err := h.svc.Role(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"role": h.roleJSON(r)})
}

func (h *Handler) createRole(c *fiber.Ctx) error {
	var b roleBody
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.Role == nil || b.Role.Name == nil {
		return invalid("role.name", "is required")
	}
	desc := ""
	setIf(&desc, b.Role.Description)
	r, err := h.svc.CreateRole(c.UserContext(), api.Token(c), *b.Role.Name, desc)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"role": h.roleJSON(r)})
}

func (h *Handler) updateRole(c *fiber.Ctx) error {
	var b roleBody
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.Role == nil {
		return invalid("role", "is required")
	}
	r, err := h.svc.UpdateRole(c.UserContext(), api.Token(c), api.Param(c, "id"), func(r *model.Role) {
		setIf(&r.Name, b.Role.Name)
		setIf(&r.Description, b.Role.Description)
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"role": h.roleJSON(r)})
}

func (h *Handler) deleteRole(c *fiber.Ctx) error {
	if err := h.svc.DeleteRole(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) domainJSON(d model.Domain) fiber.Map {
	return fiber.Map{"id": d.ID, "name": d.Name, "description": d.Description, "enabled": d.Enabled,
		"tags": []string{}, "options": fiber.Map{}, "links": h.selfLink("domains", d.ID)}
}

func (h *Handler) listDomains(c *fiber.Ctx) error {
	ds, err := h.svc.Domains(c.UserContext(), api.Token(c), query(c, "name"))
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(ds))
	for i, d := range ds {
		out[i] = h.domainJSON(d)
	}
	return c.JSON(fiber.Map{"domains": out, "links": h.listLinks("domains")})
}

func (h *Handler) getDomain(c *fiber.Ctx) error {
	d, err := h.svc.Domain(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"domain": h.domainJSON(d)})
}

func (h *Handler) grant(c *fiber.Ctx) error {
	if err := h.svc.Grant(c.UserContext(), api.Token(c), api.Param(c, "pid"), api.Param(c, "uid"), api.Param(c, "rid")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) revokeGrant(c *fiber.Ctx) error {
	if err := h.svc.RevokeGrant(c.UserContext(), api.Token(c), api.Param(c, "pid"), api.Param(c, "uid"), api.Param(c, "rid")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) checkGrant(c *fiber.Ctx) error {
	if err := h.svc.CheckGrant(c.UserContext(), api.Token(c), api.Param(c, "pid"), api.Param(c, "uid"), api.Param(c, "rid")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) listGrants(c *fiber.Ctx) error {
	pid, uid := api.Param(c, "pid"), api.Param(c, "uid")
	as, err := h.svc.Assignments(c.UserContext(), api.Token(c), store.AssignmentFilter{UserID: uid, ProjectID: pid})
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(as))
	for i, a := range as {
		out[i] = h.roleJSON(model.Role{ID: a.RoleID, Name: a.RoleName})
	}
	return c.JSON(fiber.Map{"roles": out, "links": h.listLinks("projects/" + pid + "/users/" + uid + "/roles")})
}

// listAssignments answers GET /v3/role_assignments with Keystone's filters.
// Only project assignments to users exist here, so filters on groups,
// domains or the system scope match nothing.
func (h *Handler) listAssignments(c *fiber.Ctx) error {
	if query(c, "group.id") != "" || query(c, "scope.domain.id") != "" || query(c, "scope.system") != "" {
		return c.JSON(fiber.Map{"role_assignments": []any{}, "links": h.listLinks("role_assignments")})
	}
	effective, names := flagQuery(c, "effective"), flagQuery(c, "include_names")
	as, err := h.svc.Assignments(c.UserContext(), api.Token(c), store.AssignmentFilter{
		UserID: query(c, "user.id"), ProjectID: query(c, "scope.project.id"), RoleID: query(c, "role.id"),
		Effective: effective,
	})
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(as))
	for i, a := range as {
		role := fiber.Map{"id": a.RoleID}
		user := fiber.Map{"id": a.UserID}
		project := fiber.Map{"id": a.ProjectID}
		if names {
			role["name"] = a.RoleName
			user["name"], user["domain"] = a.UserName, fiber.Map{"id": a.UserDomain.ID, "name": a.UserDomain.Name}
			project["name"], project["domain"] = a.ProjectName, fiber.Map{"id": a.ProjDomain.ID, "name": a.ProjDomain.Name}
		}
		out[i] = fiber.Map{
			"role": role, "user": user, "scope": fiber.Map{"project": project},
			"links": fiber.Map{"assignment": h.cfg.PublicURL + "/identity/v3/projects/" + a.ProjectID +
				"/users/" + a.UserID + "/roles/" + a.RoleID},
		}
	}
	return c.JSON(fiber.Map{"role_assignments": out, "links": h.listLinks("role_assignments")})
}
