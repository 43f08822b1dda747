package portal

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	idsvc "github.com/nimbus-cloud/nimbus/internal/identity"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/views"
)

var userFields = []string{"name", "email", "description", "password", "confirm", "default_project_id", "role_id", "enabled"}

func (h *Handler) userList(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	us, err := h.svc.Users(ctx, tok, store.UserFilter{})
	if err != nil {
		return err
	}
	ps, err := h.svc.Projects(ctx, tok, store.ProjectFilter{})
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, p := range ps {
		names[p.ID] = p.Name
	}
	o := readListOrder(c, "/admin/users", []string{"name", "email", "project", "enabled"})
	v := views.UserList{Page: h.page(c, "admin-users", "users.title"), Order: o.view()}
	for _, u := range us {
		if o.matches(u.Name, u.Email, names[u.DefaultProjectID]) {
			v.Users = append(v.Users, views.UserRow{ID: u.ID, Name: u.Name, Email: u.Email, Enabled: u.Enabled,
				DefaultProject: names[u.DefaultProjectID], Self: u.ID == tok.UserID})
		}
	}
	sortRows(v.Users, o, map[string]func(a, b views.UserRow) int{
		"name":    byText(func(r views.UserRow) string { return r.Name }),
		"email":   byText(func(r views.UserRow) string { return r.Email }),
		"project": byText(func(r views.UserRow) string { return r.DefaultProject }),
		"enabled": byInt(func(r views.UserRow) int { return boolInt(r.Enabled) }),
	})
	return render(c, views.UserListPage(v))
}

// userFormView fills the choices a user form offers.
func (h *Handler) userFormView(c *fiber.Ctx, id string, f views.Form, titleKey string, args ...any) (views.UserForm, error) {
	ctx, tok := c.UserContext(), api.Token(c)
	v := views.UserForm{Page: h.page(c, "admin-users", titleKey, args...), Form: f, ID: id}
	ps, err := h.svc.Projects(ctx, tok, store.ProjectFilter{})
	if err != nil {
		return v, err
	}
	for _, p := range ps {
		v.Projects = append(v.Projects, views.Ref{ID: p.ID, Name: p.Name})
	}
	rs, err := h.svc.Roles(ctx, tok, "")
	if err != nil {
		return v, err
	}
	for _, r := range rs {
		v.Roles = append(v.Roles, views.Ref{ID: r.ID, Name: r.Name})
	}
	if id != "" {
		as, err := h.svc.Assignments(ctx, tok, store.AssignmentFilter{UserID: id})
		if err != nil {
			return v, err
		}
		for _, a := range as {
			n := len(v.Assignments)
			if n == 0 || v.Assignments[n-1].Project.ID != a.ProjectID {
				v.Assignments = append(v.Assignments, views.ProjectRoles{Project: views.Ref{ID: a.ProjectID, Name: a.ProjectName}})
				n++
			}
			v.Assignments[n-1].Roles = append(v.Assignments[n-1].Roles, views.Ref{ID: a.RoleID, Name: a.RoleName})
		}
	}
	return v, nil
}

func (h *Handler) userNew(c *fiber.Ctx) error {
	v, err := h.userFormView(c, "", views.Form{Values: map[string]string{"enabled": "on"}}, "users.create_title")
	if err != nil {
		return err
	}
	for _, r := range v.Roles {
		if r.Name == model.RoleMember {
			v.Form.Values["role_id"] = r.ID
		}
	}
	return render(c, views.UserFormPage(v))
}

// checkPasswords compares the two password fields; an empty password is
// refused only when required.
func checkPasswords(c *fiber.Ctx, f *views.Form, required bool) {
	ctx := c.UserContext()
	switch {
	case f.V("password") == "" && required:
		f.Errors["password"] = i18n.T(ctx, "form.required")
	case f.V("password") != f.V("confirm"):
		f.Errors["confirm"] = i18n.T(ctx, "form.password_mismatch")
	}
}

