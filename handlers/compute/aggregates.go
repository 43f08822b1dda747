package compute

import (
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

// registerAggregates mounts os-aggregates.
func (h *Handler) registerAggregates(a fiber.Router) {
	a.Get("/os-aggregates", h.listAggregates)
	a.Post("/os-aggregates", h.createAggregate)
	a.Get("/os-aggregates/:id", h.showAggregate)
	a.Put("/os-aggregates/:id", h.updateAggregate)
	a.Delete("/os-aggregates/:id", h.deleteAggregate)
	a.Post("/os-aggregates/:id/action", h.aggregateAction)
}

// aggregateJSON is Nova's aggregate (uuid from 2.41).
func aggregateJSON(c *fiber.Ctx, a model.Aggregate) fiber.Map {
	var az, updated any
	if z := a.AZ(); z != "" {
		az = z
	}
	if a.UpdatedAt != nil {
		updated = a.UpdatedAt.UTC().Format(novaTS)
	}
	hosts := a.Hosts
	if hosts == nil {
		hosts = []string{}
	}
	m := fiber.Map{"id": a.ID, "name": a.Name, "availability_zone": az, "hosts": hosts, "metadata": a.Metadata,
		"created_at": a.CreatedAt.UTC().Format(novaTS), "updated_at": updated, "deleted": false, "deleted_at": nil}
	if version(c).AtLeast(2, 41) {
		m["uuid"] = a.UUID
	}
	return m
}

func (h *Handler) listAggregates(c *fiber.Ctx) error {
	as, err := h.svc.Aggregates(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(as))
	for i, a := range as {
		out[i] = aggregateJSON(c, a)
	}
	return c.JSON(fiber.Map{"aggregates": out})
}

func (h *Handler) showAggregate(c *fiber.Ctx) error {
	a, err := h.svc.Aggregate(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"aggregate": aggregateJSON(c, a)})
}

// aggregateBody is {"aggregate": {"name": ..., "availability_zone": ...}}.
type aggregateBody struct {
	Aggregate *struct {
		Name *string `json:"name"`
		AZ   *string `json:"availability_zone"`
	} `json:"aggregate"`
}

func (h *Handler) createAggregate(c *fiber.Ctx) error {
	var b aggregateBody
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.Aggregate == nil || b.Aggregate.Name == nil {
		return fault.InvalidAs("required", "name", "Invalid input for field/attribute name. 'name' is a required property")
	}
	az := ""
	if b.Aggregate.AZ != nil {
		az = *b.Aggregate.AZ
	}
	a, err := h.svc.CreateAggregate(c.UserContext(), api.Token(c), *b.Aggregate.Name, az)
	if err != nil {
		return err
	}
	out := aggregateJSON(c, a)
	delete(out, "hosts") // as Nova answers a create
	delete(out, "metadata")
	return c.JSON(fiber.Map{"aggregate": out})
}

func (h *Handler) updateAggregate(c *fiber.Ctx) error {
	var b aggregateBody
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.Aggregate == nil || (b.Aggregate.Name == nil && b.Aggregate.AZ == nil) {
		return fault.Invalid("aggregate", "Invalid input for field/attribute aggregate: a name or an availability_zone is required.")
	}
	a, err := h.svc.UpdateAggregate(c.UserContext(), api.Token(c), api.Param(c, "id"), b.Aggregate.Name, b.Aggregate.AZ)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"aggregate": aggregateJSON(c, a)})
}

func (h *Handler) deleteAggregate(c *fiber.Ctx) error {
	if err := h.svc.DeleteAggregate(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return empty(c, fiber.StatusOK)
}

// aggregateAction is add_host, remove_host or set_metadata.
func (h *Handler) aggregateAction(c *fiber.Ctx) error {
	var b map[string]json.RawMessage
	if err := decode(c, &b); err != nil {
		return err
	}
	if len(b) != 1 {
		return fault.Invalid("action", "There is no such action: expected exactly one action in the body.")
	}
	ctx, tok, id := c.UserContext(), api.Token(c), api.Param(c, "id")
	var a model.Aggregate
	var err error
	for k, v := range b {
		switch k {
		case "add_host", "remove_host":
			var hb struct {
				Host *string `json:"host"`
			}
			if json.Unmarshal(v, &hb) != nil || hb.Host == nil || *hb.Host == "" {
				return fault.InvalidAs("required", "host", "Invalid input for field/attribute host. 'host' is a required property")
			}
			if k == "add_host" {
				a, err = h.svc.AddAggregateHost(ctx, tok, id, *hb.Host)
			} else {
				a, err = h.svc.RemoveAggregateHost(ctx, tok, id, *hb.Host)
			}
		case "set_metadata":
			var mb struct {
				Metadata map[string]*string `json:"metadata"`
			}
			if json.Unmarshal(v, &mb) != nil || mb.Metadata == nil {
				return fault.InvalidAs("required", "metadata", "Invalid input for field/attribute metadata. 'metadata' is a required property")
			}
			a, err = h.svc.SetAggregateMetadata(ctx, tok, id, mb.Metadata)
		default:
			return fault.Invalid("action", "There is no such action: %s", k)
		}
	}
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"aggregate": aggregateJSON(c, a)})
}
