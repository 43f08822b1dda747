package portal

import (
	"context"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/volume"
	"github.com/nimbus-cloud/nimbus/views"
)

// Project > Volumes: the project's volumes and snapshots, through the
// same service the Cinder API uses (its state table, quotas and
// refusals). Creating, extending, snapshotting and deleting answer at
// once and finish on the storage host; the list follows the status
// through the change feed ("volume" changes).

// registerVolumes mounts Project > Volumes and the instance page's
// volume forms on g (/project); without block storage there are none.
func (h *Handler) registerVolumes(g fiber.Router) {
	if h.cfg.Volumes == nil {
		return
	}
	g.Get("/volumes", h.volumeList)
	g.Post("/volumes", h.volumeCreate)
	g.Post("/volumes/:id/extend", h.volumeExtend)
	g.Post("/volumes/:id/attach", h.volumeAttach)
	g.Post("/volumes/:id/detach", h.volumeDetach)
	g.Post("/volumes/:id/snapshot", h.volumeSnapshot)
	g.Post("/volumes/:id/delete", h.volumeDelete)
	g.Post("/volume_snapshots/:id/delete", h.snapshotDelete)
	g.Post("/instances/:id/volumes", h.instanceVolumeAttach)
	g.Post("/instances/:id/volumes/:volume/detach", h.instanceVolumeDetach)
}

const volumesPage = "/project/volumes"

