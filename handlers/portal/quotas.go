package portal

import (
	"errors"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/network"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
	"github.com/nimbus-cloud/nimbus/internal/volume"
	"github.com/nimbus-cloud/nimbus/views"
)

func (h *Handler) quotaList(c *fiber.Ctx) error {
	ps, err := h.svc.Projects(c.UserContext(), api.Token(c), store.ProjectFilter{})
	if err != nil {
		return err
	}
	v := views.QuotaList{Page: h.page(c, "admin-quotas", "quotas.title")}
	for _, p := range ps {
		uses, err := h.quotaUses(c, p.ID, "instances", "cores", "ram")
		if err != nil {
			return err
		}
		v.Projects = append(v.Projects, views.ProjectQuota{ProjectID: p.ID, Name: p.Name, Uses: uses})
	}
	return render(c, views.QuotaListPage(v))
}

func (h *Handler) quotaFormView(c *fiber.Ctx, id string, f views.Form) (views.QuotaForm, error) {
	p, err := h.svc.Project(c.UserContext(), api.Token(c), id)
	if err != nil {
		return views.QuotaForm{}, err
	}
	uses, err := h.quotaUses(c, id)
	if err != nil {
		return views.QuotaForm{}, err
	}
	if f.Values == nil {
		f.Values = map[string]string{}
		for _, u := range uses {
			f.Values[u.Key] = strconv.Itoa(u.Limit)
		}
	}
	return views.QuotaForm{Page: h.page(c, "admin-quotas", "quotas.edit_title", p.Name), Form: f, ProjectID: id, Uses: uses}, nil
}

func (h *Handler) quotaEdit(c *fiber.Ctx) error {
	v, err := h.quotaFormView(c, api.Param(c, "id"), views.Form{})
	if err != nil {
		return err
	}
	return render(c, views.QuotaFormPage(v))
}

// quotaUpdate saves new limits; lowering one below what is used is refused
// next to its field unless "force" is ticked.
func (h *Handler) quotaUpdate(c *fiber.Ctx) error {
	ctx, id := c.UserContext(), api.Param(c, "id")
	fields := append(append([]string{}, compute.QuotaResources...), network.QuotaResources...)
	if h.cfg.Volumes != nil {
		fields = append(fields, volume.QuotaResources...)
	}
	f := readForm(c, append(fields, "force")...)
	limits, netLimits, volLimits := map[string]int{}, map[string]int{}, map[string]int{}
	for _, r := range fields {
		optional := slices.Contains(network.QuotaResources, r) || slices.Contains(volume.QuotaResources, r)
		if f.V(r) == "" && optional {
			continue // a form without the network (or volume) limits
		}
		n, err := strconv.Atoi(f.V(r))
		if err != nil || validate.Int(r, n, -1, validate.MaxInt32) != nil {
			f.Errors[r] = i18n.T(ctx, "quota.invalid_limit")
			continue
		}
		switch {
		case slices.Contains(network.QuotaResources, r):
			netLimits[r] = n
		case slices.Contains(volume.QuotaResources, r):
			volLimits[r] = n
		default:
			limits[r] = n
		}
	}
	if len(f.Errors) == 0 {
		_, err := h.compute.SetQuotas(ctx, api.Token(c), id, limits, f.V("force") == "on")
		if err == nil && len(netLimits) > 0 && h.cfg.Network != nil {
			_, err = h.cfg.Network.UpdateQuotas(ctx, api.Token(c), id, netLimits)
		}
		if err == nil && len(volLimits) > 0 {
			// Cinder's limits (volumes, gigabytes, snapshots); Cinder lets
			// them go below use, as the Block Storage API does here.
			_, err = h.cfg.Volumes.SetQuotas(ctx, api.Token(c), id, volLimits)
		}
		var v *fault.Validation
		switch {
		case errors.As(err, &v) && slices.Contains(volume.QuotaResources, v.Field):
			f.Errors[v.Field] = i18n.T(ctx, "quota.invalid_limit")
		case errors.As(err, &v):
			// The service refuses a limit below current use (without force).
			f.Errors[v.Field] = i18n.T(ctx, "quota.below_usage")
		case err != nil:
			return err
		}
	}
	if len(f.Errors) > 0 {
		v, err := h.quotaFormView(c, id, f)
		if err != nil {
			return err
		}
		c.Status(fiber.StatusUnprocessableEntity)
		return render(c, views.QuotaFormPage(v))
	}
	h.flash(c, "ok", "quotas.saved")
	return c.Redirect("/admin/quotas", fiber.StatusSeeOther)
}
