package identity

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	idsvc "github.com/nimbus-cloud/nimbus/internal/identity"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

func (h *Handler) userJSON(u model.User) fiber.Map {
	m := fiber.Map{
		"id": u.ID, "name": u.Name, "domain_id": u.DomainID, "enabled": u.Enabled,
		"description": u.Description, "password_expires_at": nil, "options": fiber.Map{},
		"links": h.selfLink("users", u.ID),
	}
	if u.Email != "" {
		m["email"] = u.Email
	}
	if u.DefaultProjectID != "" {
		m["default_project_id"] = u.DefaultProjectID
	}
	return m
}

type userBody struct {
	User *struct {
		Name             *string `json:"name"`
		DomainID         string  `json:"domain_id"`
		Email            *string `json:"email"`
		Description      *string `json:"description"`
		Enabled          *bool   `json:"enabled"`
		DefaultProjectID *string `json:"default_project_id"`
		Password         *string `json:"password"`
	} `json:"user"`
}

func invalid(field, msg string) error { return fault.Invalid(field, "%s", msg) }

func (h *Handler) listUsers(c *fiber.Ctx) error {
	enabled, err := boolQuery(c, "enabled")
	if err != nil {
		return err
	}
	us, err := h.svc.Users(c.UserContext(), api.Token(c), store.UserFilter{
		Name: query(c, "name"), DomainID: query(c, "domain_id"), Enabled: enabled,
	})
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(us))
	for i, u := range us {
		out[i] = h.userJSON(u)
	}
	return c.JSON(fiber.Map{"users": out, "links": h.listLinks("users")})
}

func (h *Handler) getUser(c *fiber.Ctx) error {
	u, err := h.svc.User(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"user": h.userJSON(u)})
}

func (h *Handler) createUser(c *fiber.Ctx) error {
	var b userBody
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.User == nil || b.User.Name == nil {
		return invalid("user.name", "is required")
	}
	in := idsvc.UserInput{DomainID: b.User.DomainID, Name: *b.User.Name, Enabled: true}
	setIf(&in.Email, b.User.Email)
	setIf(&in.Description, b.User.Description)
	setIf(&in.Enabled, b.User.Enabled)
	setIf(&in.DefaultProjectID, b.User.DefaultProjectID)
	if b.User.Password != nil {
		in.Password, in.SetPassword = *b.User.Password, true
	}
	u, err := h.svc.CreateUser(c.UserContext(), api.Token(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"user": h.userJSON(u)})
}

func (h *Handler) updateUser(c *fiber.Ctx) error {
	var b userBody
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.User == nil {
		return invalid("user", "is required")
	}
	u, err := h.svc.UpdateUser(c.UserContext(), api.Token(c), api.Param(c, "id"), func(in *idsvc.UserInput) {
		setIf(&in.Name, b.User.Name)
		setIf(&in.Email, b.User.Email)
		setIf(&in.Description, b.User.Description)
		setIf(&in.Enabled, b.User.Enabled)
		setIf(&in.DefaultProjectID, b.User.DefaultProjectID)
		if b.User.Password != nil {
			in.Password, in.SetPassword = *b.User.Password, true
		}
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"user": h.userJSON(u)})
}

func (h *Handler) deleteUser(c *fiber.Ctx) error {
	if err := h.svc.DeleteUser(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) changePassword(c *fiber.Ctx) error {
	var b struct {
		User *struct {
			Password         string `json:"password"`
			OriginalPassword string `json:"original_password"`
		} `json:"user"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.User == nil || b.User.Password == "" || b.User.OriginalPassword == "" {
		return invalid("user", "password and original_password are required")
	}
	err := h.svc.ChangePassword(c.UserContext(), api.Token(c), api.Param(c, "id"),
		b.User.OriginalPassword, b.User.Password, api.ClientAddr(c, h.cfg.TrustedProxies))
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) userProjects(c *fiber.Ctx) error {
	ps, err := h.svc.UserProjects(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"projects": h.projectsJSON(ps), "links": h.listLinks("users/" + api.Param(c, "id") + "/projects")})
}