// displayName is what a volume is called on the page: Cinder's names are
// optional, so an unnamed one goes by its id.
func displayName(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

func (h *Handler) volumeList(c *fiber.Ctx) error {
	v, err := h.volumeListView(c, views.Form{Values: map[string]string{"size": "1"}})
	if err != nil {
		return err
	}
	return render(c, views.VolumeListPage(v))
}

// volumeListView builds the page: the volumes with the actions the state
// table allows now, the snapshots, and the create form's choices.
func (h *Handler) volumeListView(c *fiber.Ctx, f views.Form) (views.VolumeList, error) {
	ctx, tok := c.UserContext(), api.Token(c)
	v := views.VolumeList{Page: h.page(c, "volumes", "volumes.title"), Form: f,
		CanChange: policy.Allowed(tok, policy.ChangeVolume, policy.Target{ProjectID: tok.ProjectID})}
	vols, err := h.cfg.Volumes.List(ctx, tok, volume.ListFilter{})
	if err != nil {
		return v, err
	}
	snaps, err := h.cfg.Volumes.Snapshots(ctx, tok, false, "")
	if err != nil {
		return v, err
	}
	ins, err := h.compute.List(ctx, tok, compute.ListOptions{Limit: 1000, SortKey: "display_name", SortDir: "asc"})
	if err != nil {
		return v, err
	}
	names := map[string]string{}
	for _, in := range ins {
		names[in.ID] = in.Name
		if compute.VolumesChangeable(in) {
			v.Instances = append(v.Instances, views.Ref{ID: in.ID, Name: in.Name})
		}
	}
	volNames := map[string]string{}
	for _, vol := range vols {
		volNames[vol.ID] = displayName(vol.Name, vol.ID)
		v.Volumes = append(v.Volumes, volumeRow(vol, names, v.CanChange, len(v.Instances) > 0))
	}
	for _, sn := range snaps {
		v.Snapshots = append(v.Snapshots, views.SnapshotRow{ID: sn.ID, Name: displayName(sn.Name, sn.ID), Status: sn.Status,
			SizeGB: sn.SizeGB, VolumeID: sn.VolumeID, VolumeName: displayName(volNames[sn.VolumeID], sn.VolumeID),
			CanDelete: v.CanChange && (sn.Status == "available" || sn.Status == "error"),
			CanCopy:   v.CanChange && sn.Status == "available"})
		if sn.Status == "available" {
			v.Sources = append(v.Sources, views.Ref{ID: sn.ID, Name: displayName(sn.Name, sn.ID)})
		}
	}
	if v.CanChange {
		if v.Images, err = h.activeImages(c); err != nil {
			return v, err
		}
	}
	return v, nil
}

// volumeRow is one volume's row; its buttons are those volume.Check
// allows now (the rule the service applies), for a caller who may
// change volumes.
func volumeRow(vol model.Volume, instances map[string]string, canChange, anyInstance bool) views.VolumeRow {
	r := views.VolumeRow{ID: vol.ID, Name: displayName(vol.Name, vol.ID), Description: vol.Description, Status: vol.Status,
		Type: vol.TypeName, SizeGB: vol.SizeGB, Bootable: vol.Bootable, Error: vol.Error}
	n := 0
	if a := vol.Attachment; a != nil {
		n = 1
		r.InstanceID, r.Device = a.InstanceID, a.Device
		r.InstanceName = displayName(instances[a.InstanceID], a.InstanceID)
	}
	if !canChange {
		return r
	}
	state := volume.Volume{ID: vol.ID, Status: volume.Status(vol.Status), SizeGB: vol.SizeGB, Attachments: n, Snapshots: vol.Snapshots}
	allows := func(a volume.Ask) bool {
		_, err := volume.Check(state, a)
		return err == nil
	}
	// Extending an attached volume is not done yet (Service.Extend).
	r.CanExtend = vol.Status == string(volume.Available) && allows(volume.Ask{Op: volume.OpExtend, NewSizeGB: vol.SizeGB + 1})
	r.CanAttach = anyInstance && allows(volume.Ask{Op: volume.OpAttach})
	// An attach its host never answered leaves the volume in error,
	// still attached: a detach settles it.
	r.CanDetach = n > 0 && (allows(volume.Ask{Op: volume.OpDetach}) || vol.Status == string(volume.Error))
	r.CanSnapshot = allows(volume.Ask{Op: volume.OpSnapshot, Force: true})
	r.ForceSnapshot = vol.Status == string(volume.InUse)
	r.CanDelete = allows(volume.Ask{Op: volume.OpDelete})
	return r
}

var volumeFields = []string{"name", "description", "size", "source"}

// volumeCreate is the Create Volume form (also each snapshot's Create
// Volume button): empty, or a copy of an image or a snapshot
// (source "image:<id>" or "snapshot:<id>"), whose size it takes when
// none is given.
func (h *Handler) volumeCreate(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	if err := policy.Check(tok, policy.ChangeVolume, policy.Target{ProjectID: tok.ProjectID}); err != nil {
		return err // a reader: refused before the form is read
	}
	f := readForm(c, volumeFields...)
	in := volume.Input{Name: strings.TrimSpace(f.V("name")), Description: strings.TrimSpace(f.V("description"))}
	kind, id, _ := strings.Cut(f.V("source"), ":")
	switch {
	case kind == "":
	case kind == "image" && id != "":
		in.ImageID = id
	case kind == "snapshot" && id != "":
		in.SnapshotID = id
	default:
		f.Errors["source"] = i18n.T(ctx, "form.invalid")
	}
	if kind != "" && strings.TrimSpace(f.V("size")) == "" {
		in.SizeGB = 0 // the source's size
	} else {
		in.SizeGB = readWholeNumber(ctx, &f, "size", 1, 0, "volumes.error_size")
	}
	var err error
	if len(f.Errors) == 0 {
		var vol model.Volume
		vol, err = h.cfg.Volumes.Create(ctx, tok, in)
		switch {
		case err == nil && vol.Status == string(volume.Error):
			// No storage host could take it (Cinder's scheduler leaves
			// it so too): made, listed, and said plainly.
			h.flash(c, "error", "volumes.created_in_error", displayName(vol.Name, vol.ID), vol.Error)
			return c.Redirect(volumesPage, fiber.StatusSeeOther)
		case err == nil:
			h.flash(c, "ok", "volumes.created_flash", displayName(vol.Name, vol.ID))
			return c.Redirect(volumesPage, fiber.StatusSeeOther)
		}
		if !volumeFieldError(ctx, &f, err) {
			return err
		}
	}
	v, lerr := h.volumeListView(c, f)
	if lerr != nil {
		return lerr
	}
	c.Status(fiber.StatusUnprocessableEntity)
	return render(c, views.VolumeListPage(v))
}

// volumeFieldError puts a refused create next to the field it is about,
// in the service's words, and reports whether it did; other errors are
// the error page's.
func volumeFieldError(ctx context.Context, f *views.Form, err error) bool {
	var v *fault.Validation
	field := "name"
	switch {
	case errors.As(err, &v):
		switch v.Field {
		case "size", "description":
			field = v.Field
		case "imageRef", "snapshot_id", "source_volid":
			field = "source"
		}
	case errors.Is(err, fault.ErrNotFound):
		field = "source" // the snapshot (or type) went away meanwhile
	}
	key, args, ok := volumeRefusal(err)
	if !ok && !errors.Is(err, fault.ErrNotFound) {
		return false
	}
	if !ok {
		key, args = "volumes.refused", []any{refusal(err)}
	}
	var oq *fault.OverQuota
	if errors.As(err, &oq) {
		field = "size"
	}
	f.Errors[field] = i18n.T(ctx, key, args...)
	return true
}

// volumeRefusal is the catalogue's key and arguments for a refusal the
// user can act on: bad input, the state table's refusal, a conflict or a
// quota; ok is false for anything else (not found, forbidden, an outage).
func volumeRefusal(err error) (key string, args []any, ok bool) {
	var v *fault.Validation
	var r *volume.Refusal
	var oq *fault.OverQuota
	switch {
	case errors.As(err, &oq):
		return "volumes.over_quota", []any{oq.Resource, oq.Used, oq.Limit}, true
	case errors.As(err, &v), errors.As(err, &r), errors.Is(err, fault.ErrConflict):
		return "volumes.refused", []any{refusal(err)}, true
	}
	return "", nil, false
}

// volDone ends a volume change: the outcome as a flash on back, or the
// error page for what is no refusal (not found, forbidden, an outage).
func (h *Handler) volDone(c *fiber.Ctx, err error, back, okKey string, args ...any) error {
	if err == nil {
		h.flash(c, "ok", okKey, args...)
		return c.Redirect(back, fiber.StatusSeeOther)
	}
	key, rargs, ok := volumeRefusal(err)
	if !ok {
		return err
	}
	h.flash(c, "error", key, rargs...)
	return c.Redirect(back, fiber.StatusSeeOther)
}

// volumeToChange returns the volume of the URL and its name for the
// flash, when the caller may change it: another project's is not found,
// and a reader is refused before any form is read, as the service would.
func (h *Handler) volumeToChange(c *fiber.Ctx) (model.Volume, string, error) {
	tok := api.Token(c)
	vol, err := h.cfg.Volumes.Get(c.UserContext(), tok, api.Param(c, "id"))
	if err != nil {
		return vol, "", err
	}
	return vol, displayName(vol.Name, vol.ID), policy.Check(tok, policy.ChangeVolume, policy.Target{ProjectID: vol.ProjectID})
}

func (h *Handler) volumeExtend(c *fiber.Ctx) error {
	ctx := c.UserContext()
	vol, name, err := h.volumeToChange(c)
	if err != nil {
		return err
	}
	f := readForm(c, "new_size")
	size := readWholeNumber(ctx, &f, "new_size", 1, 0, "volumes.error_size")
	if len(f.Errors) > 0 {
		h.flash(c, "error", "volumes.error_size")
		return c.Redirect(volumesPage, fiber.StatusSeeOther)
	}
	err = h.cfg.Volumes.Extend(ctx, api.Token(c), vol.ID, size, false)
	return h.volDone(c, err, volumesPage, "volumes.extending_flash", name, size)
}

func (h *Handler) volumeSnapshot(c *fiber.Ctx) error {
	vol, name, err := h.volumeToChange(c)
	if err != nil {
		return err
	}
	snap := strings.TrimSpace(formValue(c, "name"))
	if snap == "" {
		snap = name + "-snapshot"
	}
	_, err = h.cfg.Volumes.CreateSnapshot(c.UserContext(), api.Token(c), volume.SnapshotInput{VolumeID: vol.ID, Name: snap,
		Force: formValue(c, "force") == "1"})
	return h.volDone(c, err, volumesPage, "volumes.snapshot_flash", snap)
}

func (h *Handler) volumeDelete(c *fiber.Ctx) error {
	vol, name, err := h.volumeToChange(c)
	if err != nil {
		return err
	}
	err = h.cfg.Volumes.Delete(c.UserContext(), api.Token(c), vol.ID)
	return h.volDone(c, err, volumesPage, "volumes.deleting_flash", name)
}

func (h *Handler) snapshotDelete(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	sn, err := h.cfg.Volumes.GetSnapshot(ctx, tok, api.Param(c, "id"))
	if err != nil {
		return err
	}
	err = h.cfg.Volumes.DeleteSnapshot(ctx, tok, sn.ID)
	return h.volDone(c, err, volumesPage, "volumes.snapshot_deleting_flash", displayName(sn.Name, sn.ID))
}