func (h *Handler) userCreate(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	f := readForm(c, userFields...)
	checkPasswords(c, &f, true)
	if f.V("role_id") != "" && f.V("default_project_id") == "" {
		f.Errors["role_id"] = i18n.T(ctx, "form.role_needs_project")
	}
	var u model.User
	var err error
	if len(f.Errors) == 0 {
		u, err = h.svc.CreateUser(ctx, tok, idsvc.UserInput{
			Name: f.V("name"), Email: f.V("email"), Description: f.V("description"),
			Enabled: f.V("enabled") == "on", DefaultProjectID: f.V("default_project_id"),
			Password: f.V("password"), SetPassword: true,
		})
		if err == nil && f.V("role_id") != "" {
			err = h.svc.Grant(ctx, tok, f.V("default_project_id"), u.ID, f.V("role_id"))
		}
		if fieldError(ctx, &f, err, "name") {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	if len(f.Errors) > 0 {
		v, err := h.userFormView(c, "", f, "users.create_title")
		if err != nil {
			return err
		}
		c.Status(fiber.StatusUnprocessableEntity)
		return render(c, views.UserFormPage(v))
	}
	h.flash(c, "ok", "users.created", u.Name)
	return c.Redirect("/admin/users", fiber.StatusSeeOther)
}

func (h *Handler) userEdit(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	u, err := h.svc.User(c.UserContext(), api.Token(c), id)
	if err != nil {
		return err
	}
	f := views.Form{Values: map[string]string{"name": u.Name, "email": u.Email, "description": u.Description,
		"default_project_id": u.DefaultProjectID, "enabled": onOff(u.Enabled)}}
	v, err := h.userFormView(c, id, f, "users.edit_title", u.Name)
	if err != nil {
		return err
	}
	return render(c, views.UserFormPage(v))
}

func (h *Handler) userUpdate(c *fiber.Ctx) error {
	ctx, tok, id := c.UserContext(), api.Token(c), api.Param(c, "id")
	f := readForm(c, userFields...)
	checkPasswords(c, &f, false)
	var u model.User
	var err error
	if len(f.Errors) == 0 {
		u, err = h.svc.UpdateUser(ctx, tok, id, func(in *idsvc.UserInput) {
			in.Name, in.Email, in.Description = f.V("name"), f.V("email"), f.V("description")
			in.DefaultProjectID = f.V("default_project_id")
			// An admin cannot lock themselves out by unticking the box.
			in.Enabled = f.V("enabled") == "on" || id == tok.UserID
			if f.V("password") != "" {
				in.Password, in.SetPassword = f.V("password"), true
			}
		})
		if fieldError(ctx, &f, err, "name") {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	if len(f.Errors) > 0 {
		v, err := h.userFormView(c, id, f, "users.edit_title", f.V("name"))
		if err != nil {
			return err
		}
		c.Status(fiber.StatusUnprocessableEntity)
		return render(c, views.UserFormPage(v))
	}
	h.flash(c, "ok", "users.updated", u.Name)
	return c.Redirect("/admin/users", fiber.StatusSeeOther)
}

func (h *Handler) userSetEnabled(on bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		tok, id := api.Token(c), api.Param(c, "id")
		if id == tok.UserID && !on {
			h.flash(c, "error", "error.403.message")
			return c.Redirect("/admin/users", fiber.StatusSeeOther)
		}
		if _, err := h.svc.UpdateUser(c.UserContext(), tok, id, func(in *idsvc.UserInput) { in.Enabled = on }); err != nil {
			return err
		}
		if on {
			h.flash(c, "ok", "users.enabled_flash")
		} else {
			h.flash(c, "ok", "users.disabled_flash")
		}
		return c.Redirect("/admin/users", fiber.StatusSeeOther)
	}
}

func (h *Handler) userDelete(c *fiber.Ctx) error {
	tok, id := api.Token(c), api.Param(c, "id")
	if id == tok.UserID {
		h.flash(c, "error", "error.self_delete")
		return c.Redirect("/admin/users", fiber.StatusSeeOther)
	}
	if err := h.svc.DeleteUser(c.UserContext(), tok, id); err != nil {
		return err
	}
	h.flash(c, "ok", "users.deleted")
	return c.Redirect("/admin/users", fiber.StatusSeeOther)
}
