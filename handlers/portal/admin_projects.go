package portal

import (
	"errors"
	"sort"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	idsvc "github.com/nimbus-cloud/nimbus/internal/identity"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/views"
)

func (h *Handler) projectList(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	ps, err := h.svc.Projects(ctx, tok, store.ProjectFilter{})
	if err != nil {
		return err
	}
	as, err := h.svc.Assignments(ctx, tok, store.AssignmentFilter{})
	if err != nil {
		return err
	}
	members := map[string]map[string]bool{}
	for _, a := range as {
		if members[a.ProjectID] == nil {
			members[a.ProjectID] = map[string]bool{}
		}
		members[a.ProjectID][a.UserID] = true
	}
	o := readListOrder(c, "/admin/projects", []string{"name", "members", "enabled"})
	v := views.ProjectList{Page: h.page(c, "admin-projects", "projects.title"), Order: o.view()}
	for _, p := range ps {
		if o.matches(p.Name, p.Description) {
			v.Projects = append(v.Projects, views.ProjectRow{ID: p.ID, Name: p.Name, Description: p.Description,
				Enabled: p.Enabled, Members: len(members[p.ID])})
		}
	}
	sortRows(v.Projects, o, map[string]func(a, b views.ProjectRow) int{
		"name":    byText(func(r views.ProjectRow) string { return r.Name }),
		"members": byInt(func(r views.ProjectRow) int { return r.Members }),
		"enabled": byInt(func(r views.ProjectRow) int { return boolInt(r.Enabled) }),
	})
	return render(c, views.ProjectListPage(v))
}

var projectFields = []string{"name", "description", "enabled"}

func (h *Handler) projectNew(c *fiber.Ctx) error {
	f := views.Form{Values: map[string]string{"enabled": "on"}}
	return render(c, views.ProjectFormPage(views.ProjectForm{Page: h.page(c, "admin-projects", "projects.create_title"), Form: f}))
}

func (h *Handler) projectCreate(c *fiber.Ctx) error {
	ctx := c.UserContext()
	f := readForm(c, projectFields...)
	p, err := h.svc.CreateProject(ctx, api.Token(c), idsvc.ProjectInput{
		Name: f.V("name"), Description: f.V("description"), Enabled: f.V("enabled") == "on",
	})
	if fieldError(ctx, &f, err, "name") {
		c.Status(fiber.StatusUnprocessableEntity)
		return render(c, views.ProjectFormPage(views.ProjectForm{Page: h.page(c, "admin-projects", "projects.create_title"), Form: f}))
	}
	if err != nil {
		return err
	}
	h.flash(c, "ok", "projects.created", p.Name)
	return c.Redirect("/admin/projects", fiber.StatusSeeOther)
}

func (h *Handler) projectEdit(c *fiber.Ctx) error {
	p, err := h.svc.Project(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	f := views.Form{Values: map[string]string{"name": p.Name, "description": p.Description, "enabled": onOff(p.Enabled)}}
	return render(c, views.ProjectFormPage(views.ProjectForm{Page: h.page(c, "admin-projects", "projects.edit_title", p.Name), Form: f, ID: p.ID}))
}

func (h *Handler) projectUpdate(c *fiber.Ctx) error {
	ctx, id := c.UserContext(), api.Param(c, "id")
	f := readForm(c, projectFields...)
	p, err := h.svc.UpdateProject(ctx, api.Token(c), id, func(in *idsvc.ProjectInput) {
		in.Name, in.Description, in.Enabled = f.V("name"), f.V("description"), f.V("enabled") == "on"
	})
	if fieldError(ctx, &f, err, "name") {
		c.Status(fiber.StatusUnprocessableEntity)
		return render(c, views.ProjectFormPage(views.ProjectForm{Page: h.page(c, "admin-projects", "projects.edit_title", f.V("name")), Form: f, ID: id}))
	}
	if err != nil {
		return err
	}
	h.flash(c, "ok", "projects.updated", p.Name)
	return c.Redirect("/admin/projects", fiber.StatusSeeOther)
}

func (h *Handler) projectSetEnabled(on bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		_, err := h.svc.UpdateProject(c.UserContext(), api.Token(c), api.Param(c, "id"), func(in *idsvc.ProjectInput) { in.Enabled = on })
		if err != nil {
			return err
		}
		if on {
			h.flash(c, "ok", "projects.enabled_flash")
		} else {
			h.flash(c, "ok", "projects.disabled_flash")
		}
		return c.Redirect("/admin/projects", fiber.StatusSeeOther)
	}
}

