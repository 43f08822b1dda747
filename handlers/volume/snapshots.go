package volume

import (
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	volsvc "github.com/nimbus-cloud/nimbus/internal/volume"
)

// snapshotJSON is a snapshot as Cinder shows it: with the extended
// attributes when shown or listed in detail (full), without them in a
// summary list or a create's or update's answer.
func (h *Handler) snapshotJSON(c *fiber.Ctx, s model.VolumeSnapshot, full bool) fiber.Map {
	m := fiber.Map{"id": s.ID, "volume_id": s.VolumeID, "name": s.Name, "description": s.Description,
		"size": s.SizeGB, "status": s.Status, "metadata": s.Metadata, "created_at": ts(s.CreatedAt),
		"updated_at": ts(s.UpdatedAt)}
	if full {
		m["os-extended-snapshot-attributes:project_id"] = s.ProjectID
		m["os-extended-snapshot-attributes:progress"] = map[bool]string{true: "100%", false: "0%"}[s.Status == "available"]
	}
	if version(c).AtLeast(3, 41) {
		m["user_id"] = s.UserID
	}
	return m
}

func (h *Handler) listSnapshots(detail bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		all, _ := volsvc.ParseBool(c.Query("all_tenants", "0"))
		limit, err := listLimit(c)
		if err != nil {
			return err
		}
		ss, err := h.svc.Snapshots(c.UserContext(), api.Token(c), all, c.Query("volume_id"))
		if err != nil {
			return err
		}
		if err := sortSnapshots(ss, c.Query("sort_key", c.Query("sort")), c.Query("sort_dir")); err != nil {
			return err
		}
		// Newest first; a marker starts the page after it.
		if m := c.Query("marker"); m != "" {
			at := -1
			for i, s := range ss {
				if s.ID == m {
					at = i
				}
			}
			if at < 0 {
				return fault.NotFound("Marker %s could not be found.", m)
			}
			ss = ss[at+1:]
		}
		if o := c.Query("offset"); o != "" {
			n, err := strconv.Atoi(o)
			if err != nil || n < 0 {
				return fault.Invalid("offset", "Invalid input received: offset must be an integer 0 or greater.")
			}
			ss = ss[min(n, len(ss)):]
		}
		out := make([]fiber.Map, 0, len(ss))
		for _, s := range ss {
			if (c.Query("status") != "" && s.Status != c.Query("status")) || (c.Query("name") != "" && s.Name != c.Query("name")) {
				continue
			}
			if limit >= 0 && len(out) == limit {
				break
			}
			out = append(out, h.snapshotJSON(c, s, detail))
		}
		return c.JSON(fiber.Map{"snapshots": out})
	}
}

// sortSnapshots orders a list as asked: key (created_at, id, name or
// display_name, status, size; "key:dir" too) and direction (desc the
// default, as Cinder's).
func sortSnapshots(ss []model.VolumeSnapshot, key, dir string) error {
	if k, d, ok := strings.Cut(key, ":"); ok {
		key, dir = k, d
	}
	if key == "" {
		key = "created_at"
	}
	less := map[string]func(a, b model.VolumeSnapshot) bool{
		"created_at":   func(a, b model.VolumeSnapshot) bool { return a.CreatedAt.Before(b.CreatedAt) },
		"id":           func(a, b model.VolumeSnapshot) bool { return a.ID < b.ID },
		"name":         func(a, b model.VolumeSnapshot) bool { return a.Name < b.Name },
		"display_name": func(a, b model.VolumeSnapshot) bool { return a.Name < b.Name },
		"status":       func(a, b model.VolumeSnapshot) bool { return a.Status < b.Status },
		"size":         func(a, b model.VolumeSnapshot) bool { return a.SizeGB < b.SizeGB },
	}[key]
	if less == nil {
		return fault.Invalid("sort_key", "Invalid input received: Invalid sort key %s.", key)
	}
	switch dir {
	case "", "desc":
		sort.SliceStable(ss, func(i, j int) bool { return less(ss[j], ss[i]) })
	case "asc":
		sort.SliceStable(ss, func(i, j int) bool { return less(ss[i], ss[j]) })
	default:
		return fault.Invalid("sort_dir", "Invalid input received: Invalid sort direction %s.", dir)
	}
	return nil
}

func (h *Handler) showSnapshot(c *fiber.Ctx) error {
	s, err := h.svc.GetSnapshot(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"snapshot": h.snapshotJSON(c, s, true)})
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
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"snapshot": h.snapshotJSON(c, s, false)})
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
	return c.JSON(fiber.Map{"snapshot": h.snapshotJSON(c, s, false)})
}

func (h *Handler) deleteSnapshot(c *fiber.Ctx) error {
	if err := h.svc.DeleteSnapshot(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return empty(c, fiber.StatusAccepted)
}
