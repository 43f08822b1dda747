package portal

import (
	"context"
	"errors"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/views"
)

// maxBulk is the most instances one bulk request acts on: two pages of
// the list.
const maxBulk = 200

// instanceBulk asks one action of every selected instance in one request
// and answers each instance's result: accepted, or why not (another
// project's or an unknown instance is "not found", as one by one). The
// rows then change through the change feed like any other.
func (h *Handler) instanceBulk(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	name := c.FormValue("action")
	var act compute.Action
	for _, a := range portalActions {
		if a.name == name && slices.Contains(views.BulkActions, name) {
			act = a.act
		}
	}
	if act == "" {
		return fault.Invalid("action", "unknown bulk action")
	}
	ids, err := bulkIDs(c, "instances")
	if err != nil {
		return err
	}
	v := views.BulkResult{Action: name}
	for _, id := range ids {
		r := views.BulkRow{ID: id, Name: id}
		if in, err := h.compute.Get(ctx, tok, id); err == nil {
			r.Name = in.Name
		}
		if err := h.actOn(ctx, tok, id, act, api.ReqID(c)); err != nil {
			r.Error = bulkRefusal(ctx, err)
			if r.Error == "" {
				return err // not a refusal: the error page
			}
		}
		v.Rows = append(v.Rows, r)
	}
	return render(c, views.BulkResults(v))
}

// bulkIDs reads a bulk request's selection (the id fields): between one
// and maxBulk of what (instances, images).
func bulkIDs(c *fiber.Ctx, what string) ([]string, error) {
	var ids []string
	for _, v := range c.Request().PostArgs().PeekMulti("id") {
		ids = append(ids, string(v))
	}
	if len(ids) == 0 || len(ids) > maxBulk {
		return nil, fault.Invalid("id", "choose between 1 and %d %s", maxBulk, what)
	}
	return ids, nil
}

// actOn asks act of one instance, as its own button does.
func (h *Handler) actOn(ctx context.Context, tok *model.Token, id string, act compute.Action, reqID string) error {
	switch act {
	case compute.ActionShelve:
		return h.compute.Shelve(ctx, tok, id, reqID)
	case compute.ActionMigrate:
		return h.compute.Migrate(ctx, tok, id, "", reqID)
	}
	return h.compute.Act(ctx, tok, id, act, reqID)
}

// bulkRefusal words why one instance refused, or "" for an error that is
// no refusal (the database down).
func bulkRefusal(ctx context.Context, err error) string {
	var over *fault.OverQuota
	switch {
	case errors.Is(err, fault.ErrNotFound):
		return i18n.T(ctx, "error.404.title")
	case errors.Is(err, fault.ErrConflict):
		return i18n.T(ctx, "instances.bulk_conflict")
	case errors.Is(err, fault.ErrForbidden):
		return i18n.T(ctx, "error.403.title")
	case errors.As(err, &over):
		return i18n.T(ctx, "instances.over_quota_server", over.Resource, over.Used, over.Limit)
	}
	var v *fault.Validation
	if errors.As(err, &v) {
		return i18n.T(ctx, "error.400.title")
	}
	return ""
}
