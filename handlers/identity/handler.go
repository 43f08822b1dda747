// Package identity serves the Keystone v3 API at /identity. Handlers
// parse the request, call one method of identity.Service (which applies
// the policy table) and render Keystone's JSON.
package identity

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	idsvc "github.com/nimbus-cloud/nimbus/internal/identity"
)

// Config is what the handlers need to know about the deployment.
type Config struct {
	PublicURL      string // base URL, no trailing slash
	Region         string
	TrustedProxies []*net.IPNet
}

// Handler serves the Identity API.
type Handler struct {
	svc     *idsvc.Service
	log     *slog.Logger
	cfg     Config
	catalog []catalogService
	auth    fiber.Handler

	// bodies caches the rendered validation answer per token audit id.
	// A token's answer never changes (any change revokes the token), and
	// the token is validated before each use of the cache.
	bodiesMu sync.RWMutex
	bodies   map[string][]byte
}

// New returns a Handler.
func New(svc *idsvc.Service, log *slog.Logger, cfg Config) *Handler {
	h := &Handler{svc: svc, log: log.With("component", "identity-api"), cfg: cfg, bodies: map[string][]byte{}}
	h.auth = api.Authenticate(svc)
	h.catalog = buildCatalog(cfg.PublicURL, cfg.Region)
	return h
}

// Register mounts the API on r (the app root).
func (h *Handler) Register(r fiber.Router) {
	r.Get("/identity", h.versions)
	r.Get("/identity/", h.versions)
	v3 := r.Group("/identity/v3")
	v3.Get("/", h.version)
	v3.Post("/auth/tokens", h.issueToken)
	v3.Get("/auth/tokens", h.auth, h.validateToken)
	v3.Delete("/auth/tokens", h.auth, h.revokeToken)
	v3.Get("/auth/projects", h.auth, h.authProjects)
	v3.Get("/auth/domains", h.auth, h.authDomains)
	v3.Get("/auth/catalog", h.auth, h.authCatalog)

	v3.Get("/projects", h.auth, h.listProjects)
	v3.Post("/projects", h.auth, h.createProject)
	v3.Get("/projects/:id", h.auth, h.getProject)
	v3.Patch("/projects/:id", h.auth, h.updateProject)
	v3.Delete("/projects/:id", h.auth, h.deleteProject)
	v3.Get("/projects/:pid/users/:uid/roles", h.auth, h.listGrants)
	v3.Get("/projects/:pid/users/:uid/roles/:rid", h.auth, h.checkGrant)
	v3.Put("/projects/:pid/users/:uid/roles/:rid", h.auth, h.grant)
	v3.Delete("/projects/:pid/users/:uid/roles/:rid", h.auth, h.revokeGrant)

	v3.Get("/users", h.auth, h.listUsers)
	v3.Post("/users", h.auth, h.createUser)
	v3.Get("/users/:id", h.auth, h.getUser)
	v3.Patch("/users/:id", h.auth, h.updateUser)
	v3.Delete("/users/:id", h.auth, h.deleteUser)
	v3.Post("/users/:id/password", h.auth, h.changePassword)
	v3.Get("/users/:id/projects", h.auth, h.userProjects)

	v3.Get("/roles", h.auth, h.listRoles)
	v3.Post("/roles", h.auth, h.createRole)
	v3.Get("/roles/:id", h.auth, h.getRole)
	v3.Patch("/roles/:id", h.auth, h.updateRole)
	v3.Delete("/roles/:id", h.auth, h.deleteRole)

	v3.Get("/domains", h.auth, h.listDomains)
	v3.Get("/domains/:id", h.auth, h.getDomain)
	v3.Get("/role_assignments", h.auth, h.listAssignments)
}

// WriteError renders err in Keystone's shape, with the WWW-Authenticate
// header Keystone adds to 401s.
func (h *Handler) WriteError(c *fiber.Ctx, err error) error {
	if api.Status(err) == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Keystone uri="`+h.cfg.PublicURL+`/identity"`)
	}
	return api.WriteError(c, h.log, err)
}

// decode reads a JSON body into v, refusing malformed JSON with 400.
func decode(c *fiber.Ctx, v any) error {
	if len(c.Body()) == 0 {
		return fault.Invalid("", "the request body is empty")
	}
	if err := json.Unmarshal(c.Body(), v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return fault.Invalid(te.Field, "has the wrong type (want %s)", te.Type)
		case errors.As(err, &se):
			return fault.Invalid("", "the request body is not valid JSON")
		}
		return fault.Invalid("", "the request body is not valid JSON")
	}
	return nil
}

func query(c *fiber.Ctx, name string) string { return strings.Clone(c.Query(name)) }

// boolQuery parses Keystone's boolean filters; nil when absent.
func boolQuery(c *fiber.Ctx, name string) (*bool, error) {
	v := strings.ToLower(c.Query(name))
	if v == "" {
		return nil, nil
	}
	switch v {
	case "1", "true", "yes", "on":
		t := true
		return &t, nil
	case "0", "false", "no", "off":
		f := false
		return &f, nil
	}
	return nil, fault.Invalid(name, "must be true or false")
}

// stableID derives a fixed id for catalog entries from their content.
func stableID(parts ...string) string {
	s := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(s[:16])
}

// flagQuery reads a Keystone flag such as ?nocatalog or ?include_names:
// present means true unless its value says false.
func flagQuery(c *fiber.Ctx, name string) bool {
	v, ok := c.Queries()[name]
	if !ok {
		return false
	}
	switch strings.ToLower(v) {
	case "0", "false", "no", "off":
		return false
	}
	return true
}
