// Package network serves the Networking API (Neutron v2.0) at
// /networking: networks, subnets, ports, security groups, routers,
// floating IPs, quotas and the extension list clients read.
package network

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	netsvc "github.com/nimbus-cloud/nimbus/internal/network"
)

// Handler serves the Networking API.
type Handler struct {
	svc       *netsvc.Service
	log       *slog.Logger
	publicURL string
	auth      fiber.Handler
}

// New returns a Handler.
func New(svc *netsvc.Service, v api.Validator, log *slog.Logger, publicURL string) *Handler {
	return &Handler{svc: svc, log: log.With("component", "network-api"), publicURL: publicURL, auth: api.Authenticate(v)}
}

// Register mounts the API. Neutron's old clients add ".json" to paths;
// the version root strips it so both spellings reach the same route.
func (h *Handler) Register(r fiber.Router) {
	r.Get("/networking", h.versions)
	r.Get("/networking/", h.versions)
	v := r.Group("/networking/v2.0", stripJSON)
	v.Get("/", h.resources)
	a := v.Group("", h.auth)
	a.Get("/extensions", h.extensions)
	a.Get("/extensions/:alias", h.extension)
	h.registerNetworks(a)
	h.registerPorts(a)
	h.registerSecurityGroups(a)
	h.registerRouters(a)
	h.registerQuotas(a)
}

// stripJSON drops a ".json" suffix from the path (neutronclient's habit).
func stripJSON(c *fiber.Ctx) error {
	if p := c.Path(); strings.HasSuffix(p, ".json") {
		c.Path(strings.TrimSuffix(p, ".json"))
		return c.RestartRouting()
	}
	return c.Next()
}

func (h *Handler) versions(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"versions": []fiber.Map{{"id": "v2.0", "status": "CURRENT",
		"links": []fiber.Map{{"rel": "self", "href": h.publicURL + "/networking/v2.0/"}}}}})
}

func (h *Handler) resources(c *fiber.Ctx) error {
	var out []fiber.Map
	for _, r := range []string{"network", "subnet", "port", "security_group", "security_group_rule", "router", "floatingip", "quota"} {
		plural := r + "s"
		out = append(out, fiber.Map{"name": r, "collection": plural,
			"links": []fiber.Map{{"rel": "self", "href": h.publicURL + "/networking/v2.0/" + plural}}})
	}
	return c.JSON(fiber.Map{"resources": out})
}

// WriteError renders err as Neutron does:
// {"NeutronError": {"type": "NetworkNotFound", "message": "...", "detail": ""}}.
// An exceeded quota is Neutron's 409, not Nova's 403.
func (h *Handler) WriteError(c *fiber.Ctx, err error) error {
	status := api.Status(err)
	if status == fiber.StatusUnauthorized {
		return api.WriteError(c, h.log, err)
	}
	var ne *netsvc.Error
	typ := ""
	if errors.As(err, &ne) {
		typ = ne.Type
		if typ == "OverQuota" {
			status = fiber.StatusConflict
		}
	}
	api.Prepare(c, h.log, err, status)
	if typ == "" {
		typ = map[int]string{400: "HTTPBadRequest", 403: "HTTPForbidden", 404: "HTTPNotFound", 405: "HTTPMethodNotAllowed",
			409: "HTTPConflict", 413: "HTTPRequestEntityTooLarge", 429: "HTTPTooManyRequests", 503: "ServiceUnavailable"}[status]
		if typ == "" {
			typ = "HTTPInternalServerError"
		}
	}
	msg := api.Message(err, status)
	var oq *fault.OverQuota
	if errors.As(err, &oq) {
		msg = fmt.Sprintf("Quota exceeded for resources: ['%s'].", oq.Resource)
	}
	var v *fault.Validation
	if errors.As(err, &v) && status == fiber.StatusBadRequest {
		msg = v.Message
		if v.Field != "" && !strings.Contains(msg, v.Field) {
			msg = "Invalid input for " + v.Field + ". Reason: " + msg + "."
		}
	}
	for _, s := range []error{fault.ErrNotFound, fault.ErrConflict, fault.ErrForbidden} {
		msg = strings.TrimSuffix(msg, ": "+s.Error())
	}
	return c.Status(status).JSON(fiber.Map{"NeutronError": fiber.Map{"type": typ, "message": msg, "detail": ""}})
}

