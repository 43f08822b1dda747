package console_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	consoleproxy "github.com/nimbus-cloud/nimbus/handlers/console"
	"github.com/nimbus-cloud/nimbus/internal/console"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// issue makes a token for a console of instance opened by user on
// project with a Keystone token whose audit ids are audit.
func (r *rig) issue(t *testing.T, instance, user, project string, audit ...string) string {
	t.Helper()
	tok, err := r.tokens.Issue(context.Background(), console.Target{InstanceID: instance, UserID: user,
		ProjectID: project, AuditIDs: audit, Addr: r.vnc})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// open dials a console and reads its banner.
func (r *rig) open(t *testing.T, token string) *websocket.Conn {
	t.Helper()
	c, resp, err := r.dial(token, portal)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("console refused (%d): %v", status, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := c.ReadMessage(); err != nil || string(m) != banner {
		t.Fatalf("banner: %q %v", m, err)
	}
	c.SetReadDeadline(time.Time{})
	return c
}

// closedWith waits up to within for the proxy to close c and checks the
// close frame's code and text.
func closedWith(t *testing.T, what string, c *websocket.Conn, within time.Duration, code int, text string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue // echoes still in flight
		}
		var ce *websocket.CloseError
		if !asClose(err, &ce) || ce.Code != code || ce.Text != text {
			t.Fatalf("%s: %v; want close %d %q within %v", what, err, code, text, within)
		}
		return
	}
}

// stillOpen checks c still relays.
func stillOpen(t *testing.T, what string, c *websocket.Conn) {
	t.Helper()
	if err := c.WriteMessage(websocket.BinaryMessage, []byte("ping")); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, m, err := c.ReadMessage(); err != nil || string(m) != "ping" {
		t.Fatalf("%s: %q %v, want the echo", what, m, err)
	}
	c.SetReadDeadline(time.Time{})
}

// TestCapsRefuseAndFree: past each cap (per user and per instance, counted
// across two proxies, and per proxy) a connect gets 429 with the
// catalogue's sentence, its token stays good, and once a session ends the
// same token opens the console.
func TestCapsRefuseAndFree(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	tokens := &console.Tokens{RDB: rdb, Prefix: prefix}
	lim := console.Limits{PerUser: 2, PerInstance: 3, PerProxy: 4}
	a := newRigOn(t, tokens, consoleproxy.Config{Limits: lim})
	b := newRigOn(t, tokens, consoleproxy.Config{Limits: lim})
	ctx := context.Background()
	msg := func(key string, n int) string { return i18n.T(ctx, key, n) }

	// Per user: one console on each proxy, the third anywhere is refused.
	u1 := a.open(t, a.issue(t, "i-1", "alice", "p"))
	b.open(t, b.issue(t, "i-2", "alice", "p"))
	tok := a.issue(t, "i-3", "alice", "p")
	_, resp, err := a.dial(tok, portal)
	refused(t, "alice's third console", resp, err, 429, msg("console.error.too_many_user", 2))
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if ok, _ := tokens.Valid(ctx, tok); !ok {
		t.Fatal("a refused console used its token up")
	}
	check := func(r *rig, tok string) string {
		res, err := http.Get(r.srv.URL + "/check?token=" + tok)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return string(body)
	}
	if got := check(a, tok); !strings.Contains(got, `"valid":false`) || !strings.Contains(got, "2 consoles open") {
		t.Errorf("check over the user cap: %s, want not valid and why", got)
	}
	u1.Close()
	waitSessions(t, a.proxy, 0)
	a.open(t, tok) // the same token, now that one closed

	// Per instance: three users on i-9, a fourth is refused on either proxy.
	var first *websocket.Conn
	for i, user := range []string{"u1", "u2", "u3"} {
		r := []*rig{a, b}[i%2]
		c := r.open(t, r.issue(t, "i-9", user, "p"))
		if first == nil {
			first = c
		}
	}
	tok = b.issue(t, "i-9", "u4", "p")
	_, resp, err = b.dial(tok, portal)
	refused(t, "the instance's fourth console", resp, err, 429, msg("console.error.too_many_instance", 3))
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for a.proxy.Sessions().Count()+b.proxy.Sessions().Count() != 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	b.open(t, tok)

	// Per proxy: a has 2 open (alice's and u3's); two more fill it.
	a.open(t, a.issue(t, "i-20", "v1", "p"))
	last := a.open(t, a.issue(t, "i-21", "v2", "p"))
	tok = a.issue(t, "i-22", "v3", "p")
	_, resp, err = a.dial(tok, portal)
	refused(t, "the proxy's fifth console", resp, err, 429, msg("console.error.too_many_proxy", 4))
	if got := check(a, tok); !strings.Contains(got, `"valid":false`) || !strings.Contains(got, "4 consoles open") {
		t.Errorf("check over the proxy cap: %s, want not valid and why", got)
	}
	last.Close()
	waitSessions(t, a.proxy, 3)
	a.open(t, tok)
}

