package volume

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

// Volume and snapshot metadata, whole and by key: the same rules for
// both, over the service's Update and UpdateSnapshot.

// metaItem reads {"meta": {"<key>": "<value>"}} for key.
func metaItem(c *fiber.Ctx, key string) (string, error) {
	var in map[string]string
	if err := decode(c, "meta", &in); err != nil {
		return "", err
	}
	v, ok := in[key]
	if !ok || len(in) != 1 {
		return "", fault.Invalid("meta", "Request body and URI mismatch")
	}
	return v, nil
}

func noKey(key string) error {
	return fault.NotFound("Metadata item with key %s could not be found.", key)
}

func (h *Handler) volumeMetadataItem(c *fiber.Ctx) error {
	v, err := h.svc.Get(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	k := api.Param(c, "key")
	val, ok := v.Metadata[k]
	if !ok {
		return noKey(k)
	}
	return c.JSON(fiber.Map{"meta": fiber.Map{k: val}})
}

func (h *Handler) setVolumeMetadataItem(c *fiber.Ctx) error {
	k := api.Param(c, "key")
	val, err := metaItem(c, k)
	if err != nil {
		return err
	}
	_, err = h.svc.Update(c.UserContext(), api.Token(c), api.Param(c, "id"), func(v *model.Volume) error {
		v.Metadata = withKey(v.Metadata, k, val)
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"meta": fiber.Map{k: val}})
}

func (h *Handler) deleteVolumeMetadataItem(c *fiber.Ctx) error {
	k := api.Param(c, "key")
	_, err := h.svc.Update(c.UserContext(), api.Token(c), api.Param(c, "id"), func(v *model.Volume) error {
		if _, ok := v.Metadata[k]; !ok {
			return noKey(k)
		}
		delete(v.Metadata, k)
		return nil
	})
	if err != nil {
		return err
	}
	return empty(c, fiber.StatusOK)
}

// withKey is m (copied) with k set to v.
func withKey(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for mk, mv := range m {
		if mk != k {
			out[mk] = mv
		}
	}
	return out
}

func (h *Handler) snapshotMetadata(c *fiber.Ctx) error {
	s, err := h.svc.GetSnapshot(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"metadata": s.Metadata})
}

// setSnapshotMetadata merges (POST) or replaces (PUT) a snapshot's metadata.
func (h *Handler) setSnapshotMetadata(replace bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var in map[string]string
		if err := decode(c, "metadata", &in); err != nil {
			return err
		}
		s, err := h.svc.UpdateSnapshot(c.UserContext(), api.Token(c), api.Param(c, "id"), func(s *model.VolumeSnapshot) {
			if replace {
				s.Metadata = map[string]string{}
			}
			for k, v := range in {
				s.Metadata = withKey(s.Metadata, k, v)
			}
		})
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"metadata": s.Metadata})
	}
}

func (h *Handler) snapshotMetadataItem(c *fiber.Ctx) error {
	s, err := h.svc.GetSnapshot(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	k := api.Param(c, "key")
	val, ok := s.Metadata[k]
	if !ok {
		return noKey(k)
	}
	return c.JSON(fiber.Map{"meta": fiber.Map{k: val}})
}

func (h *Handler) setSnapshotMetadataItem(c *fiber.Ctx) error {
	k := api.Param(c, "key")
	val, err := metaItem(c, k)
	if err != nil {
		return err
	}
	_, err = h.svc.UpdateSnapshot(c.UserContext(), api.Token(c), api.Param(c, "id"), func(s *model.VolumeSnapshot) {
		s.Metadata = withKey(s.Metadata, k, val)
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"meta": fiber.Map{k: val}})
}

func (h *Handler) deleteSnapshotMetadataItem(c *fiber.Ctx) error {
	k := api.Param(c, "key")
	s, err := h.svc.GetSnapshot(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	if err := policy.Check(api.Token(c), policy.ChangeVolume, policy.Target{ProjectID: s.ProjectID}); err != nil {
		return err // before saying whether the key is there
	}
	if _, ok := s.Metadata[k]; !ok {
		return noKey(k)
	}
	_, err = h.svc.UpdateSnapshot(c.UserContext(), api.Token(c), s.ID, func(s *model.VolumeSnapshot) { delete(s.Metadata, k) })
	if err != nil {
		return err
	}
	return empty(c, fiber.StatusOK)
}
