package volume

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	volsvc "github.com/nimbus-cloud/nimbus/internal/volume"
)

// Cinder's timestamps: microseconds, no zone.
func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000") }

func (h *Handler) link(kind, id string) []fiber.Map {
	return []fiber.Map{{"rel": "self", "href": h.publicURL + "/volume/v3/" + kind + "/" + id},
		{"rel": "bookmark", "href": h.publicURL + "/volume/" + kind + "/" + id}}
}

// volumeJSON is a volume in Cinder's detailed shape: as shown and listed
// (full) with the tenant, host and image attributes, or as a create or
// update answers, without them.
func (h *Handler) volumeJSON(c *fiber.Ctx, v model.Volume, full bool) fiber.Map {
	atts := []fiber.Map{}
	if a := v.Attachment; a != nil {
		atts = append(atts, fiber.Map{"id": v.ID, "attachment_id": a.ID, "volume_id": v.ID, "server_id": a.InstanceID,
			"host_name": nil, "device": a.Device, "attached_at": ts(a.CreatedAt)})
	}
	m := fiber.Map{
		"id": v.ID, "name": v.Name, "description": v.Description, "size": v.SizeGB, "status": v.Status,
		"availability_zone": v.AZ, "created_at": ts(v.CreatedAt), "updated_at": ts(v.UpdatedAt),
		"attachments": atts, "bootable": strconv.FormatBool(v.Bootable), "encrypted": false, "multiattach": false,
		"volume_type": v.TypeName, "snapshot_id": nullable(v.SnapshotID), "source_volid": nullable(v.SourceVolID),
		"metadata": v.Metadata, "user_id": v.UserID, "links": h.link("volumes", v.ID),
		"replication_status": nil, "consistencygroup_id": nil, "migration_status": nil,
	}
	if version(c).AtLeast(3, 61) {
		m["volume_type_id"] = v.TypeID
	}
	if version(c).AtLeast(3, 48) {
		m["service_uuid"] = nil
		m["shared_targets"] = false
	}
	if !full {
		return m
	}
	m["os-vol-tenant-attr:tenant_id"] = v.ProjectID
	if len(v.ImageMetadata) > 0 {
		m["volume_image_metadata"] = v.ImageMetadata
	}
	if policy.Allowed(api.Token(c), policy.VolumeHost, policy.Target{}) {
		// Cinder's host@backend#pool.
		m["os-vol-host-attr:host"] = nil
		if v.Host != "" {
			m["os-vol-host-attr:host"] = v.Host + "@local#local"
		}
		m["os-vol-mig-status-attr:migstat"] = nil
		m["os-vol-mig-status-attr:name_id"] = nil
	}
	return m
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (h *Handler) listVolumes(detail bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		f := volsvc.ListFilter{Name: c.Query("name"), Status: c.Query("status"), Marker: c.Query("marker"),
			ProjectID: c.Query("project_id")}
		if all, err := volsvc.ParseBool(c.Query("all_tenants", "0")); err == nil {
			f.AllProjects = all
		}
		if b := c.Query("bootable"); b != "" {
			v, err := volsvc.ParseBool(b)
			if err != nil {
				return err
			}
			f.Bootable = &v
		}
		if strings.HasSuffix(c.Path(), "/") {
			return fault.NotFound("Volume  could not be found.") // GET /volumes/ names no volume
		}
		limit, err := listLimit(c)
		if err != nil {
			return err
		}
		if limit == 0 {
			return c.JSON(fiber.Map{"volumes": []any{}})
		}
		f.Limit = max(limit, 0)
		vs, err := h.svc.List(c.UserContext(), api.Token(c), f)
		if err != nil {
			return err
		}
		out := make([]fiber.Map, 0, len(vs))
		for _, v := range vs {
			if detail {
				out = append(out, h.volumeJSON(c, v, true))
			} else {
				out = append(out, fiber.Map{"id": v.ID, "name": v.Name, "links": h.link("volumes", v.ID)})
			}
		}
		body := fiber.Map{"volumes": out}
		if f.Limit > 0 && len(vs) == f.Limit {
			body["volumes_links"] = []fiber.Map{{"rel": "next",
				"href": h.publicURL + "/volume/v3/volumes" + map[bool]string{true: "/detail"}[detail] + "?limit=" + strconv.Itoa(f.Limit) + "&marker=" + vs[len(vs)-1].ID}}
		}
		return c.JSON(body)
	}
}

func (h *Handler) showVolume(c *fiber.Ctx) error {
	v, err := h.svc.Get(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"volume": h.volumeJSON(c, v, true)})
}

