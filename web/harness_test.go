package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/console"
	"github.com/nimbus-cloud/nimbus/internal/controller"
	"github.com/nimbus-cloud/nimbus/internal/identity"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// serverParts are the running controller's parts the tests reach into.
type serverParts struct {
	pool     *pgxpool.Pool
	rdb      *redis.Client
	identity *identity.Service
	compute  *compute.Service
	consoles *console.Tokens
	app      *fiber.App
}

// testCloud is a whole controller running in-process on a random port,
// against a fresh database and its own Redis key prefix.
type testCloud struct {
	URL        string
	ConsoleURL string // the console proxy
	AdminPass  string
	DemoPass   string
	DataDir    string
	cfg        *config.Config
	srv        *serverParts
	env        map[string]string
}

// newTestCloud starts a controller; extra are NIMBUS_* settings to add.
func newTestCloud(t *testing.T, extra map[string]string) *testCloud {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	consoleLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, prefix := testenv.Redis(t)
	tc := &testCloud{URL: "http://" + ln.Addr().String(), DataDir: t.TempDir(), ConsoleURL: "http://" + consoleLn.Addr().String()}
	env := map[string]string{
		"NIMBUS_DATABASE_URL":       testenv.DatabaseURL(t),
		"NIMBUS_REDIS_URL":          testenv.RedisURL(t),
		"NIMBUS_REDIS_PREFIX":       prefix,
		"NIMBUS_DATA_DIR":           tc.DataDir,
		"NIMBUS_PUBLIC_URL":         tc.URL,
		"NIMBUS_LISTEN":             ln.Addr().String(),
		"NIMBUS_CONSOLE_LISTEN":     consoleLn.Addr().String(),
		"NIMBUS_CONSOLE_PUBLIC_URL": tc.ConsoleURL,
		"NIMBUS_ADMIN_PASSWORD":     "admin-secret-pw",
		"NIMBUS_LOG_LEVEL":          "warn",
	}
	for k, v := range extra {
		env[k] = v
	}
	tc.env = env
	cfg, err := config.Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	tc.cfg = cfg
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := controller.Start(ctx, cfg, config.Logger(cfg.LogLevel, false))
	if err != nil {
		cancel()
		t.Fatalf("start nimbus: %v", err)
	}
	tc.srv = &serverParts{pool: srv.Pool(), rdb: srv.RDB(), identity: srv.Identity(), compute: srv.Compute(),
		consoles: srv.Consoles(), app: srv.App()}
	tc.AdminPass, tc.DemoPass = srv.Credentials().AdminPassword, srv.Credentials().DemoPassword
	done := make(chan error, 1)
	go func() { done <- srv.ServeOn(ctx, ln, consoleLn, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		srv.Close()
	})
	// The token cache follows revocations once subscribed; tests that
	// revoke expect that path, so wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for !srv.Identity().CacheLive() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return tc
}

// apiResp is a decoded API answer.
type apiResp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r apiResp) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
	return m
}

// do sends an API request with an optional token and JSON body.
func (tc *testCloud) do(t *testing.T, method, path, token string, body any, hdr ...string) apiResp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			js, _ := json.Marshal(b)
			rd = bytes.NewReader(js)
		}
	}
	req, err := http.NewRequest(method, tc.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return apiResp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// passwordAuth is a Keystone password auth body for a user in Default,
// scoped to project (by name) unless project is empty.
func passwordAuth(user, password, project string) map[string]any {
	auth := map[string]any{
		"identity": map[string]any{
			"methods": []string{"password"},
			"password": map[string]any{"user": map[string]any{
				"name": user, "domain": map[string]any{"name": "Default"}, "password": password,
			}},
		},
	}
	if project != "" {
		auth["scope"] = map[string]any{"project": map[string]any{"name": project, "domain": map[string]any{"id": "default"}}}
	}
	return map[string]any{"auth": auth}
}

// token issues a project-scoped token for user and returns it.
func (tc *testCloud) token(t *testing.T, user, password, project string) string {
	t.Helper()
	r := tc.do(t, "POST", "/identity/v3/auth/tokens", "", passwordAuth(user, password, project))
	if r.Status != 201 {
		t.Fatalf("issue token for %s: got %d %s, want 201", user, r.Status, r.Body)
	}
	return r.Header.Get("X-Subject-Token")
}

func (tc *testCloud) adminToken(t *testing.T) string {
	return tc.token(t, "admin", tc.AdminPass, "admin")
}

func (tc *testCloud) demoToken(t *testing.T) string {
	return tc.token(t, "demo", tc.DemoPass, "demo")
}
