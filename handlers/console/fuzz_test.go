package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	consoleproxy "github.com/nimbus-cloud/nimbus/handlers/console"
	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/console"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// FuzzHandshake: a websocket handshake opens a console session only with
// a token the proxy issued, unused, from an allowed Origin (the portal's,
// the proxy's own, or none). Random query strings, tokens and Origin
// headers, and a real token altered in any byte, get no session. The
// query may name "{valid}" (a fresh real token) or "{altered}" (a fresh
// one with byte pos set to b, or b appended when that is no change).
func FuzzHandshake(f *testing.F) {
	rdb, prefix := testenv.Redis(f)
	tokens := &console.Tokens{RDB: rdb, Prefix: prefix, TTL: time.Minute}
	vnc := testenv.FakeVNC(f)
	proxy := consoleproxy.New(consoleproxy.Config{Tokens: tokens, Origins: []string{portal}, Log: config.Logger(8, false)})
	srv := httptest.NewServer(proxy.Handler())
	f.Cleanup(func() { srv.Close(); proxy.Close() })
	own := strings.TrimPrefix(srv.URL, "http://")
	ws := "ws://" + own
	issue := func(t testing.TB) string {
		tok, err := tokens.Issue(context.Background(), console.Target{InstanceID: "i-fuzz", UserID: "u1", Addr: vnc})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// dial reports whether the handshake opened a session.
	dial := func(path, origin string) bool {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		d := websocket.Dialer{Subprotocols: []string{"binary"}, HandshakeTimeout: 5 * time.Second}
		c, resp, err := d.Dial(ws+path, h)
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	if !dial("/websockify?token="+issue(f), portal) {
		f.Fatal("a fresh token from the portal's origin opened no session")
	}
	for _, s := range []struct{ path, origin string }{
		{"/websockify?token={valid}", portal}, {"/websockify?token={valid}", ""}, {"/?token={valid}", "http://" + own},
		{"/websockify?token={valid}", "http://evil.example"}, {"/websockify?token={valid}", "null"},
		{"/websockify?token={altered}", portal}, {"/?token={altered}", ""}, {"/websockify?token=", portal},
		{"/websockify", portal}, {"/websockify?token=x&token={valid}", portal}, {"/websockify?TOKEN={valid}", portal},
		{"/websockify?token=%7Bvalid%7D", portal}, {"/vnc_lite.html?token={valid}", portal}, {"/check?token={valid}", portal},
		{"/websockify?token={valid}", "http://portal.example:8080.evil.example"}, {"/websockify?token={valid}", "http://evil.example/http://portal.example:8080"},
	} {
		f.Add(s.path, s.origin, uint8(0), byte('A'))
	}
	f.Fuzz(func(t *testing.T, path, origin string, pos uint8, b byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		valid := issue(t)
		altered := []byte(valid)
		i := int(pos) % len(altered)
		if altered[i] != b {
			altered[i] = b
		} else {
			altered = append(altered, b)
		}
		path = strings.ReplaceAll(path, "{valid}", valid)
		path = strings.ReplaceAll(path, "{altered}", url.QueryEscape(string(altered)))
		if !dial(path, origin) {
			return
		}
		// A session opened (on any path: "/" takes websocket upgrades
		// for noVNC's "?token=" form): it must have been the real token,
		// unused, from an allowed origin.
		u, err := url.Parse(ws + path)
		if err != nil {
			t.Fatalf("a session opened for %q, which does not parse: %v", path, err)
		}
		if got := u.Query().Get("token"); got != valid {
			t.Fatalf("a session opened for %q with token %q, not the one issued", path, got)
		}
		if !originAllowed(origin, own) {
			t.Fatalf("a session opened for Origin %q", origin)
		}
		if dial(path, origin) {
			t.Fatalf("the token of %q opened a second session", path)
		}
	})
}

// originAllowed: no Origin (HTTP drops the spaces around a header value),
// the portal's or the proxy's own scheme://host.
func originAllowed(origin, own string) bool {
	o := strings.Trim(origin, " \t")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme+"://"+u.Host, portal) || strings.EqualFold(u.Host, own)
}
