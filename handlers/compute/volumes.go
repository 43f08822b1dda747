package compute

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// registerVolumes mounts os-volume_attachments.
func (h *Handler) registerVolumes(a fiber.Router) {
	a.Get("/servers/:id/os-volume_attachments", h.listVolumeAttachments)
	a.Post("/servers/:id/os-volume_attachments", h.attachVolume)
	a.Get("/servers/:id/os-volume_attachments/:volume", h.showVolumeAttachment)
	a.Put("/servers/:id/os-volume_attachments/:volume", h.swapVolume)
	a.Delete("/servers/:id/os-volume_attachments/:volume", h.detachVolume)
}

func volumeAttachmentJSON(c *fiber.Ctx, serverID, volumeID, device string, deleteOnTermination bool, attachmentID string) fiber.Map {
	m := fiber.Map{"id": volumeID, "serverId": serverID, "volumeId": volumeID, "device": device}
	if version(c).AtLeast(2, 70) {
		m["tag"] = nil
	}
	if version(c).AtLeast(2, 79) {
		m["delete_on_termination"] = deleteOnTermination
	}
	if version(c).AtLeast(2, 89) {
		m["attachment_id"] = attachmentID
	}
	return m
}

func (h *Handler) listVolumeAttachments(c *fiber.Ctx) error {
	in, vs, err := h.svc.ServerVolumes(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	out := make([]fiber.Map, 0, len(vs))
	for _, v := range vs {
		out = append(out, volumeAttachmentJSON(c, in.ID, v.ID, v.Attachment.Device, v.Attachment.DeleteOnTermination, v.Attachment.ID))
	}
	return c.JSON(fiber.Map{"volumeAttachments": out})
}

func (h *Handler) showVolumeAttachment(c *fiber.Ctx) error {
	in, vs, err := h.svc.ServerVolumes(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	want := api.Param(c, "volume")
	for _, v := range vs {
		if v.ID == want {
			return c.JSON(fiber.Map{"volumeAttachment": volumeAttachmentJSON(c, in.ID, v.ID, v.Attachment.Device,
				v.Attachment.DeleteOnTermination, v.Attachment.ID)})
		}
	}
	return fault.NotFound("Instance %s is not attached.", want)
}

func (h *Handler) attachVolume(c *fiber.Ctx) error {
	var body struct {
		VolumeAttachment *struct {
			VolumeID            string  `json:"volumeId"`
			Device              *string `json:"device"`
			DeleteOnTermination *bool   `json:"delete_on_termination"`
		} `json:"volumeAttachment"`
	}
	if err := decode(c, &body); err != nil {
		return err
	}
	va := body.VolumeAttachment
	if va == nil {
		return fault.Invalid("volumeAttachment", "Invalid input for field/attribute volumeAttachment. 'volumeAttachment' is a required property")
	}
	id, err := validate.ID("volumeId", va.VolumeID)
	if err != nil {
		return fault.Invalid("volumeId", "Invalid input for field/attribute volumeId. Value: %s. '%s' is not a 'uuid'", va.VolumeID, va.VolumeID)
	}
	if va.DeleteOnTermination != nil && !version(c).AtLeast(2, 79) {
		return fault.Invalid("delete_on_termination", "Additional properties are not allowed ('delete_on_termination' was unexpected)")
	}
	// A requested device name is a hint Nova's libvirt driver ignores:
	// the next free vdX is used, and reported.
	dot := va.DeleteOnTermination != nil && *va.DeleteOnTermination
	a, err := h.svc.AttachVolume(c.UserContext(), api.Token(c), api.Param(c, "id"), id, dot)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"volumeAttachment": volumeAttachmentJSON(c, a.InstanceID, a.VolumeID, a.Device, a.DeleteOnTermination, a.ID)})
}

// swapVolume is Nova's PUT (swap, or 2.85's delete_on_termination
// update): not offered.
func (h *Handler) swapVolume(c *fiber.Ctx) error {
	if _, _, err := h.svc.ServerVolumes(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return fault.Conflict("Swapping a server's volumes is not supported by this cloud.")
}

func (h *Handler) detachVolume(c *fiber.Ctx) error {
	if err := h.svc.DetachVolume(c.UserContext(), api.Token(c), api.Param(c, "id"), api.Param(c, "volume")); err != nil {
		return err
	}
	c.Status(fiber.StatusAccepted) // and no body, as Nova's
	return nil
}