// TestCrashedProxySessionsStopCounting: a session counted by a proxy that
// died (its lease is never refreshed nor released) stops counting after
// the lease.
func TestCrashedProxySessionsStopCounting(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	tokens := &console.Tokens{RDB: rdb, Prefix: prefix}
	lim := console.Limits{PerUser: 1}
	r := newRigOn(t, tokens, consoleproxy.Config{Limits: lim, Lease: time.Second})
	dead := &console.Leases{RDB: rdb, Prefix: prefix, Lease: time.Second}
	if _, err := dead.Acquire(context.Background(), console.Target{InstanceID: "i-x", UserID: "bob"}, lim); err != nil {
		t.Fatal(err)
	}
	tok := r.issue(t, "i-1", "bob", "p")
	_, resp, err := r.dial(tok, portal)
	refused(t, "bob's console while the dead proxy's counts", resp, err, 429, "1 consoles open")
	time.Sleep(1200 * time.Millisecond)
	c := r.open(t, tok)
	// A live session keeps counting past its lease: it is refreshed.
	time.Sleep(1500 * time.Millisecond)
	_, resp, err = r.dial(r.issue(t, "i-2", "bob", "p"), portal)
	refused(t, "bob's second console after a lease period", resp, err, 429, "1 consoles open")
	stillOpen(t, "bob's console", c)
}

// TestLifetimeCloses: a busy console still closes at its lifetime, saying so.
func TestLifetimeCloses(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	r := newRigOn(t, &console.Tokens{RDB: rdb, Prefix: prefix}, consoleproxy.Config{Lifetime: 800 * time.Millisecond})
	c := r.open(t, r.token(t, "i-life"))
	start := time.Now()
	stop := make(chan struct{})
	go func() { // traffic all along: not idle
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if c.WriteMessage(websocket.BinaryMessage, []byte("k")) != nil {
					return
				}
			}
		}
	}()
	closedWith(t, "console at its lifetime", c, 5*time.Second, websocket.CloseNormalClosure, console.ReasonLifetime)
	close(stop)
	if d := time.Since(start); d < 700*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("closed after %v, want about 800ms", d)
	}
	waitSessions(t, r.proxy, 0)
}

// TestClientThatStopsReadingIsClosed: a VNC server that keeps sending to
// a browser that reads nothing: the proxy's write times out and the
// session ends (both connections closed), instead of a relay blocked for
// ever.
func TestClientThatStopsReadingIsClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var flooded atomic.Int64
	serverDone := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer close(serverDone)
		defer c.Close()
		chunk := make([]byte, 64<<10)
		for {
			n, err := c.Write(chunk)
			flooded.Add(int64(n))
			if err != nil {
				return // the proxy closed its side
			}
		}
	}()
	rdb, prefix := testenv.Redis(t)
	tokens := &console.Tokens{RDB: rdb, Prefix: prefix}
	r := newRigOn(t, tokens, consoleproxy.Config{WriteTimeout: 300 * time.Millisecond})
	tok, err := tokens.Issue(context.Background(), console.Target{InstanceID: "i-slow", Addr: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := r.dial(tok, portal)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() // and never read
	waitSessions(t, r.proxy, 1)
	start := time.Now()
	select {
	case <-serverDone:
	case <-time.After(10 * time.Second):
		t.Fatalf("the proxy still relays to a client that reads nothing (%d bytes sent by the server)", flooded.Load())
	}
	waitSessions(t, r.proxy, 0)
	t.Logf("closed %v after the client stopped reading; %d bytes were sent before", time.Since(start), flooded.Load())
}

// TestOversizeAndTextMessagesClose: a message over the read limit closes
// with 1009 (sent in one frame, before any of it reaches VNC; in several,
// once the frames add up past the limit); a text message with 1003.
func TestOversizeAndTextMessagesClose(t *testing.T) {
	r := newRig(t, 0, 0)
	// One frame: gorilla frames a message by its write buffer.
	d := websocket.Dialer{WriteBufferSize: 2 * console.MaxClientMessage, HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial(r.ws+"/websockify?token="+r.token(t, "i-big"), http.Header{"Origin": {portal}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := c.ReadMessage(); err != nil || string(m) != banner {
		t.Fatalf("banner: %q %v", m, err)
	}
	if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, console.MaxClientMessage+1)); err != nil {
		t.Fatal(err)
	}
	_, m, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !asClose(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("after an oversize frame: %d bytes, %v; want close 1009 and nothing echoed", len(m), err)
	}
	waitSessions(t, r.proxy, 0)

	// Many 4 KiB frames of one message. The proxy may close while the
	// last frames are still being written: that write's error is
	// expected, the close frame is already on its way.
	c = r.open(t, r.token(t, "i-frames"))
	_ = c.WriteMessage(websocket.BinaryMessage, make([]byte, console.MaxClientMessage+8<<10))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue // frames before the limit was passed
		}
		if !asClose(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
			t.Fatalf("after an oversize fragmented message: %v; want close 1009", err)
		}
		break
	}
	waitSessions(t, r.proxy, 0)

	c = r.open(t, r.token(t, "i-text"))
	if err := c.WriteMessage(websocket.TextMessage, []byte("UkZC")); err != nil {
		t.Fatal(err)
	}
	closedWith(t, "after a text message", c, 5*time.Second, websocket.CloseUnsupportedData, console.ReasonText)
	waitSessions(t, r.proxy, 0)

	// The largest message allowed still goes through.
	c = r.open(t, r.token(t, "i-max"))
	if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, console.MaxClientMessage)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := 0
	for got < console.MaxClientMessage {
		_, m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("echo of a %d-byte message after %d bytes: %v", console.MaxClientMessage, got, err)
		}
		got += len(m)
	}
}

