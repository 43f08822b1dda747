package api_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// flakyProxy forwards TCP connections to a backing service and can make
// it look down: refusing (every connection, open or new, is closed at
// once, as when the server is stopped) or hanging (connections are held
// open and nothing is forwarded, as when packets are dropped).
type flakyProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  string // "up", "refuse" or "hang"
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, target: target, mode: "up", conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.set("refuse")
		p.wg.Wait()
	})
	return p
}

func (p *flakyProxy) addr() string { return p.ln.Addr().String() }

// set changes the mode; going down closes every open connection, so that
// pooled connections die as they would with the server.
func (p *flakyProxy) set(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	if mode != "up" {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func (p *flakyProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "refuse" {
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *flakyProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		p.mu.Unlock()
		switch mode {
		case "refuse":
			c.Close()
		case "hang":
			p.track(c) // held, never answered, closed when the mode changes
		default:
			p.wg.Add(1)
			go p.forward(c)
		}
	}
}

func (p *flakyProxy) forward(c net.Conn) {
	defer p.wg.Done()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, s) {
		c.Close()
		s.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(s, c)
	go pipe(c, s)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// viaProxy rewrites a service URL to go through a new flakyProxy.
func viaProxy(t *testing.T, raw string) (string, *flakyProxy) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := newFlakyProxy(t, u.Host)
	u.Host = p.addr()
	return u.String(), p
}

// checkUnavailable checks r is a 503 with Retry-After in the API's shape,
// telling the client nothing internal.
func checkUnavailable(t *testing.T, what, shape string, r controllertest.Resp) {
	t.Helper()
	if r.Status != 503 {
		t.Errorf("%s: got %d %s, want 503", what, r.Status, r.Body)
		return
	}
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("%s: 503 without Retry-After", what)
	}
	checkErrorShape(t, shape, r)
}

// TestDatabaseDown stops PostgreSQL (through a proxy that first refuses
// every connection, then swallows them) under a running controller: an
// instance lookup and a delete answer 503 with Retry-After, never 404 (a
// client such as Terraform would forget a running VM) or 500, in each
// API's shape, and the portal shows its catalogue page; no request hangs
// past its deadline. When PostgreSQL is back the server is still there,
// unchanged. Redis going down gives 503s too.
func TestDatabaseDown(t *testing.T) {
	dbURL, pg := viaProxy(t, testenv.DatabaseURL(t))
	redisURL, rd := viaProxy(t, testenv.RedisURL(t))
	tc := controllertest.New(t, map[string]string{"NIMBUS_DATABASE_URL": dbURL, "NIMBUS_REDIS_URL": redisURL,
		"NIMBUS_REQUEST_TIMEOUT": "3s", "NIMBUS_DB_ACQUIRE_TIMEOUT": "1s"})
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	img := tc.ActiveImage(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "keep", "flavorRef": "1", "imageRef": img, "networks": "none"})
	if r.Status != 202 {
		t.Fatalf("create server: %d %s", r.Status, r.Body)
	}
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	before := tc.WaitStatus(t, demo, id, "ERROR", 30*time.Second) // no hosts: a settled state
	browser := tc.NewFormClient(t)
	browser.Login("demo", tc.DemoPass)
	// A request that hangs fails the test in seconds, not at the suite's
	// timeout (web tests are not parallel, so the default client is ours).
	defaultTimeout := http.DefaultClient.Timeout
	http.DefaultClient.Timeout, browser.Client.Timeout = 20*time.Second, 20*time.Second
	t.Cleanup(func() { http.DefaultClient.Timeout = defaultTimeout })

	requests := func(t *testing.T) {
		for _, rq := range []struct{ method, path, token, shape string }{
			{"GET", "/compute/v2.1/servers/" + id, demo, "nova"},
			{"DELETE", "/compute/v2.1/servers/" + id, demo, "nova"},
			{"GET", "/compute/v2.1/servers/detail", demo, "nova"},
			{"GET", "/identity/v3/users", admin, "keystone"},
			{"GET", "/image/v2/images/" + img, demo, "keystone"},
		} {
			start := time.Now()
			r := tc.Do(t, rq.method, rq.path, rq.token, nil)
			checkUnavailable(t, rq.method+" "+rq.path, rq.shape, r)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("%s %s took %v: past the request deadline", rq.method, rq.path, d)
			}
		}
		p := browser.Get("/project/instances")
		if p.Status != 503 || p.Header.Get("Retry-After") == "" || !strings.Contains(p.Body, "Temporarily unavailable") {
			t.Errorf("portal instances page: got %d (Retry-After %q), want 503 with the catalogue's page", p.Status, p.Header.Get("Retry-After"))
		}
		for _, w := range leaks {
			if strings.Contains(strings.ToLower(p.Body), strings.ToLower(w)) {
				t.Errorf("portal page leaks %q", w)
			}
		}
	}
	t.Run("refused", func(t *testing.T) {
		pg.set("refuse")
		requests(t)
	})
	t.Run("hanging", func(t *testing.T) {
		pg.set("hang")
		requests(t)
	})
	pg.set("up")
	controllertest.WaitFor(t, 20*time.Second, "the API to answer again", func() bool {
		return tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).Status == 200
	})
	after := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
	if after["status"] != before["status"] || after["OS-EXT-STS:task_state"] != nil || after["updated"] != before["updated"] {
		t.Errorf("server changed while PostgreSQL was down: before %v %v, after %v %v", before["status"], before["updated"], after["status"], after["updated"])
	}

	t.Run("redis down", func(t *testing.T) {
		rd.set("refuse")
		defer rd.set("up")
		r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("demo", tc.DemoPass, "demo"))
		checkUnavailable(t, "login", "keystone", r)
		p := browser.Get("/project/instances")
		if p.Status != 503 || !strings.Contains(p.Body, "Temporarily unavailable") {
			t.Errorf("portal with Redis down: got %d, want 503 with the catalogue's page", p.Status)
		}
	})
	controllertest.WaitFor(t, 20*time.Second, "logins to work again", func() bool {
		return tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("demo", tc.DemoPass, "demo")).Status == 201
	})
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
		t.Errorf("delete once PostgreSQL is back: got %d %s, want 204", r.Status, r.Body)
	}
}
