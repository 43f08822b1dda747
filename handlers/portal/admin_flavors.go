package portal

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/views"
)

// Admin > Flavors.

func (h *Handler) flavorList(c *fiber.Ctx) error {
	fs, err := h.compute.Flavors(c.UserContext(), api.Token(c), store.FlavorFilter{})
	if err != nil {
		return err
	}
	o := readListOrder(c, "/admin/flavors", []string{"name", "vcpus", "ram", "disk"})
	v := views.FlavorList{Page: h.page(c, "admin-flavors", "flavors.title"), Order: o.view()}
	for _, f := range fs {
		if o.matches(f.Name, f.ID) {
			v.Flavors = append(v.Flavors, views.FlavorRow{ID: f.ID, Name: f.Name, VCPUs: f.VCPUs, RAMMB: f.RAMMB,
				DiskGB: f.DiskGB, IsPublic: f.IsPublic})
		}
	}
	sortRows(v.Flavors, o, map[string]func(a, b views.FlavorRow) int{
		"name":  byText(func(r views.FlavorRow) string { return r.Name }),
		"vcpus": byInt(func(r views.FlavorRow) int { return r.VCPUs }),
		"ram":   byInt(func(r views.FlavorRow) int { return r.RAMMB }),
		"disk":  byInt(func(r views.FlavorRow) int { return r.DiskGB }),
	})
	return render(c, views.FlavorListPage(v))
}

var flavorFields = []string{"name", "id", "vcpus", "ram", "disk", "is_public"}

func (h *Handler) flavorNew(c *fiber.Ctx) error {
	f := views.Form{Values: map[string]string{"vcpus": "1", "ram": "512", "disk": "1", "is_public": "on"}}
	return render(c, views.FlavorFormPage(views.FlavorForm{Page: h.page(c, "admin-flavors", "flavors.create_title"), Form: f}))
}

func (h *Handler) flavorCreate(c *fiber.Ctx) error {
	ctx := c.UserContext()
	f := readForm(c, flavorFields...)
	in := model.Flavor{Name: strings.TrimSpace(f.V("name")), ID: strings.TrimSpace(f.V("id")),
		IsPublic: f.V("is_public") == "on", RXTXFactor: 1}
	if in.Name == "" {
		f.Errors["name"] = i18n.T(ctx, "form.required")
	}
	in.VCPUs = readWholeNumber(ctx, &f, "vcpus", 1, -1, "flavors.error_positive")
	in.RAMMB = readWholeNumber(ctx, &f, "ram", 1, -1, "flavors.error_positive")
	in.DiskGB = readWholeNumber(ctx, &f, "disk", 0, -1, "flavors.error_non_negative")
	var err error
	if len(f.Errors) == 0 {
		var fl model.Flavor
		fl, err = h.compute.CreateFlavor(ctx, api.Token(c), in)
		if err == nil {
			h.flash(c, "ok", "flavors.created", fl.Name)
			return c.Redirect("/admin/flavors", fiber.StatusSeeOther)
		}
	}
	if len(f.Errors) > 0 || flavorFieldError(ctx, &f, err) {
		c.Status(fiber.StatusUnprocessableEntity)
		return render(c, views.FlavorFormPage(views.FlavorForm{Page: h.page(c, "admin-flavors", "flavors.create_title"), Form: f}))
	}
	return err
}

// flavorFieldError explains a refused flavor next to its field.
func flavorFieldError(ctx context.Context, f *views.Form, err error) bool {
	var v *fault.Validation
	if errors.As(err, &v) {
		switch v.Field {
		case "id":
			f.Errors["id"] = i18n.T(ctx, "flavors.error_id")
			return true
		case "vcpus", "ram":
			f.Errors[v.Field] = i18n.T(ctx, "flavors.error_positive")
			return true
		case "disk":
			f.Errors["disk"] = i18n.T(ctx, "flavors.error_non_negative")
			return true
		}
	}
	if errors.Is(err, fault.ErrConflict) {
		f.Errors["name"] = i18n.T(ctx, "flavors.error_taken")
		return true
	}
	return fieldError(ctx, f, err, "name")
}

func (h *Handler) flavorDelete(c *fiber.Ctx) error {
	id, err := url.PathUnescape(api.Param(c, "id"))
	if err != nil {
		return fault.ErrNotFound
	}
	if err := h.compute.DeleteFlavor(c.UserContext(), api.Token(c), id); err != nil {
		return err
	}
	h.flash(c, "ok", "flavors.deleted")
	return c.Redirect("/admin/flavors", fiber.StatusSeeOther)
}