// volumeSummary is 3.12's count and size of the caller's volumes.
func (h *Handler) volumeSummary(c *fiber.Ctx) error {
	all, _ := volsvc.ParseBool(c.Query("all_tenants", "0"))
	vs, err := h.svc.List(c.UserContext(), api.Token(c), volsvc.ListFilter{AllProjects: all})
	if err != nil {
		return err
	}
	size, meta := 0, map[string][]string{}
	for _, v := range vs {
		size += v.SizeGB
		for k, val := range v.Metadata {
			meta[k] = append(meta[k], val)
		}
	}
	return c.JSON(fiber.Map{"volume-summary": fiber.Map{"total_size": size, "total_count": len(vs), "metadata": meta}})
}

func (h *Handler) createVolume(c *fiber.Ctx) error {
	var in struct {
		Name        *string           `json:"name"`
		DisplayName *string           `json:"display_name"`
		Description *string           `json:"description"`
		Size        flexInt           `json:"size"`
		VolumeType  *string           `json:"volume_type"`
		AZ          *string           `json:"availability_zone"`
		SnapshotID  *string           `json:"snapshot_id"`
		SourceVolID *string           `json:"source_volid"`
		ImageRef    *string           `json:"imageRef"`
		ImageID     *string           `json:"image_id"`
		Metadata    map[string]string `json:"metadata"`
		Multiattach *bool             `json:"multiattach"`
	}
	if err := decode(c, "volume", &in); err != nil {
		return err
	}
	if in.Multiattach != nil && *in.Multiattach {
		return fault.Invalid("multiattach", "Invalid input received: multiattach volumes are not supported by this cloud.")
	}
	str := func(ps ...*string) string {
		for _, p := range ps {
			if p != nil {
				return *p
			}
		}
		return ""
	}
	if !in.Size.set && str(in.SnapshotID, in.SourceVolID) == "" {
		return fault.Invalid("size", "Invalid input received: size is required unless the volume is a copy.")
	}
	if in.Size.set && in.Size.n <= 0 {
		return fault.Invalid("size", "Invalid input received: Volume size '%d' must be an integer and greater than 0.", in.Size.n)
	}
	v, err := h.svc.Create(c.UserContext(), api.Token(c), volsvc.Input{Name: str(in.Name, in.DisplayName),
		Description: str(in.Description), SizeGB: in.Size.n, Type: str(in.VolumeType), AZ: str(in.AZ),
		SnapshotID: str(in.SnapshotID), SourceVolID: str(in.SourceVolID), ImageID: str(in.ImageRef, in.ImageID),
		Metadata: in.Metadata})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"volume": h.volumeJSON(c, v, false)})
}

func (h *Handler) updateVolume(c *fiber.Ctx) error {
	var in struct {
		Name        *string           `json:"name"`
		DisplayName *string           `json:"display_name"`
		Description *string           `json:"description"`
		Metadata    map[string]string `json:"metadata"`
	}
	if err := decode(c, "volume", &in); err != nil {
		return err
	}
	v, err := h.svc.Update(c.UserContext(), api.Token(c), api.Param(c, "id"), func(v *model.Volume) error {
		if in.Name != nil {
			v.Name = *in.Name
		} else if in.DisplayName != nil {
			v.Name = *in.DisplayName
		}
		if in.Description != nil {
			v.Description = *in.Description
		}
		if in.Metadata != nil {
			v.Metadata = in.Metadata
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"volume": h.volumeJSON(c, v, false)})
}

func (h *Handler) deleteVolume(c *fiber.Ctx) error {
	if err := h.svc.Delete(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return empty(c, fiber.StatusAccepted)
}

func (h *Handler) volumeMetadata(c *fiber.Ctx) error {
	v, err := h.svc.Get(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"metadata": v.Metadata})
}

// setVolumeMetadata merges (POST) or replaces (PUT) a volume's metadata.
func (h *Handler) setVolumeMetadata(replace bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var in map[string]string
		if err := decode(c, "metadata", &in); err != nil {
			return err
		}
		v, err := h.svc.Update(c.UserContext(), api.Token(c), api.Param(c, "id"), func(v *model.Volume) error {
			if replace || v.Metadata == nil {
				v.Metadata = map[string]string{}
			}
			for k, val := range in {
				v.Metadata[k] = val
			}
			return nil
		})
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"metadata": v.Metadata})
	}
}