// decode reads {"<key>": {...}} into v, refusing malformed JSON, a
// missing body and attributes Neutron does not know, with 400.
func decode(c *fiber.Ctx, key string, v any) error {
	outer, err := outerBody(c)
	if err != nil {
		return err
	}
	return decodeOne(outer, key, v)
}

// decodeOne decodes the body's only member, which must be key.
func decodeOne(outer map[string]json.RawMessage, key string, v any) error {
	inner, ok := outer[key]
	if !ok || len(outer) != 1 {
		return &netsvc.Error{Type: "HTTPBadRequest", Err: fault.Invalid("", "Resource body required")}
	}
	return decodeInner(inner, v)
}

// outerBody reads the body's outer object.
func outerBody(c *fiber.Ctx) (map[string]json.RawMessage, error) {
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(c.Body(), &outer); err != nil || outer == nil {
		return nil, &netsvc.Error{Type: "HTTPBadRequest", Err: fault.Invalid("", "Malformed request body")}
	}
	return outer, nil
}

// decodeInner decodes one resource's attributes strictly (unknown ones
// are Neutron's "Unrecognized attribute(s)").
func decodeInner(inner json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(inner))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, f, ok := strings.Cut(err.Error(), "unknown field "); ok {
			return &netsvc.Error{Type: "HTTPBadRequest", Err: fault.Invalid("", "Unrecognized attribute(s) '%s'", strings.Trim(f, `"`))}
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &netsvc.Error{Type: "HTTPBadRequest", Err: fault.Invalid("", "Invalid input for %s. Reason: '%s' is not a valid %s.",
				te.Field, te.Value, te.Type)}
		}
		if errors.Is(err, io.EOF) {
			return &netsvc.Error{Type: "HTTPBadRequest", Err: fault.Invalid("", "Resource body required")}
		}
		return &netsvc.Error{Type: "HTTPBadRequest", Err: fault.Invalid("", "Malformed request body")}
	}
	return nil
}

// creator makes one resource of a create request (bulk or not).
type creator[In, Out any] struct {
	key, plural string
	make        func(In) (Out, error)
	undo        func(Out) error // deletes one made, when a later one of a bulk request fails
	view        func(Out) fiber.Map
}

// create answers a create request: {"<key>": {...}} makes one, and
// Neutron's bulk form {"<plural>": [{...}, ...]} makes each in order and
// answers them all, or, when one fails, deletes those made and answers
// that failure (nothing half made).
func create[In, Out any](c *fiber.Ctx, cr creator[In, Out]) error {
	outer, err := outerBody(c)
	if err != nil {
		return err
	}
	raw, bulk := outer[cr.plural]
	if !bulk || len(outer) != 1 {
		var in In
		if err := decodeOne(outer, cr.key, &in); err != nil {
			return err
		}
		out, err := cr.make(in)
		if err != nil {
			return err
		}
		return one(c, fiber.StatusCreated, cr.key, cr.view(out))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
		return &netsvc.Error{Type: "HTTPBadRequest", Err: fault.Invalid("", "Resources required: a non-empty list of %s", cr.plural)}
	}
	ins := make([]In, len(items))
	for i, item := range items {
		if err := decodeInner(item, &ins[i]); err != nil {
			return err
		}
	}
	var made []Out
	for _, in := range ins {
		out, err := cr.make(in)
		if err != nil {
			for i := len(made) - 1; i >= 0; i-- {
				_ = cr.undo(made[i]) // best effort: the failure is what answers
			}
			return err
		}
		made = append(made, out)
	}
	views := make([]fiber.Map, len(made))
	for i, out := range made {
		views[i] = fields(c, cr.view(out))
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{cr.plural: views})
}

// one answers a single resource.
func one(c *fiber.Ctx, status int, key string, m fiber.Map) error {
	return c.Status(status).JSON(fiber.Map{key: fields(c, m)})
}

func noContent(c *fiber.Ctx) error {
	c.Status(fiber.StatusNoContent)
	return nil
}
