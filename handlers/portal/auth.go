package portal

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	idsvc "github.com/nimbus-cloud/nimbus/internal/identity"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/views"
)

// loginPage shows the sign-in form. It sets a short-lived nonce cookie for
// the form's CSRF token and stores nothing on the server.
func (h *Handler) loginPage(c *fiber.Ctx) error {
	if s, err := h.sessions.load(c.UserContext(), c.Cookies(sessionCookie)); err == nil {
		if _, err := h.svc.Validate(c.UserContext(), s.Token); err == nil {
			return c.Redirect(safeNext(c.Query("next")), fiber.StatusFound)
		}
	}
	return h.renderLogin(c, "", "", c.Query("next"), fiber.StatusOK)
}

func (h *Handler) renderLogin(c *fiber.Ctx, errMsg, username, next string, status int) error {
	nonce := c.Cookies(loginNonceCookie)
	if len(nonce) != 43 {
		nonce = randomToken(32)
		h.setCookie(c, loginNonceCookie, nonce, time.Now().Add(time.Hour))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Status(status)
	return render(c, views.LoginPage(views.Login{
		Error: errMsg, Username: username, Next: safeNext(next), CSRF: h.loginToken(nonce),
		Path: "/auth/login?next=" + url.QueryEscape(safeNext(next)),
	}))
}

// login checks the credentials, issues a token scoped to the user's
// default (or first) project and starts a new session with a new id.
func (h *Handler) login(c *fiber.Ctx) error {
	ctx := c.UserContext()
	username := strings.Clone(c.FormValue("username"))
	password := c.FormValue("password")
	next := strings.Clone(c.FormValue("next"))
	if !h.loginFormValid(c) {
		return h.renderLogin(c, i18n.T(ctx, "login.expired"), username, next, fiber.StatusForbidden)
	}
	tok, t, err := h.svc.IssueWithPassword(ctx, idsvc.PasswordLogin{
		User:       idsvc.UserRef{Name: username, DomainID: model.DefaultDomainID},
		Password:   password,
		ClientAddr: api.ClientAddr(c, h.cfg.TrustedProxies),
	}, idsvc.Scope{})
	if err == nil && t.ProjectID == "" {
		// No default project: scope to the first project the user has.
		var ps []model.Project
		if ps, err = h.svc.AuthProjects(ctx, t); err == nil {
			if len(ps) == 0 {
				_ = h.svc.Revoke(ctx, t, tok)
				return h.renderLogin(c, i18n.T(ctx, "login.no_projects"), username, next, fiber.StatusForbidden)
			}
			var scoped string
			if scoped, t, err = h.svc.IssueWithToken(ctx, tok, idsvc.Scope{ProjectID: ps[0].ID}); err == nil {
				tok = scoped
			}
		}
	}
	if err != nil {
		var th *fault.Throttled
		var v *fault.Validation
		switch {
		case errors.As(err, &th):
			secs := max(1, int(th.RetryAfter.Seconds()+0.999))
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
			return h.renderLogin(c, i18n.T(ctx, "login.throttled", secs), username, next, fiber.StatusTooManyRequests)
		case errors.Is(err, fault.ErrBusy):
			c.Set(fiber.HeaderRetryAfter, "1")
			return h.renderLogin(c, i18n.T(ctx, "login.busy"), username, next, fiber.StatusServiceUnavailable)
		case errors.As(err, &v):
			return h.renderLogin(c, i18n.T(ctx, "login.too_long"), username, next, fiber.StatusBadRequest)
		case errors.Is(err, fault.ErrUnauthorized):
			return h.renderLogin(c, i18n.T(ctx, "login.failed"), username, next, fiber.StatusUnauthorized)
		}
		return err
	}
	s := &session{Token: tok, RootToken: tok, UserID: t.UserID, Created: time.Now()}
	if s.Lang, err = h.store.UserLanguage(ctx, t.UserID); err != nil {
		return err
	}
	s.Expires = s.Created.Add(h.cfg.SessionMax)
	if t.ExpiresAt.Before(s.Expires) {
		s.Expires = t.ExpiresAt
	}
	if err := h.sessions.create(ctx, s); err != nil {
		return err
	}
	h.setCookie(c, sessionCookie, s.id, time.Time{})
	return c.Redirect(safeNext(next), fiber.StatusSeeOther)
}

// loginFormValid is the sign-in form's CSRF check: a request from this
// site whose form token is the HMAC of its nonce cookie.
func (h *Handler) loginFormValid(c *fiber.Ctx) bool {
	nonce := c.Cookies(loginNonceCookie)
	return h.sameOrigin(c) && len(nonce) == 43 && tokensEqual(c.FormValue("_csrf"), h.loginToken(nonce))
}

// logout ends the session and revokes its tokens.
func (h *Handler) logout(c *fiber.Ctx) error {
	ctx := c.UserContext()
	s := sess(c)
	if err := h.sessions.destroy(ctx, s.id); err != nil {
		return err
	}
	// Revoking the sign-in token revokes every token made from it.
	if root, err := h.svc.Validate(ctx, s.RootToken); err == nil {
		if err := h.svc.Revoke(ctx, root, s.RootToken); err != nil {
			h.log.Warn("revoke token at sign-out", "error", err)
		}
	}
	h.setCookie(c, sessionCookie, "", time.Unix(1, 0))
	return c.Redirect("/auth/login", fiber.StatusSeeOther)
}

// switchProject rescopes the session to another of the user's projects.
func (h *Handler) switchProject(c *fiber.Ctx) error {
	ctx := c.UserContext()
	s := sess(c)
	pid := strings.Clone(c.FormValue("project_id"))
	tok, t, err := h.svc.IssueWithToken(ctx, s.Token, idsvc.Scope{ProjectID: pid})
	if errors.Is(err, fault.ErrUnauthorized) {
		h.flash(c, "error", "error.project_disabled")
		return c.Redirect("/project/", fiber.StatusSeeOther)
	}
	if err != nil {
		return err
	}
	s.Token = tok
	if t.ExpiresAt.Before(s.Expires) {
		s.Expires = t.ExpiresAt
	}
	if err := h.sessions.save(ctx, s); err != nil {
		return err
	}
	return c.Redirect("/project/", fiber.StatusSeeOther)
}