// volumeAction is POST /volumes/{id}/action: os-extend, os-set_bootable,
// os-reset_status (admins), os-update_readonly_flag is refused.
func (h *Handler) volumeAction(c *fiber.Ctx) error {
	var body map[string]map[string]any
	if err := decodeRaw(c, &body); err != nil {
		return err
	}
	ctx, caller, id := c.UserContext(), api.Token(c), api.Param(c, "id")
	for name := range body {
		switch name {
		case "os-extend":
			var in struct {
				NewSize flexInt `json:"new_size"`
			}
			if err := decode(c, name, &in); err != nil {
				return err
			}
			if !in.NewSize.set {
				return fault.Invalid("new_size", "Invalid input received: new_size is required.")
			}
			if err := h.svc.Extend(ctx, caller, id, in.NewSize.n, version(c).AtLeast(3, 42)); err != nil {
				return err
			}
			return empty(c, fiber.StatusAccepted)
		case "os-set_bootable":
			var in struct {
				Bootable flexBool `json:"bootable"`
			}
			if err := decode(c, name, &in); err != nil {
				return err
			}
			if !in.Bootable.set {
				return fault.Invalid("bootable", "Invalid input received: bootable is required.")
			}
			_, err := h.svc.Update(ctx, caller, id, func(v *model.Volume) error { v.Bootable = in.Bootable.b; return nil })
			if err != nil {
				return err
			}
			return empty(c, fiber.StatusOK)
		case "os-reset_status":
			var in struct {
				Status string `json:"status"`
			}
			if err := decode(c, name, &in); err != nil {
				return err
			}
			if err := h.svc.ResetStatus(ctx, caller, id, in.Status); err != nil {
				return err
			}
			return empty(c, fiber.StatusAccepted)
		}
	}
	if _, err := h.svc.Get(ctx, caller, id); err != nil {
		return err
	}
	return fault.Invalid("", "There is no such action.")
}

// listLimit reads a list's limit (-1: none given); a bad one is 400.
func listLimit(c *fiber.Ctx) (int, error) {
	l := c.Query("limit")
	if l == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 0 {
		return 0, fault.Invalid("limit", "Invalid input received: limit must be an integer 0 or greater.")
	}
	return n, nil
}

// decodeRaw reads the body's outer object.
func decodeRaw(c *fiber.Ctx, v any) error {
	if err := json.Unmarshal(c.Body(), v); err != nil {
		return fault.Invalid("", "Malformed request body")
	}
	return nil
}

// limits is Cinder's /limits: the absolute volume limits and their use.
func (h *Handler) limits(c *fiber.Ctx) error {
	caller := api.Token(c)
	project := caller.ProjectID
	if p := c.Query("project_id"); p != "" && policy.Allowed(caller, policy.ListAllVolumes, policy.Target{}) {
		project = p
	}
	q, err := h.svc.Quotas(c.UserContext(), caller, project, false)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"limits": fiber.Map{"rate": []any{}, "absolute": fiber.Map{
		"maxTotalVolumes": q["volumes"].Limit, "totalVolumesUsed": q["volumes"].InUse,
		"maxTotalVolumeGigabytes": q["gigabytes"].Limit, "totalGigabytesUsed": q["gigabytes"].InUse,
		"maxTotalSnapshots": q["snapshots"].Limit, "totalSnapshotsUsed": q["snapshots"].InUse,
		"maxTotalBackups": q["backups"].Limit, "totalBackupsUsed": 0, "maxTotalBackupGigabytes": q["backup_gigabytes"].Limit,
		"totalBackupGigabytesUsed": 0,
	}}})
}

func (h *Handler) showQuotas(defaults bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		project := api.Param(c, "project")
		q, err := h.svc.Quotas(c.UserContext(), api.Token(c), project, defaults)
		if err != nil {
			return err
		}
		usage, _ := volsvc.ParseBool(c.Query("usage", "false"))
		set := fiber.Map{"id": project}
		for r, u := range q {
			if usage && !defaults {
				set[r] = fiber.Map{"limit": u.Limit, "in_use": u.InUse, "reserved": 0, "allocated": 0}
			} else {
				set[r] = u.Limit
			}
		}
		return c.JSON(fiber.Map{"quota_set": set})
	}
}

func (h *Handler) updateQuotas(c *fiber.Ctx) error {
	var in map[string]any
	if err := decode(c, "quota_set", &in); err != nil {
		return err
	}
	limits := map[string]int{}
	for r, v := range in {
		if r == "tenant_id" || r == "id" {
			continue
		}
		var n int
		switch x := v.(type) {
		case float64:
			n = int(x)
			if float64(n) != x {
				return fault.Invalid(r, "Invalid input received: Quota limit for %s must be an integer.", r)
			}
		case string:
			var err error
			if n, err = strconv.Atoi(x); err != nil {
				return fault.Invalid(r, "Invalid input received: Quota limit for %s must be an integer.", r)
			}
		default:
			return fault.Invalid(r, "Invalid input received: Quota limit for %s must be an integer.", r)
		}
		limits[r] = n
	}
	project := api.Param(c, "project")
	q, err := h.svc.SetQuotas(c.UserContext(), api.Token(c), project, limits)
	if err != nil {
		return err
	}
	set := fiber.Map{}
	for r, u := range q {
		set[r] = u.Limit
	}
	return c.JSON(fiber.Map{"quota_set": set})
}

func (h *Handler) resetQuotas(c *fiber.Ctx) error {
	if err := h.svc.ResetQuotas(c.UserContext(), api.Token(c), api.Param(c, "project")); err != nil {
		return err
	}
	return empty(c, fiber.StatusOK)
}
