package volume

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

func typeJSON(t model.VolumeType) fiber.Map {
	return fiber.Map{"id": t.ID, "name": t.Name, "description": t.Description, "is_public": t.IsPublic,
		"os-volume-type-access:is_public": t.IsPublic, "extra_specs": t.ExtraSpecs}
}

func (h *Handler) listTypes(c *fiber.Ctx) error {
	ts, err := h.svc.Types(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	out := make([]fiber.Map, 0, len(ts))
	for _, t := range ts {
		out = append(out, typeJSON(t))
	}
	return c.JSON(fiber.Map{"volume_types": out})
}

func (h *Handler) showType(c *fiber.Ctx) error {
	t, err := h.svc.Type(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"volume_type": typeJSON(t)})
}

func (h *Handler) defaultType(c *fiber.Ctx) error {
	t, err := h.svc.DefaultType(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"volume_type": typeJSON(t)})
}

type typeInput struct {
	Name        *string           `json:"name"`
	Description *string           `json:"description"`
	IsPublic    *flexBool         `json:"is_public"`
	AccessIs    *flexBool         `json:"os-volume-type-access:is_public"`
	ExtraSpecs  map[string]string `json:"extra_specs"`
}

func (in typeInput) apply(t *model.VolumeType) {
	if in.Name != nil {
		t.Name = *in.Name
	}
	if in.Description != nil {
		t.Description = *in.Description
	}
	for _, p := range []*flexBool{in.IsPublic, in.AccessIs} {
		if p != nil && p.set {
			t.IsPublic = p.b
		}
	}
	if in.ExtraSpecs != nil {
		t.ExtraSpecs = in.ExtraSpecs
	}
}

func (h *Handler) createType(c *fiber.Ctx) error {
	var in typeInput
	if err := decode(c, "volume_type", &in); err != nil {
		return err
	}
	if in.Name == nil {
		return fault.Invalid("name", "Invalid input received: name is required.")
	}
	t := model.VolumeType{IsPublic: true}
	in.apply(&t)
	t, err := h.svc.CreateType(c.UserContext(), api.Token(c), t)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"volume_type": typeJSON(t)})
}

func (h *Handler) updateType(c *fiber.Ctx) error {
	var in typeInput
	if err := decode(c, "volume_type", &in); err != nil {
		return err
	}
	in.ExtraSpecs = nil // extra specs change through their own routes
	t, err := h.svc.UpdateType(c.UserContext(), api.Token(c), api.Param(c, "id"), in.apply)
	if err != nil {
		return err
	}
	// An update answers without the access attribute, as Cinder's.
	m := typeJSON(t)
	delete(m, "os-volume-type-access:is_public")
	return c.JSON(fiber.Map{"volume_type": m})
}

func (h *Handler) deleteType(c *fiber.Ctx) error {
	if err := h.svc.DeleteType(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return empty(c, fiber.StatusAccepted)
}

func (h *Handler) listExtraSpecs(c *fiber.Ctx) error {
	t, err := h.svc.Type(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"extra_specs": t.ExtraSpecs})
}

func (h *Handler) showExtraSpec(c *fiber.Ctx) error {
	t, err := h.svc.Type(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	k := api.Param(c, "key")
	v, ok := t.ExtraSpecs[k]
	if !ok {
		return fault.NotFound("Volume Type %s has no extra specs with key %s.", t.ID, k)
	}
	return c.JSON(fiber.Map{k: v})
}

// changeSpecs edits a type's extra specs (admins).
func (h *Handler) changeSpecs(c *fiber.Ctx, fn func(map[string]string) error) (model.VolumeType, error) {
	var ferr error
	t, err := h.svc.UpdateType(c.UserContext(), api.Token(c), api.Param(c, "id"), func(t *model.VolumeType) {
		specs := map[string]string{}
		for k, v := range t.ExtraSpecs {
			specs[k] = v
		}
		ferr = fn(specs)
		t.ExtraSpecs = specs
	})
	if err == nil {
		err = ferr
	}
	return t, err
}

func (h *Handler) setExtraSpecs(c *fiber.Ctx) error {
	var in map[string]string
	if err := decode(c, "extra_specs", &in); err != nil {
		return err
	}
	t, err := h.changeSpecs(c, func(m map[string]string) error {
		for k, v := range in {
			m[k] = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"extra_specs": t.ExtraSpecs})
}

func (h *Handler) updateExtraSpec(c *fiber.Ctx) error {
	var in map[string]string
	if err := decodeRaw(c, &in); err != nil {
		return err
	}
	k := api.Param(c, "key")
	v, ok := in[k]
	if !ok || len(in) != 1 {
		return fault.Invalid("", "Request body and URI mismatch")
	}
	if _, err := h.changeSpecs(c, func(m map[string]string) error { m[k] = v; return nil }); err != nil {
		return err
	}
	return c.JSON(fiber.Map{k: v})
}

func (h *Handler) deleteExtraSpec(c *fiber.Ctx) error {
	k := api.Param(c, "key")
	var missing bool
	t, err := h.changeSpecs(c, func(m map[string]string) error {
		_, ok := m[k]
		missing = !ok
		delete(m, k)
		return nil
	})
	if err != nil {
		return err
	}
	if missing {
		return fault.NotFound("Volume Type %s has no extra specs with key %s.", t.ID, k)
	}
	return empty(c, fiber.StatusAccepted)
}
