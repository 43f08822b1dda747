package identity

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	idsvc "github.com/nimbus-cloud/nimbus/internal/identity"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

func (h *Handler) projectJSON(p model.Project) fiber.Map {
	return fiber.Map{
		"id": p.ID, "name": p.Name, "domain_id": p.DomainID, "description": p.Description,
		"enabled": p.Enabled, "parent_id": p.DomainID, "is_domain": false,
		"tags": []string{}, "options": fiber.Map{}, "links": h.selfLink("projects", p.ID),
	}
}

func (h *Handler) projectsJSON(ps []model.Project) []fiber.Map {
	out := make([]fiber.Map, len(ps))
	for i, p := range ps {
		out[i] = h.projectJSON(p)
	}
	return out
}

type projectBody struct {
	Project *struct {
		Name        *string `json:"name"`
		DomainID    string  `json:"domain_id"`
		Description *string `json:"description"`
		Enabled     *bool   `json:"enabled"`
	} `json:"project"`
}

func (h *Handler) listProjects(c *fiber.Ctx) error {
	enabled, err := boolQuery(c, "enabled")
	if err != nil {
		return err
	}
	ps, err := h.svc.Projects(c.UserContext(), api.Token(c), store.ProjectFilter{
		Name: query(c, "name"), DomainID: query(c, "domain_id"), Enabled: enabled,
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"projects": h.projectsJSON(ps), "links": h.listLinks("projects")})
}

func (h *Handler) getProject(c *fiber.Ctx) error {
	p, err := h.svc.Project(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"project": h.projectJSON(p)})
}

func (h *Handler) createProject(c *fiber.Ctx) error {
	var b projectBody
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.Project == nil || b.Project.Name == nil {
		return invalid("project.name", "is required")
	}
	in := idsvc.ProjectInput{DomainID: b.Project.DomainID, Name: *b.Project.Name, Enabled: true}
	if b.Project.Description != nil {
		in.Description = *b.Project.Description
	}
	if b.Project.Enabled != nil {
		in.Enabled = *b.Project.Enabled
	}
	p, err := h.svc.CreateProject(c.UserContext(), api.Token(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"project": h.projectJSON(p)})
}

func (h *Handler) updateProject(c *fiber.Ctx) error {
	var b projectBody
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.Project == nil {
		return invalid("project", "is required")
	}
	p, err := h.svc.UpdateProject(c.UserContext(), api.Token(c), api.Param(c, "id"), func(in *idsvc.ProjectInput) {
		setIf(&in.Name, b.Project.Name)
		setIf(&in.Description, b.Project.Description)
		setIf(&in.Enabled, b.Project.Enabled)
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"project": h.projectJSON(p)})
}

func (h *Handler) deleteProject(c *fiber.Ctx) error {
	if err := h.svc.DeleteProject(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
