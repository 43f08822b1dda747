package portal

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/volume"
	"github.com/nimbus-cloud/nimbus/views"
)

// Admin > Volume Types: Cinder's volume types, listed, created (with the
// one extra spec the storage hosts read, volume_backend_name) and
// deleted, through the service the Block Storage API uses.

// registerAdminVolumeTypes mounts Admin > Volume Types on a (/admin);
// without block storage there is none.
func (h *Handler) registerAdminVolumeTypes(a fiber.Router) {
	if h.cfg.Volumes == nil {
		return
	}
	a.Get("/volume_types", h.volumeTypeList)
	a.Get("/volume_types/new", h.volumeTypeNew)
	a.Post("/volume_types", h.volumeTypeCreate)
	a.Post("/volume_types/:id/delete", h.volumeTypeDelete)
}

const volumeTypesPage = "/admin/volume_types"

// backendSpec is the extra spec naming the storage backend a type's
// volumes go to.
const backendSpec = "volume_backend_name"

func (h *Handler) volumeTypeList(c *fiber.Ctx) error {
	ts, err := h.cfg.Volumes.Types(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	v := views.VolumeTypeList{Page: h.page(c, "admin-volume-types", "volume_types.title")}
	for _, t := range ts {
		r := views.VolumeTypeRow{ID: t.ID, Name: t.Name, Description: t.Description, IsPublic: t.IsPublic,
			IsDefault: t.ID == model.DefaultVolumeTypeID}
		for _, k := range slices.Sorted(maps.Keys(t.ExtraSpecs)) {
			r.ExtraSpecs = append(r.ExtraSpecs, k+"="+t.ExtraSpecs[k])
		}
		v.Types = append(v.Types, r)
	}
	slices.SortStableFunc(v.Types, func(a, b views.VolumeTypeRow) int { return strings.Compare(a.Name, b.Name) })
	return render(c, views.VolumeTypeListPage(v))
}

var volumeTypeFields = []string{"name", "description", "is_public", backendSpec}

func (h *Handler) volumeTypeNew(c *fiber.Ctx) error {
	f := views.Form{Values: map[string]string{"is_public": "on"}}
	return render(c, views.VolumeTypeFormPage(views.VolumeTypeForm{Page: h.page(c, "admin-volume-types", "volume_types.create_title"), Form: f}))
}

func (h *Handler) volumeTypeCreate(c *fiber.Ctx) error {
	ctx := c.UserContext()
	f := readForm(c, volumeTypeFields...)
	in := model.VolumeType{Name: strings.TrimSpace(f.V("name")), Description: strings.TrimSpace(f.V("description")),
		IsPublic: f.V("is_public") == "on", ExtraSpecs: map[string]string{}}
	if in.Name == "" {
		f.Errors["name"] = i18n.T(ctx, "form.required")
	}
	if b := strings.TrimSpace(f.V(backendSpec)); b != "" {
		in.ExtraSpecs[backendSpec] = b
	}
	var err error
	if len(f.Errors) == 0 {
		var t model.VolumeType
		t, err = h.cfg.Volumes.CreateType(ctx, api.Token(c), in)
		if err == nil {
			h.flash(c, "ok", "volume_types.created", t.Name)
			return c.Redirect(volumeTypesPage, fiber.StatusSeeOther)
		}
	}
	if len(f.Errors) > 0 || volumeTypeFieldError(ctx, &f, err) {
		c.Status(fiber.StatusUnprocessableEntity)
		return render(c, views.VolumeTypeFormPage(views.VolumeTypeForm{Page: h.page(c, "admin-volume-types", "volume_types.create_title"), Form: f}))
	}
	return err
}

// volumeTypeFieldError explains a refused type next to its field.
func volumeTypeFieldError(ctx context.Context, f *views.Form, err error) bool {
	var v *fault.Validation
	if errors.As(err, &v) && v.Field == "extra_specs" {
		f.Errors[backendSpec] = i18n.T(ctx, "form.too_long")
		return true
	}
	return fieldError(ctx, f, err, "name")
}

// volumeTypeDelete deletes a type; the default type and a type volumes
// still use are refused with a flash.
func (h *Handler) volumeTypeDelete(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	t, err := h.cfg.Volumes.Type(ctx, tok, api.Param(c, "id"))
	if err != nil {
		return err
	}
	err = h.cfg.Volumes.DeleteType(ctx, tok, t.ID)
	var r *volume.Refusal
	var v *fault.Validation
	switch {
	case err == nil:
		h.flash(c, "ok", "volume_types.deleted", t.Name)
	case errors.As(err, &r):
		h.flash(c, "error", "volume_types.in_use", t.Name)
	case t.ID == model.DefaultVolumeTypeID && errors.As(err, &v):
		h.flash(c, "error", "volume_types.default_kept", t.Name)
	case errors.As(err, &v), errors.Is(err, fault.ErrConflict):
		h.flash(c, "error", "volume_types.refused", refusal(err))
	default:
		return err
	}
	return c.Redirect(volumeTypesPage, fiber.StatusSeeOther)
}