// TestAccessRevokedClosesConsoles: ended access closes exactly the
// consoles it names on every proxy, with the reason, and voids tokens
// issued before it.
func TestAccessRevokedClosesConsoles(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	tokens := &console.Tokens{RDB: rdb, Prefix: prefix}
	a := newRigOn(t, tokens, consoleproxy.Config{})
	b := newRigOn(t, tokens, consoleproxy.Config{})
	ctx := context.Background()
	revoke := func(acc console.Access) {
		t.Helper()
		if err := tokens.RevokeAccess(ctx, acc); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		access console.Access
		closes [][]string // user, project, audit ids...
		stays  [][]string
	}{
		{"user disabled", console.Access{UserID: "alice"},
			[][]string{{"alice", "p1", "t1"}, {"alice", "p2", "t2"}}, [][]string{{"bob", "p1", "t3"}}},
		{"role removed on a project", console.Access{UserID: "alice", ProjectID: "p1"},
			[][]string{{"alice", "p1", "t1"}}, [][]string{{"alice", "p2", "t2"}, {"bob", "p1", "t3"}}},
		{"project disabled", console.Access{ProjectID: "p1"},
			[][]string{{"alice", "p1", "t1"}, {"bob", "p1", "t3"}}, [][]string{{"alice", "p2", "t2"}}},
		{"sign-in token revoked", console.Access{AuditID: "root"},
			[][]string{{"alice", "p1", "child", "root"}, {"alice", "p2", "root"}}, [][]string{{"alice", "p1", "other"}}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inst := func(j int) string { return "i-" + c.name + string(rune('a'+j)) }
			var closes, stays []*websocket.Conn
			for j, x := range c.closes {
				r := []*rig{a, b}[j%2]
				closes = append(closes, r.open(t, r.issue(t, inst(j), x[0], x[1], x[2:]...)))
			}
			for j, x := range c.stays {
				r := []*rig{a, b}[(j+i)%2]
				stays = append(stays, r.open(t, r.issue(t, inst(10+j), x[0], x[1], x[2:]...)))
			}
			unused := a.issue(t, inst(20), c.closes[0][0], c.closes[0][1], c.closes[0][2:]...)
			revoke(c.access)
			for _, ws := range closes {
				closedWith(t, "console of ended access", ws, 2*time.Second, websocket.CloseNormalClosure, console.ReasonAccess)
			}
			for _, ws := range stays {
				stillOpen(t, "another console", ws)
			}
			_, resp, err := a.dial(unused, portal)
			refused(t, "a token issued before the access ended", resp, err, 403, "invalid")
			// Access given again: a new token works.
			a.open(t, a.issue(t, inst(21), c.closes[0][0], c.closes[0][1], c.closes[0][2:]...)).Close()
		})
	}
}

func TestConsolePageHasCSP(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	r := newRigOn(t, &console.Tokens{RDB: rdb, Prefix: prefix}, consoleproxy.Config{PublicURL: "https://console.example:6080"})
	for _, path := range []string{"/vnc_lite.html?path=%3Ftoken%3Dx", "/?token=x", "/vnc.html"} {
		res, err := http.Get(r.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self' wss://console.example:6080",
			"frame-ancestors 'self'", "object-src 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
	}
}
