package portal

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/volume"
	"github.com/nimbus-cloud/nimbus/views"
)

// Attaching and detaching, from either side: a volume's row on Project >
// Volumes picks the instance, the instance page's Volumes section picks
// the volume. Both go through the compute service (Nova's
// os-volume_attachments), which checks the instance's state and lock;
// the call waits for the host to hot-plug the disk.

// volumeAttach is a volume row's Attach form (field instance).
func (h *Handler) volumeAttach(c *fiber.Ctx) error {
	vol, name, err := h.volumeToChange(c)
	if err != nil {
		return err
	}
	_, err = h.compute.AttachVolume(c.UserContext(), api.Token(c), formValue(c, "instance"), vol.ID, false)
	return h.volDone(c, err, volumesPage, "volumes.attached_flash", name)
}

// volumeDetach is a volume row's Detach button: from the instance it is
// attached to.
func (h *Handler) volumeDetach(c *fiber.Ctx) error {
	vol, name, err := h.volumeToChange(c)
	if err != nil {
		return err
	}
	if vol.Attachment == nil {
		h.flash(c, "error", "volumes.not_attached", name)
		return c.Redirect(volumesPage, fiber.StatusSeeOther)
	}
	err = h.compute.DetachVolume(c.UserContext(), api.Token(c), vol.Attachment.InstanceID, vol.ID)
	return h.volDone(c, err, volumesPage, "volumes.detached_flash", name)
}

// instanceVolumeAttach is the instance page's Attach Volume form (field
// volume).
func (h *Handler) instanceVolumeAttach(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	id := api.Param(c, "id")
	vol, err := h.cfg.Volumes.Get(ctx, tok, formValue(c, "volume"))
	if err != nil {
		return err
	}
	_, err = h.compute.AttachVolume(ctx, tok, id, vol.ID, false)
	return h.volDone(c, err, "/project/instances/"+id, "volumes.attached_flash", displayName(vol.Name, vol.ID))
}

// instanceVolumeDetach is the Detach button of a volume on the instance page.
func (h *Handler) instanceVolumeDetach(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	id := api.Param(c, "id")
	vol, err := h.cfg.Volumes.Get(ctx, tok, api.Param(c, "volume"))
	if err != nil {
		return err
	}
	err = h.compute.DetachVolume(ctx, tok, id, vol.ID)
	return h.volDone(c, err, "/project/instances/"+id, "volumes.detached_flash", displayName(vol.Name, vol.ID))
}

// instanceVolumes is the instance page's Volumes section: the volumes
// attached to in and, when its volumes may change now, the project's
// available ones to attach. An admin looking at another project's
// instance gets no Attach select: a volume attaches within its project.
func (h *Handler) instanceVolumes(c *fiber.Ctx, in model.Instance) (*views.InstanceVolumes, error) {
	ctx, tok := c.UserContext(), api.Token(c)
	_, vols, err := h.compute.ServerVolumes(ctx, tok, in.ID)
	if err != nil {
		return nil, err
	}
	v := &views.InstanceVolumes{CanChange: compute.VolumesChangeable(in) &&
		policy.Allowed(tok, policy.ServerAction, policy.Target{ProjectID: in.ProjectID})}
	for _, vol := range vols {
		a := views.AttachedVolume{ID: vol.ID, Name: displayName(vol.Name, vol.ID), Status: vol.Status, SizeGB: vol.SizeGB}
		if vol.Attachment != nil {
			a.Device = vol.Attachment.Device
		}
		v.Attached = append(v.Attached, a)
	}
	if !v.CanChange || in.ProjectID != tok.ProjectID {
		return v, nil
	}
	free, err := h.cfg.Volumes.List(ctx, tok, volume.ListFilter{Status: string(volume.Available)})
	if err != nil {
		return nil, err
	}
	for _, vol := range free {
		v.Free = append(v.Free, views.Ref{ID: vol.ID, Name: displayName(vol.Name, vol.ID)})
	}
	return v, nil
}