func (h *Handler) projectDelete(c *fiber.Ctx) error {
	if err := h.svc.DeleteProject(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	h.flash(c, "ok", "projects.deleted")
	return c.Redirect("/admin/projects", fiber.StatusSeeOther)
}

func (h *Handler) membersView(c *fiber.Ctx, id string, f views.Form) (views.ProjectMembers, error) {
	ctx, tok := c.UserContext(), api.Token(c)
	p, err := h.svc.Project(ctx, tok, id)
	if err != nil {
		return views.ProjectMembers{}, err
	}
	as, err := h.svc.Assignments(ctx, tok, store.AssignmentFilter{ProjectID: id})
	if err != nil {
		return views.ProjectMembers{}, err
	}
	users, err := h.svc.Users(ctx, tok, store.UserFilter{})
	if err != nil {
		return views.ProjectMembers{}, err
	}
	roles, err := h.svc.Roles(ctx, tok, "")
	if err != nil {
		return views.ProjectMembers{}, err
	}
	v := views.ProjectMembers{Page: h.page(c, "admin-projects", "members.title", p.Name), Form: f,
		Project: views.Ref{ID: p.ID, Name: p.Name}}
	byUser := map[string]int{}
	for _, a := range as {
		i, ok := byUser[a.UserID]
		if !ok {
			i = len(v.Members)
			byUser[a.UserID] = i
			v.Members = append(v.Members, views.MemberRow{UserID: a.UserID, UserName: a.UserName})
		}
		v.Members[i].Roles = append(v.Members[i].Roles, views.Ref{ID: a.RoleID, Name: a.RoleName})
	}
	sort.Slice(v.Members, func(i, j int) bool { return v.Members[i].UserName < v.Members[j].UserName })
	for _, u := range users {
		v.Users = append(v.Users, views.Ref{ID: u.ID, Name: u.Name})
	}
	for _, r := range roles {
		v.Roles = append(v.Roles, views.Ref{ID: r.ID, Name: r.Name})
	}
	return v, nil
}

func (h *Handler) membersPage(c *fiber.Ctx) error {
	v, err := h.membersView(c, api.Param(c, "id"), views.Form{})
	if err != nil {
		return err
	}
	return render(c, views.ProjectMembersPage(v))
}

func (h *Handler) memberAssign(c *fiber.Ctx) error {
	ctx, id := c.UserContext(), api.Param(c, "id")
	f := readForm(c, "user_id", "role_id")
	if f.V("user_id") == "" {
		f.Errors["user_id"] = i18n.T(ctx, "form.required")
	}
	if f.V("role_id") == "" {
		f.Errors["role_id"] = i18n.T(ctx, "form.required")
	}
	var err error
	if len(f.Errors) == 0 {
		err = h.svc.Grant(ctx, api.Token(c), id, f.V("user_id"), f.V("role_id"))
		if errors.Is(err, fault.ErrNotFound) {
			// The project exists (the page loads it); the user or role
			// chosen has gone since the form was drawn.
			if _, perr := h.svc.Project(ctx, api.Token(c), id); perr == nil {
				f.Errors["user_id"], err = i18n.T(ctx, "form.invalid"), nil
			}
		}
	}
	if err != nil {
		return err
	}
	if len(f.Errors) > 0 {
		v, err := h.membersView(c, id, f)
		if err != nil {
			return err
		}
		c.Status(fiber.StatusUnprocessableEntity)
		return render(c, views.ProjectMembersPage(v))
	}
	h.flash(c, "ok", "members.assigned")
	return c.Redirect("/admin/projects/"+id+"/members", fiber.StatusSeeOther)
}

func (h *Handler) memberRemove(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	err := h.svc.RevokeGrant(c.UserContext(), api.Token(c), id, formValue(c, "user_id"), formValue(c, "role_id"))
	if err != nil {
		return err
	}
	h.flash(c, "ok", "members.removed")
	return c.Redirect("/admin/projects/"+id+"/members", fiber.StatusSeeOther)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return ""
}
