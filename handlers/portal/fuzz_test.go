package portal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

const fuzzOrigin = "http://portal.example"

// fuzzHandler is a portal Handler with only what sessions and CSRF
// checks use.
func fuzzHandler(tb testing.TB, secret string) *Handler {
	tb.Helper()
	h := &Handler{secret: []byte(secret), publicOrigin: fuzzOrigin}
	if secret == "" {
		return h
	}
	rdb, prefix := testenv.Redis(tb)
	h.sessions = &sessions{rdb: rdb, prefix: prefix, idle: time.Hour}
	return h
}

// sameSite: no Origin (HTTP drops the spaces around a header value, so
// " " is none, and one with a line break cannot be sent), or one naming
// this site's scheme and host.
func sameSite(origin string) bool {
	o := strings.Trim(origin, " \t")
	if o == "" || strings.ContainsAny(o, "\r\n") {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Scheme+"://"+u.Host, fuzzOrigin)
}

// alterations are strings one byte or more away from s, never s itself:
// byte i replaced by b (unless it is b), b inserted before byte i or
// appended, and s cut before byte i (unless i is its length).
func alterations(s string, pos uint8, b byte) []string {
	i := int(pos) % (len(s) + 1)
	var out []string
	if i < len(s) && s[i] != b {
		out = append(out, s[:i]+string([]byte{b})+s[i+1:])
	}
	out = append(out, s[:i]+string([]byte{b})+s[i:], s+string([]byte{b}))
	if i < len(s) {
		out = append(out, s[:i])
	}
	return out
}

