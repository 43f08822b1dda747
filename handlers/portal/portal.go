// Package portal serves the Horizon-like browser portal: server-rendered
// templ pages, plain forms with CSRF protection, server-side sessions that
// hold an API token. It calls the same domain services as the API, so the
// policy table decides what each page may do.
package portal

import (
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	idsvc "github.com/nimbus-cloud/nimbus/internal/identity"
	"github.com/nimbus-cloud/nimbus/internal/image"
	"github.com/nimbus-cloud/nimbus/internal/live"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/network"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/volume"
	"github.com/nimbus-cloud/nimbus/views"
)

// Config is what the portal needs from the deployment's configuration.
type Config struct {
	PublicURL      string
	Region         string
	RedisPrefix    string
	SessionIdle    time.Duration
	SessionMax     time.Duration
	TrustedProxies []*net.IPNet
	// Secret keys the login form's CSRF tokens; shared by all controllers.
	Secret []byte
	// Network is the networking service (Project > Networks and the rest).
	Network *network.Service
	// Live is the change feed the pages' event streams follow; nil: pages
	// are not live.
	Live *live.Hub
	// Volumes is the block storage service (Project > Volumes); nil: none.
	Volumes *volume.Service
}

// Handler serves the portal.
type Handler struct {
	svc          *idsvc.Service
	compute      *compute.Service
	images       *image.Service
	store        *store.Store
	rdb          *redis.Client
	log          *slog.Logger
	cfg          Config
	sessions     *sessions
	secret       []byte
	publicOrigin string
	secure       bool // cookies get Secure: the public URL is https
}

// New returns a portal Handler.
func New(svc *idsvc.Service, cs *compute.Service, is *image.Service, st *store.Store, rdb *redis.Client, log *slog.Logger, cfg Config) *Handler {
	u, _ := url.Parse(cfg.PublicURL)
	return &Handler{
		svc: svc, compute: cs, images: is, store: st, rdb: rdb, log: log.With("component", "portal"), cfg: cfg,
		sessions:     &sessions{rdb: rdb, prefix: cfg.RedisPrefix, idle: cfg.SessionIdle},
		secret:       cfg.Secret,
		publicOrigin: strings.ToLower(u.Scheme + "://" + u.Host),
		secure:       u.Scheme == "https",
	}
}

const sessionCookie = "nimbus_session"

type localKey int

const keySession localKey = iota

// Register mounts the portal's routes on app.
func (h *Handler) Register(app *fiber.App) {
	app.Use(h.language)
	app.Get("/", func(c *fiber.Ctx) error { return c.Redirect("/project/", fiber.StatusFound) })
	app.Get("/auth/login", h.loginPage)
	app.Post("/auth/login", h.login)
	app.Post("/lang", h.setLanguage)

	// The session middleware is attached to portal paths only, so API
	// paths never reach it (an unknown API path is the API's 404).
	signedIn := []fiber.Handler{h.requireSession, h.csrf}
	app.Post("/auth/logout", append(signedIn, h.logout)...)
	app.Post("/auth/switch", append(signedIn, h.switchProject)...)
	g := app.Group("/project", signedIn...)
	g.Get("/events", h.events)
	g.Get("", h.overview)
	g.Get("/", h.overview)
	h.registerNetworks(g) // before instances: /instances/:id/floating_ip is not an :action
	h.registerVolumes(g)  // before instances: /instances/:id/volumes is not an :action either
	h.registerInstances(g)
	h.registerImagesAndKeys(g)
	h.registerServerGroups(g)
	g.Get("/api_access/openrc", h.openrc)

	a := app.Group("/admin", append(signedIn, h.requireAdmin)...)
	h.registerAdminNetworks(a)
	a.Get("/projects", h.projectList)
	a.Get("/projects/new", h.projectNew)
	a.Post("/projects", h.projectCreate)
	a.Get("/projects/:id/edit", h.projectEdit)
	a.Post("/projects/:id", h.projectUpdate)
	a.Post("/projects/:id/enable", h.projectSetEnabled(true))
	a.Post("/projects/:id/disable", h.projectSetEnabled(false))
	a.Post("/projects/:id/delete", h.projectDelete)
	a.Get("/projects/:id/members", h.membersPage)
	a.Post("/projects/:id/members", h.memberAssign)
	a.Post("/projects/:id/members/remove", h.memberRemove)
	a.Get("/users", h.userList)
	a.Get("/users/new", h.userNew)
	a.Post("/users", h.userCreate)
	a.Get("/users/:id/edit", h.userEdit)
	a.Post("/users/:id", h.userUpdate)
	a.Post("/users/:id/enable", h.userSetEnabled(true))
	a.Post("/users/:id/disable", h.userSetEnabled(false))
	a.Post("/users/:id/delete", h.userDelete)
	a.Get("/quotas", h.quotaList)
	a.Get("/quotas/:id", h.quotaEdit)
	a.Post("/quotas/:id", h.quotaUpdate)
	h.registerAdminVolumeTypes(a)
	h.registerAdminCompute(a)
}

// requireSession loads the session and its token; without a valid one the
// browser is sent to sign in (and nothing is stored).
func (h *Handler) requireSession(c *fiber.Ctx) error {
	ctx := c.UserContext()
	sess, err := h.sessions.load(ctx, c.Cookies(sessionCookie))
	if err != nil && !errors.Is(err, errNoSession) {
		return err
	}
	var tok *model.Token
	if sess != nil {
		tok, err = h.svc.Validate(ctx, sess.Token)
		switch {
		case errors.Is(err, fault.ErrUnauthorized):
			// The token was revoked (password change, disable, role
			// removal) or expired: the session ends with it.
			_ = h.sessions.destroy(ctx, sess.id)
			sess = nil
		case err != nil:
			return err // the database cannot say: keep the session
		}
	}
	if sess == nil {
		h.clearCookie(c)
		if c.Method() != fiber.MethodGet {
			return fault.ErrUnauthorized
		}
		return c.Redirect("/auth/login?next="+url.QueryEscape(string(c.Request().URI().RequestURI())), fiber.StatusFound)
	}
	c.Locals(keySession, sess)
	if i18n.Supported(sess.Lang) {
		c.SetUserContext(i18n.WithLang(c.UserContext(), sess.Lang))
	}
	api.SetToken(c, tok)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
}

