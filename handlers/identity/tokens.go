package identity

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	idsvc "github.com/nimbus-cloud/nimbus/internal/identity"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

type ref struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Domain *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"domain"`
}

type authRequest struct {
	Auth *struct {
		Identity *struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User *struct {
					ref
					Password string `json:"password"`
				} `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

// parseScope reads "scope": absent, the string "unscoped", or a project.
func parseScope(raw json.RawMessage) (idsvc.Scope, error) {
	var sc idsvc.Scope
	if len(raw) == 0 || string(raw) == "null" {
		return sc, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "unscoped" {
			sc.Unscoped = true
			return sc, nil
		}
		return sc, fault.Invalid("scope", "must be \"unscoped\" or an object")
	}
	var obj struct {
		Project *ref            `json:"project"`
		Domain  json.RawMessage `json:"domain"`
		System  json.RawMessage `json:"system"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return sc, fault.Invalid("scope", "is malformed")
	}
	switch {
	case obj.Project != nil:
		p := obj.Project
		if p.ID == "" && p.Name == "" {
			return sc, fault.Invalid("scope.project", "needs an id or a name")
		}
		sc.ProjectID, sc.ProjectName = p.ID, p.Name
		if p.ID == "" {
			if p.Domain == nil || (p.Domain.ID == "" && p.Domain.Name == "") {
				return sc, fault.Invalid("scope.project.domain", "is required with a project name")
			}
			sc.DomainID, sc.DomainName = p.Domain.ID, p.Domain.Name
		}
		return sc, nil
	case obj.Domain != nil, obj.System != nil:
		// Nimbus grants roles on projects only; a domain or system scope
		// could carry no roles, and Keystone answers 401 for that.
		return sc, fault.ErrUnauthorized
	}
	return sc, fault.Invalid("scope", "must name a project")
}

func (h *Handler) issueToken(c *fiber.Ctx) error {
	var req authRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Auth == nil || req.Auth.Identity == nil {
		return fault.Invalid("auth.identity", "is required")
	}
	id := req.Auth.Identity
	scope, err := parseScope(req.Auth.Scope)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	var tok string
	var t *model.Token
	switch {
	case contains(id.Methods, "password"):
		if id.Password == nil || id.Password.User == nil {
			return fault.Invalid("auth.identity.password.user", "is required")
		}
		u := id.Password.User
		r := idsvc.UserRef{ID: u.ID, Name: u.Name}
		if u.ID == "" {
			if u.Name == "" {
				return fault.Invalid("auth.identity.password.user", "needs an id or a name")
			}
			if u.Domain == nil || (u.Domain.ID == "" && u.Domain.Name == "") {
				return fault.Invalid("auth.identity.password.user.domain", "is required with a user name")
			}
			r.DomainID, r.DomainName = u.Domain.ID, u.Domain.Name
		}
		tok, t, err = h.svc.IssueWithPassword(ctx, idsvc.PasswordLogin{
			User: r, Password: u.Password, ClientAddr: api.ClientAddr(c, h.cfg.TrustedProxies),
		}, scope)
	case contains(id.Methods, "token"):
		if id.Token == nil || id.Token.ID == "" {
			return fault.Invalid("auth.identity.token.id", "is required")
		}
		tok, t, err = h.svc.IssueWithToken(ctx, id.Token.ID, scope)
	default:
		return fault.Invalid("auth.identity.methods", "must include password or token")
	}
	if err != nil {
		return err
	}
	c.Set("X-Subject-Token", tok)
	return c.Status(fiber.StatusCreated).JSON(h.tokenBody(t, !flagQuery(c, "nocatalog")))
}

func (h *Handler) validateToken(c *fiber.Ctx) error {
	subject := c.Get("X-Subject-Token")
	if subject == "" {
		return fault.Invalid("X-Subject-Token", "header is required")
	}
	t, err := h.svc.ValidateSubject(c.UserContext(), api.Token(c), subject)
	if err != nil {
		return err
	}
	c.Set("X-Subject-Token", subject)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	if flagQuery(c, "nocatalog") {
		return c.JSON(h.tokenBody(t, false))
	}
	return c.Send(h.cachedBody(t))
}

// cachedBody returns the rendered validation answer for t.
func (h *Handler) cachedBody(t *model.Token) []byte {
	h.bodiesMu.RLock()
	b, ok := h.bodies[t.AuditID]
	h.bodiesMu.RUnlock()
	if ok {
		return b
	}
	b, _ = json.Marshal(h.tokenBody(t, true))
	h.bodiesMu.Lock()
	if len(h.bodies) >= 50_000 {
		clear(h.bodies)
	}
	h.bodies[t.AuditID] = b
	h.bodiesMu.Unlock()
	return b
}

func (h *Handler) revokeToken(c *fiber.Ctx) error {
	subject := c.Get("X-Subject-Token")
	if subject == "" {
		return fault.Invalid("X-Subject-Token", "header is required")
	}
	if err := h.svc.Revoke(c.UserContext(), api.Token(c), subject); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) authProjects(c *fiber.Ctx) error {
	ps, err := h.svc.AuthProjects(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"projects": h.projectsJSON(ps), "links": h.listLinks("auth/projects")})
}

func (h *Handler) authDomains(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"domains": []any{}, "links": h.listLinks("auth/domains")})
}

func (h *Handler) authCatalog(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"catalog": h.catalog, "links": h.listLinks("auth/catalog")})
}

// Keystone's timestamps: microseconds, UTC, "Z".
const tsLayout = "2006-01-02T15:04:05.000000Z"

func ts(t time.Time) string { return t.UTC().Format(tsLayout) }

type domainRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type tokenJSON struct {
	Methods []string `json:"methods"`
	User    struct {
		Domain            domainRef `json:"domain"`
		ID                string    `json:"id"`
		Name              string    `json:"name"`
		PasswordExpiresAt *string   `json:"password_expires_at"`
	} `json:"user"`
	AuditIDs  []string `json:"audit_ids"`
	ExpiresAt string   `json:"expires_at"`
	IssuedAt  string   `json:"issued_at"`
	Project   *struct {
		Domain domainRef `json:"domain"`
		ID     string    `json:"id"`
		Name   string    `json:"name"`
	} `json:"project,omitempty"`
	IsDomain bool             `json:"is_domain,omitempty"`
	Roles    []domainRef      `json:"roles,omitempty"`
	Catalog  []catalogService `json:"catalog,omitempty"`
}

func (h *Handler) tokenBody(t *model.Token, withCatalog bool) fiber.Map {
	var j tokenJSON
	j.Methods = t.Methods
	j.User.Domain = domainRef{t.UserDomain.ID, t.UserDomain.Name}
	j.User.ID, j.User.Name = t.UserID, t.UserName
	j.AuditIDs = append([]string{t.AuditID}, t.AuditChain...)
	if len(j.AuditIDs) > 2 {
		j.AuditIDs = j.AuditIDs[:2] // Keystone shows the token's and its parent's
	}
	j.ExpiresAt, j.IssuedAt = ts(t.ExpiresAt), ts(t.IssuedAt)
	if t.ProjectID != "" {
		j.Project = &struct {
			Domain domainRef `json:"domain"`
			ID     string    `json:"id"`
			Name   string    `json:"name"`
		}{domainRef{t.ProjDomain.ID, t.ProjDomain.Name}, t.ProjectID, t.ProjectName}
		j.Roles = make([]domainRef, len(t.Roles))
		for i, r := range t.Roles {
			j.Roles[i] = domainRef{r.ID, r.Name}
		}
		if withCatalog {
			j.Catalog = h.catalog
		}
	}
	return fiber.Map{"token": j}
}

type endpointJSON struct {
	ID        string `json:"id"`
	Interface string `json:"interface"`
	Region    string `json:"region"`
	RegionID  string `json:"region_id"`
	URL       string `json:"url"`
}

type catalogService struct {
	Endpoints []endpointJSON `json:"endpoints"`
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Name      string         `json:"name"`
}

// buildCatalog lists the services at the paths a DevStack cloud uses.
func buildCatalog(base, region string) []catalogService {
	services := []struct{ typ, name, path string }{
		{"identity", "keystone", "/identity"},
		{"compute", "nova", "/compute/v2.1"},
		{"image", "glance", "/image"},
		{"network", "neutron", "/networking"},
		// Block storage under both of Cinder's service types: clients
		// look for block-storage, older ones (and tempest) for volumev3.
		{"block-storage", "cinder", "/volume/v3"},
		{"volumev3", "cinderv3", "/volume/v3"},
	}
	out := make([]catalogService, 0, len(services))
	for _, s := range services {
		cs := catalogService{ID: stableID("service", s.typ), Type: s.typ, Name: s.name}
		for _, iface := range []string{"public", "internal", "admin"} {
			cs.Endpoints = append(cs.Endpoints, endpointJSON{
				ID: stableID("endpoint", s.typ, iface), Interface: iface,
				Region: region, RegionID: region, URL: base + s.path,
			})
		}
		out = append(out, cs)
	}
	return out
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}