// FuzzSessionAndCSRF: a session cookie loads only its own session and a
// signed-in form passes the CSRF check only with the session's token,
// from this site: random cookies and tokens, and the real ones altered
// in any byte, are refused.
func FuzzSessionAndCSRF(f *testing.F) {
	h := fuzzHandler(f, "fuzz-secret-0123456789abcdef")
	ctx := context.Background()
	sess := &session{Token: "api-token", UserID: "u1", Created: time.Now(), Expires: time.Now().Add(time.Hour)}
	if err := h.sessions.create(ctx, sess); err != nil {
		f.Fatal(err)
	}
	app := fiber.New()
	app.Post("/form", func(c *fiber.Ctx) error { c.Locals(keySession, sess); return c.Next() }, h.csrf,
		func(c *fiber.Ctx) error { return c.SendStatus(http.StatusNoContent) })
	post := func(token, origin string) int {
		req := httptest.NewRequest("POST", "http://portal.example/form", strings.NewReader(url.Values{"_csrf": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := app.Test(req, -1)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := post(sess.CSRF, fuzzOrigin); got != http.StatusNoContent {
		f.Fatalf("the session's own token: %d, want 204", got)
	}
	for _, s := range []string{"", "x", sess.id[:42] + "!", strings.Repeat("A", 43), "null", "../../session"} {
		f.Add(s, uint8(0), byte('A'), fuzzOrigin)
	}
	f.Add("", uint8(42), byte('_'), "http://evil.example")
	f.Add("", uint8(7), byte(0), "null")
	f.Fuzz(func(t *testing.T, s string, pos uint8, b byte, origin string) {
		cookies := append(alterations(sess.id, pos, b), s)
		for _, c := range cookies {
			if c == sess.id {
				continue
			}
			if got, err := h.sessions.load(ctx, c); err == nil {
				t.Fatalf("cookie %q loaded session %+v", c, got)
			}
		}
		tokens := append(alterations(sess.CSRF, pos, b), s)
		for _, tok := range tokens {
			if tok == sess.CSRF {
				continue
			}
			if got := post(tok, fuzzOrigin); got == http.StatusNoContent {
				t.Fatalf("CSRF token %q accepted", tok)
			}
		}
		if !sameSite(origin) && post(sess.CSRF, origin) == http.StatusNoContent {
			t.Fatalf("the right token from origin %q accepted", origin)
		}
		if _, err := h.sessions.load(ctx, sess.id); err != nil {
			t.Fatalf("the real session after the others: %v", err)
		}
	})
}

// cookieSafe: s can be a cookie value as sent (RFC 6265 cookie-octets);
// others are not what a browser sends (spaces around it are dropped).
func cookieSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// referenceLoginToken is the sign-in form's token for nonce, computed
// here from its definition: HMAC-SHA256 under the portal's secret.
func referenceLoginToken(secret, nonce string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("login-csrf:" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// FuzzLoginCSRF: the sign-in form is accepted only with a 43-character
// nonce cookie and the HMAC of that nonce under the portal's secret, from
// this site. Random pairs, a valid pair with either half altered in any
// byte, and a pair made with another secret are refused.
func FuzzLoginCSRF(f *testing.F) {
	const secret = "fuzz-secret-0123456789abcdef"
	h, other := fuzzHandler(f, ""), fuzzHandler(f, "")
	h.secret, other.secret = []byte(secret), []byte("another-secret")
	app := fiber.New()
	var handler *Handler
	app.Post("/auth/login", func(c *fiber.Ctx) error {
		if handler.loginFormValid(c) {
			return c.SendStatus(http.StatusNoContent)
		}
		return c.SendStatus(http.StatusForbidden)
	})
	accepted := func(hh *Handler, nonce, token, origin string) bool {
		handler = hh
		req := httptest.NewRequest("POST", "http://portal.example/auth/login", strings.NewReader(url.Values{"_csrf": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", loginNonceCookie+"="+nonce)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := app.Test(req, -1)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusNoContent
	}
	nonce := randomToken(32)
	token := referenceLoginToken(secret, nonce)
	if !accepted(h, nonce, token, fuzzOrigin) || !accepted(h, nonce, token, "") {
		f.Fatal("a valid nonce and token are refused")
	}
	f.Add(nonce, token, uint8(0), byte('A'), fuzzOrigin)
	f.Add(strings.Repeat("A", 43), strings.Repeat("A", 43), uint8(42), byte('B'), "")
	f.Add("", "", uint8(3), byte(0), "null")
	f.Add("short", referenceLoginToken(secret, "short"), uint8(1), byte('x'), fuzzOrigin)
	f.Add(nonce, token, uint8(10), byte('-'), "http://evil.example")
	f.Fuzz(func(t *testing.T, n, tok string, pos uint8, b byte, origin string) {
		if cookieSafe(n) && accepted(h, n, tok, origin) && (len(n) != 43 || tok != referenceLoginToken(secret, n)) {
			t.Fatalf("nonce %q with token %q accepted", n, tok)
		}
		if accepted(other, nonce, token, fuzzOrigin) {
			t.Fatal("a token made with another secret accepted")
		}
		for _, a := range alterations(token, pos, b) {
			if accepted(h, nonce, a, fuzzOrigin) {
				t.Fatalf("token %q (one byte from the valid one) accepted", a)
			}
		}
		for _, a := range alterations(nonce, pos, b) {
			if cookieSafe(a) && accepted(h, a, token, fuzzOrigin) {
				t.Fatalf("nonce %q (one byte from the valid one) accepted with its old token", a)
			}
		}
		if !sameSite(origin) && accepted(h, nonce, token, origin) {
			t.Fatalf("a valid pair from origin %q accepted", origin)
		}
	})
}

// FuzzSafeNext: whatever the sign-in link's next parameter, the redirect
// stays on this site: a path starting with one "/", with no "//" or "\"
// at its start (not even after a browser strips tabs and newlines and
// reads "\" as "/"), no backslash, no scheme, host or user, no control
// character, never /auth/; and an ordinary path is kept as it is.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"", "/", "/project/instances?page=2#top", "//evil.example", "/\\evil.example", "\\\\evil.example",
		"/\t/evil.example", "/\n/evil.example", "https://evil.example/", "javascript:alert(1)", "/auth/logout",
		"/ok\r\nSet-Cookie: x=1", "/a\x00b", "/a\u0085b", "/%2F%2Fevil.example", "/.//evil.example", "/a\\b",
		"/@evil.example", "http:/evil.example", "/admin/users?next=//evil", " /project/"} {
		f.Add(s)
	}
	base, _ := url.Parse("http://portal.example/project/")
	f.Fuzz(func(t *testing.T, next string) {
		out := safeNext(next)
		if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || strings.ContainsRune(out, '\\') ||
			strings.HasPrefix(out, "/auth/") || strings.IndexFunc(out, unicode.IsControl) >= 0 {
			t.Fatalf("safeNext(%q) = %q, not a plain path on this site", next, out)
		}
		// What a browser does with a Location: drop tabs and newlines
		// (there are none left, but say so), read "\" as "/".
		seen := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(out)
		if strings.HasPrefix(seen, "//") {
			t.Fatalf("safeNext(%q) = %q, which a browser reads as %q", next, out, seen)
		}
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
			t.Fatalf("safeNext(%q) = %q parses to %+v (%v)", next, out, u, err)
		}
		if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme {
			t.Fatalf("safeNext(%q) = %q leads to %s", next, out, r)
		}
		if plainPath(next) && out != next {
			t.Fatalf("safeNext(%q) = %q, want the path kept", next, out)
		}
	})
}

// plainPath: an ordinary path on this site that must survive safeNext.
func plainPath(s string) bool {
	if len(s) < 2 || s[0] != '/' || s[1] == '/' || strings.HasPrefix(s, "/auth/") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-_.?=&", r)) {
			return false
		}
	}
	return true
}
