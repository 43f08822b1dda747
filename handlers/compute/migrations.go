package compute

import (
	"encoding/json"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// registerMigrations mounts os-migrations and /servers/{id}/migrations.
func (h *Handler) registerMigrations(a fiber.Router) {
	a.Get("/os-migrations", h.listMigrations)
	a.Get("/servers/:id/migrations", h.serverMigrations)
}

// resize is {"resize": {"flavorRef": ...}}: 202.
func (h *Handler) resize(c *fiber.Ctx, v json.RawMessage) error {
	var b struct {
		FlavorRef *json.RawMessage `json:"flavorRef"`
	}
	if err := json.Unmarshal(v, &b); err != nil || isNull(v) {
		return fault.Invalid("resize", "Invalid input for field/attribute resize: an object with a flavorRef is required.")
	}
	if b.FlavorRef == nil {
		return fault.InvalidAs("required", "flavorRef", "Invalid input for field/attribute flavorRef. 'flavorRef' is a required property")
	}
	ref, ok := stringOrNumber(*b.FlavorRef)
	if !ok || ref == "" {
		return fault.Invalid("flavorRef", "Invalid input for field/attribute flavorRef: a flavor id is required.")
	}
	if err := h.svc.Resize(c.UserContext(), api.Token(c), api.Param(c, "id"), ref, api.ReqID(c)); err != nil {
		return err
	}
	return empty(c, fiber.StatusAccepted)
}

// stringOrNumber reads a flavor reference, which clients send as a string
// or a number.
func stringOrNumber(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), true
	}
	return "", false
}

// migrate is an admin's {"migrate": null} or, from 2.56,
// {"migrate": {"host": ...}}: 202.
func (h *Handler) migrate(c *fiber.Ctx, v json.RawMessage) error {
	var b struct {
		Host *string `json:"host"`
	}
	if !isNullOrObject(v) {
		return fault.Invalid("migrate", "Invalid input for field/attribute migrate. Value: %s. %s is not of type 'null', 'object'", v, v)
	}
	if !isNull(v) {
		if err := json.Unmarshal(v, &b); err != nil {
			return fault.Invalid("migrate", "Invalid input for field/attribute migrate: an object with an optional host.")
		}
		if b.Host != nil && !version(c).AtLeast(2, 56) {
			return fault.Invalid("migrate", "Additional properties are not allowed ('host' was unexpected)")
		}
	}
	host := ""
	if b.Host != nil {
		host = *b.Host
	}
	if err := h.svc.Migrate(c.UserContext(), api.Token(c), api.Param(c, "id"), host, api.ReqID(c)); err != nil {
		return err
	}
	return empty(c, fiber.StatusAccepted)
}

func (h *Handler) listMigrations(c *fiber.Ctx) error {
	f := store.MigrationFilter{InstanceID: c.Query("instance_uuid"), Type: c.Query("migration_type"),
		Status: c.Query("status"), Host: c.Query("host"), ProjectID: c.Query("project_id")}
	ms, err := h.svc.Migrations(c.UserContext(), api.Token(c), f)
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(ms))
	for i, m := range ms {
		out[i] = migrationJSON(c, m)
		if version(c).AtLeast(2, 23) {
			out[i]["links"] = []fiber.Map{{"rel": "self", "href": h.publicURL + "/compute/v2.1/servers/" + m.InstanceID +
				"/migrations/" + strconv.FormatInt(m.ID, 10)}}
		}
	}
	return c.JSON(fiber.Map{"migrations": out})
}

// serverMigrations lists a server's moves in progress (Nova lists only
// live migrations there; Nimbus's are cold, and an admin wants to see
// them where the API offers).
func (h *Handler) serverMigrations(c *fiber.Ctx) error {
	ms, err := h.svc.ServerMigrations(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(ms))
	for i, m := range ms {
		out[i] = migrationJSON(c, m)
		out[i]["server_uuid"] = m.InstanceID
	}
	return c.JSON(fiber.Map{"migrations": out})
}

// migrationJSON is Nova's migration object.
func migrationJSON(c *fiber.Ctx, m model.Migration) fiber.Map {
	var dest any
	if m.DestHost != "" {
		dest = m.DestHost
	}
	out := fiber.Map{"id": m.ID, "instance_uuid": m.InstanceID, "status": string(m.Status), "source_compute": m.SourceHost,
		"source_node": m.SourceHost, "dest_compute": dest, "dest_node": dest, "dest_host": dest,
		"old_instance_type_id": flavorNumber(m.OldFlavor.ID), "new_instance_type_id": flavorNumber(m.NewFlavor.ID),
		"created_at": m.CreatedAt.UTC().Format(novaTS), "updated_at": m.UpdatedAt.UTC().Format(novaTS)}
	if version(c).AtLeast(2, 23) {
		out["migration_type"] = m.Type
	}
	if version(c).AtLeast(2, 59) {
		out["uuid"] = m.UUID
	}
	return out
}

// flavorNumber is a flavor id as Nova's *_instance_type_id: Nova gives
// its flavors' internal integer ids there; Nimbus has only the public id,
// given when it is a number, else null.
func flavorNumber(id string) any {
	if n, err := strconv.Atoi(id); err == nil {
		return n
	}
	return nil
}
