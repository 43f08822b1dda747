package console_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	consoleproxy "github.com/nimbus-cloud/nimbus/handlers/console"
	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/console"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

const banner = testenv.RFBBanner

type rig struct {
	tokens *console.Tokens
	proxy  *consoleproxy.Proxy
	srv    *httptest.Server
	vnc    string
	ws     string // ws://host:port
}

const portal = "http://portal.example:8080"

func newRig(t *testing.T, idle time.Duration, ttl time.Duration) *rig {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	return newRigOn(t, &console.Tokens{RDB: rdb, Prefix: prefix, TTL: ttl}, consoleproxy.Config{Idle: idle})
}

// newRigOn starts a proxy with cfg on tokens (several rigs on one Tokens
// are several proxies sharing one Redis).
func newRigOn(t *testing.T, tokens *console.Tokens, cfg consoleproxy.Config) *rig {
	t.Helper()
	r := &rig{tokens: tokens, vnc: testenv.FakeVNC(t)}
	cfg.Tokens, cfg.Origins, cfg.Log = tokens, []string{portal}, config.Logger(8, false)
	r.proxy = consoleproxy.New(cfg)
	r.srv = httptest.NewServer(r.proxy.Handler())
	r.ws = "ws" + strings.TrimPrefix(r.srv.URL, "http")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	go r.proxy.Sessions().WatchRevoked(ctx, r.tokens, ready)
	<-ready
	t.Cleanup(func() { cancel(); r.srv.Close(); r.proxy.Close() })
	return r
}

