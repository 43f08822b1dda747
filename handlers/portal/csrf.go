package portal

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// CSRF protection has two parts, both required on every state-changing
// request: a token (the session's own, or before sign-in an HMAC bound to a
// cookie nonce, so the login form needs no server-side state), and an
// Origin (or Referer) that is this site.

const loginNonceCookie = "nimbus_login"

// loginToken returns the login form's token for nonce.
func (h *Handler) loginToken(nonce string) string {
	m := hmac.New(sha256.New, h.secret)
	m.Write([]byte("login-csrf:" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func tokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// formToken is the token a request carries, in the form or a header.
func formToken(c *fiber.Ctx) string {
	if v := c.Get("X-CSRF-Token"); v != "" {
		return v
	}
	return c.FormValue("_csrf")
}

// sameOrigin checks the Origin header, or failing that the Referer,
// against this site: the configured public URL or the request's own host.
// Browsers send Origin on every cross-site POST, so a missing Origin with
// a missing Referer is let through only with a valid token.
func (h *Handler) sameOrigin(c *fiber.Ctx) bool {
	src := c.Get(fiber.HeaderOrigin)
	if src == "" || src == "null" {
		ref := c.Get(fiber.HeaderReferer)
		if ref == "" {
			return src == ""
		}
		src = ref
	}
	u, err := url.Parse(src)
	if err != nil || u.Host == "" {
		return false
	}
	got := strings.ToLower(u.Scheme + "://" + u.Host)
	if got == h.publicOrigin {
		return true
	}
	own := strings.ToLower(c.Protocol() + "://" + c.Hostname())
	return got == own
}
