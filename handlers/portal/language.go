package portal

import (
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/internal/i18n"
)

// langCookie carries the language chosen with the switcher, for the pages
// before sign-in and as the session's choice when the user saved none.
const langCookie = "nimbus_lang"

// language picks the page language: the switcher's cookie, then the
// browser's Accept-Language. A signed-in user's saved choice, which wins
// over both, is applied by requireSession once the session is loaded.
func (h *Handler) language(c *fiber.Ctx) error {
	lang := c.Cookies(langCookie)
	if !i18n.Supported(lang) {
		lang = i18n.Match(c.Get(fiber.HeaderAcceptLanguage))
	}
	c.SetUserContext(i18n.WithLang(c.UserContext(), lang))
	return c.Next()
}

// setLanguage is the header's and the sign-in page's language switcher.
// Signed in, the choice is saved on the user (it follows them to other
// browsers) and the session; signed out, only the cookie keeps it.
func (h *Handler) setLanguage(c *fiber.Ctx) error {
	ctx := c.UserContext()
	lang := c.FormValue("lang")
	if !i18n.Supported(lang) {
		return fiber.NewError(fiber.StatusBadRequest, "unknown language")
	}
	s, err := h.sessions.load(ctx, c.Cookies(sessionCookie))
	switch {
	case err == nil:
		// The session's form token, as for every signed-in form.
		if !h.sameOrigin(c) || !tokensEqual(formToken(c), s.CSRF) {
			return fiber.ErrForbidden
		}
		if err := h.store.SetUserLanguage(ctx, s.UserID, lang); err != nil {
			return err
		}
		s.Lang = lang
		if err := h.sessions.save(ctx, s); err != nil {
			return err
		}
	case !h.sameOrigin(c):
		return fiber.ErrForbidden
	}
	h.setCookie(c, langCookie, lang, time.Now().AddDate(1, 0, 0))
	return c.Redirect(switchedTo(c.FormValue("next")), fiber.StatusSeeOther)
}

// switchedTo is where the switcher returns: the page it was on, which
// may be the sign-in page (safeNext refuses /auth/ paths as a sign-in's
// destination), keeping that page's own next.
func switchedTo(next string) string {
	if u, err := url.Parse(next); err == nil && u.Path == "/auth/login" && u.Host == "" && u.Scheme == "" {
		return "/auth/login?next=" + url.QueryEscape(safeNext(u.Query().Get("next")))
	}
	return safeNext(next)
}