func (r *rig) token(t *testing.T, instance string) string {
	t.Helper()
	tok, err := r.tokens.Issue(context.Background(), console.Target{InstanceID: instance, Addr: r.vnc})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (r *rig) dial(token, origin string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	d := websocket.Dialer{Subprotocols: []string{"binary"}, HandshakeTimeout: 5 * time.Second}
	return d.Dial(r.ws+"/websockify?token="+token, h)
}

// refused checks a dial was refused with status and a body that says why.
func refused(t *testing.T, what string, resp *http.Response, err error, status int, says string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: connection accepted", what)
	}
	if resp == nil {
		t.Fatalf("%s: no HTTP answer: %v", what, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || !strings.Contains(string(body), says) {
		t.Fatalf("%s: %d %q, want %d containing %q", what, resp.StatusCode, body, status, says)
	}
}

func TestBannerAndEchoThroughProxy(t *testing.T) {
	r := newRig(t, 0, 0)
	c, resp, err := r.dial(r.token(t, "i-1"), portal)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "binary" {
		t.Errorf("subprotocol %q, want binary (noVNC asks for it)", got)
	}
	typ, msg, err := c.ReadMessage()
	if err != nil || typ != websocket.BinaryMessage || string(msg) != banner {
		t.Fatalf("first message: %v %q %v; want the binary RFB banner", typ, msg, err)
	}
	// Messages larger than the relay's 16 KiB buffer, within the 64 KiB a
	// client message may have.
	payload := make([]byte, 200_000)
	rand.Read(payload)
	for off := 0; off < len(payload); off += 50_000 {
		if err := c.WriteMessage(websocket.BinaryMessage, payload[off:off+50_000]); err != nil {
			t.Fatal(err)
		}
	}
	var got []byte
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < len(payload) {
		_, m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
		got = append(got, m...)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("echoed bytes differ from those sent")
	}
}

func TestRefusals(t *testing.T) {
	r := newRig(t, 0, 2*time.Second)
	ctx := context.Background()

	tok := r.token(t, "i-origin")
	c, resp, err := r.dial(tok, "http://evil.example")
	refused(t, "bad origin", resp, err, 403, "origin")
	if ok, _ := r.tokens.Valid(ctx, tok); !ok {
		t.Error("a refused origin used the token up")
	}
	if c, _, err = r.dial(tok, portal); err != nil {
		t.Fatalf("the same token from the portal's origin: %v", err)
	}
	c.Close()

	_, resp, err = r.dial(tok, portal)
	refused(t, "second use of a token", resp, err, 403, "already used")

	_, resp, err = r.dial("no-such-token", portal)
	refused(t, "unknown token", resp, err, 403, "invalid")

	expired := r.token(t, "i-expired")
	time.Sleep(2100 * time.Millisecond)
	_, resp, err = r.dial(expired, portal)
	refused(t, "expired token", resp, err, 403, "expired")

	deleted := r.token(t, "i-deleted")
	if err := r.tokens.RevokeInstance(ctx, "i-deleted"); err != nil {
		t.Fatal(err)
	}
	_, resp, err = r.dial(deleted, portal)
	refused(t, "token of a deleted instance", resp, err, 403, "invalid")

	res, err := http.Get(r.srv.URL + "/websockify?token=" + r.token(t, "i-plain"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Errorf("plain GET of the websocket endpoint: %d, want 400", res.StatusCode)
	}
}

// TestRevokeClosesOpenSession: deleting an instance closes its console
// within seconds, with the reason in the close frame; other instances'
// sessions stay open.
func TestRevokeClosesOpenSession(t *testing.T) {
	r := newRig(t, 0, 0)
	victim, _, err := r.dial(r.token(t, "i-victim"), portal)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	other, _, err := r.dial(r.token(t, "i-other"), portal)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	victim.ReadMessage() // banners
	other.ReadMessage()
	if err := r.tokens.RevokeInstance(context.Background(), "i-victim"); err != nil {
		t.Fatal(err)
	}
	victim.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, _, err = victim.ReadMessage()
	var ce *websocket.CloseError
	if !asClose(err, &ce) || ce.Text != console.ReasonRevoked {
		t.Fatalf("revoked session read: %v; want a close frame saying %q", err, console.ReasonRevoked)
	}
	if err := other.WriteMessage(websocket.BinaryMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	other.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, m, err := other.ReadMessage(); err != nil || string(m) != "still here" {
		t.Fatalf("another instance's session after the revoke: %q %v", m, err)
	}
}

func TestIdleSessionCloses(t *testing.T) {
	r := newRig(t, 400*time.Millisecond, 0)
	c, _, err := r.dial(r.token(t, "i-idle"), portal)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.ReadMessage() // banner
	start := time.Now()
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !asClose(err, &ce) || ce.Text != console.ReasonIdle {
		t.Fatalf("idle session: %v; want a close frame saying %q", err, console.ReasonIdle)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("idle close after %v, want about 400ms", d)
	}
	waitSessions(t, r.proxy, 0)
}

// TestServerEndClosesClient: when the VNC server hangs up, the client's
// websocket closes too (no half-open session).
func TestServerEndClosesClient(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	tokens := &console.Tokens{RDB: rdb, Prefix: prefix}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.WriteString(c, banner)
			c.Close()
		}
	}()
	p := consoleproxy.New(consoleproxy.Config{Tokens: tokens, Log: config.Logger(8, false)})
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	defer p.Close()
	tok, _ := tokens.Issue(context.Background(), console.Target{InstanceID: "i", Addr: ln.Addr().String()})
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/?token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := c.ReadMessage(); err != nil || string(m) != banner {
		t.Fatalf("banner: %q %v", m, err)
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !asClose(err, &ce) || ce.Text != console.ReasonServer {
		t.Fatalf("after the server hung up: %v; want close %q", err, console.ReasonServer)
	}
	waitSessions(t, p, 0)
}

// TestHundredConcurrentSessions: 100 consoles at once, each relaying its
// own bytes both ways without mixing them up.
func TestHundredConcurrentSessions(t *testing.T) {
	r := newRig(t, 0, 0)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	conns := make([]*websocket.Conn, n)
	for i := 0; i < n; i++ {
		c, _, err := r.dial(r.token(t, "i-many"), portal)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		conns[i] = c
		defer c.Close()
	}
	waitSessions(t, r.proxy, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(c *websocket.Conn) {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, m, err := c.ReadMessage(); err != nil || string(m) != banner {
				errs <- err
				return
			}
			want := make([]byte, 32<<10)
			rand.Read(want)
			for k := 0; k < 4; k++ {
				if err := c.WriteMessage(websocket.BinaryMessage, want[k*8<<10:(k+1)*8<<10]); err != nil {
					errs <- err
					return
				}
			}
			var got []byte
			for len(got) < len(want) {
				_, m, err := c.ReadMessage()
				if err != nil {
					errs <- err
					return
				}
				got = append(got, m...)
			}
			if !bytes.Equal(got, want) {
				errs <- io.ErrUnexpectedEOF
			}
		}(conns[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a session failed: %v", err)
	}
	// Deleting the instance closes all hundred.
	if err := r.tokens.RevokeInstance(context.Background(), "i-many"); err != nil {
		t.Fatal(err)
	}
	waitSessions(t, r.proxy, 0)
}

func TestPageAndCheck(t *testing.T) {
	r := newRig(t, 0, 0)
	tok := r.token(t, "i-page")
	res, err := http.Get(r.srv.URL + "/vnc_lite.html?path=%3Ftoken%3D" + tok)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `data-ws-path="/websockify?token=`+tok+`"`) {
		t.Fatalf("console page: %d, websocket path with the token missing:\n%s", res.StatusCode, body)
	}
	if !strings.Contains(string(body), "noVNC") || !strings.Contains(string(body), "<script") {
		t.Errorf("console page does not name noVNC or load a script (tempest's novnc check):\n%s", body)
	}
	for _, c := range []struct {
		token string
		valid bool
	}{{tok, true}, {"nope", false}} {
		res, err := http.Get(r.srv.URL + "/check?token=" + c.token)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(b), `"valid":true`) != c.valid {
			t.Errorf("check %q: %s, want valid=%v", c.token, b, c.valid)
		}
	}
	if ok, _ := r.tokens.Valid(context.Background(), tok); !ok {
		t.Error("checking a token used it up")
	}
}

func asClose(err error, ce **websocket.CloseError) bool {
	e, ok := err.(*websocket.CloseError)
	*ce = e
	return ok
}

func waitSessions(t *testing.T, p *consoleproxy.Proxy, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.Sessions().Count() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d open sessions, want %d", p.Sessions().Count(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRefusalClosesConnection: a refused handshake (a bad token) is
// answered and the connection closed, as websockify does; tempest's
// bad-token test reads on after the answer and waited forever on a
// kept-alive connection.
func TestRefusalClosesConnection(t *testing.T) {
	r := newRig(t, time.Minute, time.Minute)
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /websockify?token=bad HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", strings.TrimPrefix(r.srv.URL, "http://"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("connection still open after the refusal (%v); read %q", err, got)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.1 403") {
		t.Fatalf("answer %q, want a 403", got)
	}
}