// csrf refuses state-changing requests without the session's token or
// from another origin.
func (h *Handler) csrf(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	if !h.sameOrigin(c) || !tokensEqual(formToken(c), sess(c).CSRF) {
		return errCSRF
	}
	return c.Next()
}

// errCSRF is a 403 with its own message.
var errCSRF = &csrfError{}

type csrfError struct{}

func (*csrfError) Error() string { return "csrf check failed" }
func (*csrfError) Unwrap() error { return fault.ErrForbidden }

func (h *Handler) requireAdmin(c *fiber.Ctx) error {
	if !policy.Allowed(api.Token(c), policy.ViewAdmin, policy.Target{}) {
		return fault.ErrForbidden
	}
	return c.Next()
}

func sess(c *fiber.Ctx) *session {
	s, _ := c.Locals(keySession).(*session)
	return s
}

// page builds the shell's view model for the signed-in user.
func (h *Handler) page(c *fiber.Ctx, active, titleKey string, args ...any) views.Page {
	ctx := c.UserContext()
	tok, s := api.Token(c), sess(c)
	p := views.Page{
		Title: i18n.T(ctx, titleKey, args...), Active: active, UserName: tok.UserName,
		Project: views.Ref{ID: tok.ProjectID, Name: tok.ProjectName},
		IsAdmin: policy.Allowed(tok, policy.ViewAdmin, policy.Target{}), CSRF: s.CSRF,
		Path: string(c.Request().URI().RequestURI()), LiveSince: h.liveSince(),
		Volumes: h.cfg.Volumes != nil,
	}
	if ps, err := h.svc.AuthProjects(ctx, tok); err == nil {
		for _, pr := range ps {
			p.Projects = append(p.Projects, views.Ref{ID: pr.ID, Name: pr.Name})
		}
	}
	if s.Flash != "" {
		p.Flash, p.FlashKind = s.Flash, s.FlashKind
		s.Flash, s.FlashKind = "", ""
		if err := h.sessions.save(ctx, s); err != nil {
			h.log.Warn("clear flash", "error", err)
		}
	}
	return p
}

// flash stores a one-time notice shown on the next page.
func (h *Handler) flash(c *fiber.Ctx, kind, key string, args ...any) {
	s := sess(c)
	s.Flash, s.FlashKind = i18n.T(c.UserContext(), key, args...), kind
	if err := h.sessions.save(c.UserContext(), s); err != nil {
		h.log.Warn("save flash", "error", err)
	}
}

func render(c *fiber.Ctx, comp templ.Component) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return comp.Render(c.UserContext(), c.Response().BodyWriter())
}

func (h *Handler) setCookie(c *fiber.Ctx, name, value string, expires time.Time) {
	c.Cookie(&fiber.Cookie{
		Name: name, Value: value, Path: "/", Expires: expires,
		HTTPOnly: true, Secure: h.secure, SameSite: fiber.CookieSameSiteLaxMode,
	})
}

func (h *Handler) clearCookie(c *fiber.Ctx) {
	if c.Cookies(sessionCookie) != "" {
		h.setCookie(c, sessionCookie, "", time.Unix(1, 0))
	}
}

// RenderError renders the portal's error page for err. Messages are the
// catalogue's, never the error's own text, so internals never show.
func (h *Handler) RenderError(c *fiber.Ctx, err error) error {
	status := api.Status(err)
	api.Prepare(c, h.log, err, status)
	if status == fiber.StatusUnauthorized {
		h.clearCookie(c)
		return c.Redirect("/auth/login", fiber.StatusSeeOther)
	}
	ctx := c.UserContext()
	code := status
	switch code {
	case 400, 403, 404, 409, 413, 429, 500, 503:
	default:
		if code >= 500 {
			code = 500
		} else {
			code = 400
		}
	}
	e := views.ErrorPage{
		Status:   status,
		Title:    i18n.T(ctx, "error."+strconv.Itoa(code)+".title"),
		Message:  i18n.T(ctx, "error."+strconv.Itoa(code)+".message"),
		SignedIn: sess(c) != nil,
	}
	if errors.Is(err, errCSRF) {
		e.Message = i18n.T(ctx, "error.csrf")
	}
	if status == fiber.StatusServiceUnavailable && !errors.Is(err, fault.ErrBusy) {
		// PostgreSQL or Redis cannot be reached: not busy, and not the
		// user's fault; the cause is in the log only.
		e.Title, e.Message = i18n.T(ctx, "error.unavailable.title"), i18n.T(ctx, "error.unavailable.message")
	}
	c.Status(status)
	return render(c, views.ErrorView(e))
}

// safeNext returns next when it is a path on this site, else the overview.
// It refuses absolute URLs, scheme-relative "//host" and "/\host" forms,
// any backslash (browsers read it as "/") and any control character
// (browsers drop tabs and newlines, so "/\t/host" is "//host" to them).
func safeNext(next string) string {
	const home = "/project/"
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return home
	}
	if strings.IndexFunc(next, unicode.IsControl) >= 0 || strings.HasPrefix(next, "/auth/") {
		return home
	}
	return next
}
