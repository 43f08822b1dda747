package volume

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/model"
	volsvc "github.com/nimbus-cloud/nimbus/internal/volume"
)

func (h *Handler) snapshotJSON(c *fiber.Ctx, s model.VolumeSnapshot) fiber.Map {
	m := fiber.Map{"id": s.ID, "volume_id": s.VolumeID, "name": s.Name, "description": s.Description,
		"size": s.SizeGB, "status": s.Status, "metadata": s.Metadata, "created_at": ts(s.CreatedAt),
		"updated_at": ts(s.UpdatedAt), "os-extended-snapshot-attributes:project_id": s.ProjectID,
		"os-extended-snapshot-attributes:progress": map[bool]string{true: "100%", false: "0%"}[s.Status == "available"]}
	if version(c).AtLeast(3, 41) {
		m["user_id"] = s.UserID
	}
	return m
}

func (h *Handler) listSnapshots(detail bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		all, _ := volsvc.ParseBool(c.Query("all_tenants", "0"))
		ss, err := h.svc.Snapshots(c.UserContext(), api.Token(c), all, c.Query("volume_id"))
		if err != nil {
			return err
		}
		out := make([]fiber.Map, 0, len(ss))
		for _, s := range ss {
			if (c.Query("status") != "" && s.Status != c.Query("status")) || (c.Query("name") != "" && s.Name != c.Query("name")) {
				continue
			}
			if detail {
				out = append(out, h.snapshotJSON(c, s))
			} else {
				out = append(out, fiber.Map{"id": s.ID, "name": s.Name, "volume_id": s.VolumeID, "status": s.Status,
					"size": s.SizeGB, "created_at": ts(s.CreatedAt), "description": s.Description, "metadata": s.Metadata})
			}
		}
		return c.JSON(fiber.Map{"snapshots": out})
	}
}

func (h *Handler) showSnapshot(c *fiber.Ctx) error {
	s, err := h.svc.GetSnapshot(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"snapshot": h.snapshotJSON(c, s)})
}

func (h *Handler) createSnapshot(c *fiber.Ctx) error {
	var in struct {
		VolumeID    string            `json:"volume_id"`
		Name        *string           `json:"name"`
		DisplayName *string           `json:"display_name"`
		Description string            `json:"description"`
		Force       flexBool          `json:"force"`
		Metadata    map[string]string `json:"metadata"`
	}
	if err := decode(c, "snapshot", &in); err != nil {
		return err
	}
	name := ""
	if in.Name != nil {
		name = *in.Name
	} else if in.DisplayName != nil {
		name = *in.DisplayName
	}
	s, err := h.svc.CreateSnapshot(c.UserContext(), api.Token(c), volsvc.SnapshotInput{VolumeID: in.VolumeID, Name: name,
		Description: in.Description, Force: in.Force.b, Metadata: in.Metadata})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"snapshot": h.snapshotJSON(c, s)})
}

func (h *Handler) updateSnapshot(c *fiber.Ctx) error {
	var in struct {
		Name        *string           `json:"name"`
		Description *string           `json:"description"`
		Metadata    map[string]string `json:"metadata"`
	}
	if err := decode(c, "snapshot", &in); err != nil {
		return err
	}
	s, err := h.svc.UpdateSnapshot(c.UserContext(), api.Token(c), api.Param(c, "id"), func(s *model.VolumeSnapshot) {
		if in.Name != nil {
			s.Name = *in.Name
		}
		if in.Description != nil {
			s.Description = *in.Description
		}
		if in.Metadata != nil {
			s.Metadata = in.Metadata
		}
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"snapshot": h.snapshotJSON(c, s)})
}

func (h *Handler) deleteSnapshot(c *fiber.Ctx) error {
	if err := h.svc.DeleteSnapshot(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return empty(c, fiber.StatusAccepted)
}
