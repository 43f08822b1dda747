package portal

import (
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/views"
)

// Admin > Host Aggregates: create and delete aggregates, put hosts in
// and take them out, set and remove metadata (the zone among it).

func (h *Handler) registerAdminAggregates(a fiber.Router) {
	a.Get("/aggregates", h.aggregateList)
	a.Post("/aggregates", h.aggregateCreate)
	a.Post("/aggregates/:id/delete", h.aggregateDelete)
	a.Post("/aggregates/:id/hosts", h.aggregateAddHost)
	a.Post("/aggregates/:id/hosts/:host/remove", h.aggregateRemoveHost)
	a.Post("/aggregates/:id/metadata", h.aggregateSetMetadata)
}

func (h *Handler) aggregateList(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	as, err := h.compute.Aggregates(ctx, tok)
	if err != nil {
		return err
	}
	hs, err := h.compute.Hosts(ctx, tok)
	if err != nil {
		return err
	}
	v := views.AggregateList{Page: h.page(c, "admin-aggregates", "aggregates.title")}
	for _, x := range hs {
		v.AllHosts = append(v.AllHosts, x.Host)
	}
	for _, a := range as {
		r := views.AggregateRow{ID: a.ID, Name: a.Name, AZ: a.AZ(), Hosts: a.Hosts}
		for _, k := range slices.Sorted(maps.Keys(a.Metadata)) {
			r.Metadata = append(r.Metadata, [2]string{k, a.Metadata[k]})
		}
		for _, x := range v.AllHosts {
			if !slices.Contains(a.Hosts, x) {
				r.Addable = append(r.Addable, x)
			}
		}
		v.Aggregates = append(v.Aggregates, r)
	}
	return render(c, views.AggregateListPage(v))
}

// aggregateDone shows err (a refusal the admin can fix) as a flash, or
// okKey, and goes back to the list.
func (h *Handler) aggregateDone(c *fiber.Ctx, err error, okKey string, args ...any) error {
	var v *fault.Validation
	switch {
	case err == nil:
		h.flash(c, "ok", okKey, args...)
	case errors.As(err, &v), errors.Is(err, fault.ErrConflict), errors.Is(err, fault.ErrNotFound):
		h.flash(c, "error", "aggregates.refused", err.Error())
	default:
		return err
	}
	return c.Redirect("/admin/aggregates", fiber.StatusSeeOther)
}

func (h *Handler) aggregateCreate(c *fiber.Ctx) error {
	name := strings.TrimSpace(c.FormValue("name"))
	_, err := h.compute.CreateAggregate(c.UserContext(), api.Token(c), name, strings.TrimSpace(c.FormValue("zone")))
	return h.aggregateDone(c, err, "aggregates.created_flash", name)
}

func (h *Handler) aggregateDelete(c *fiber.Ctx) error {
	err := h.compute.DeleteAggregate(c.UserContext(), api.Token(c), api.Param(c, "id"))
	return h.aggregateDone(c, err, "aggregates.deleted_flash")
}

func (h *Handler) aggregateAddHost(c *fiber.Ctx) error {
	host := c.FormValue("host")
	_, err := h.compute.AddAggregateHost(c.UserContext(), api.Token(c), api.Param(c, "id"), host)
	return h.aggregateDone(c, err, "aggregates.host_added_flash", host)
}

func (h *Handler) aggregateRemoveHost(c *fiber.Ctx) error {
	host := api.Param(c, "host")
	_, err := h.compute.RemoveAggregateHost(c.UserContext(), api.Token(c), api.Param(c, "id"), host)
	return h.aggregateDone(c, err, "aggregates.host_removed_flash", host)
}

// aggregateSetMetadata sets a key, or removes it when the value is empty.
func (h *Handler) aggregateSetMetadata(c *fiber.Ctx) error {
	key := strings.TrimSpace(c.FormValue("key"))
	value := strings.TrimSpace(c.FormValue("value"))
	md := map[string]*string{key: &value}
	if value == "" {
		md[key] = nil
	}
	_, err := h.compute.SetAggregateMetadata(c.UserContext(), api.Token(c), api.Param(c, "id"), md)
	return h.aggregateDone(c, err, "aggregates.metadata_flash", key)
}
