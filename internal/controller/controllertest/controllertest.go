// Package controllertest starts a whole controller in-process for tests:
// on random loopback ports, against a fresh PostgreSQL database and its
// own Redis key prefix (internal/testenv), with the helpers the API,
// portal and domain suites share: requests and tokens, compute agents on
// libvirt's test driver, images and servers, a portal form client and
// console websockets.
//
// Without NIMBUS_TEST_DATABASE_URL and NIMBUS_TEST_REDIS_URL a test that
// starts a cloud is skipped (under CI=true it fails), as testenv does.
package controllertest

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

	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/controller"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// Cloud is a whole controller running in-process on a random port,
// against a fresh database and its own Redis key prefix.
type Cloud struct {
	URL        string
	ConsoleURL string // the console proxy
	AdminPass  string
	DemoPass   string
	DataDir    string
	Config     *config.Config
	Server     *controller.Server
	Env        map[string]string // the NIMBUS_* settings it was started with
}

// New starts a controller that stops when the test ends; extra are
// NIMBUS_* settings to add or override.
func New(t *testing.T, extra map[string]string) *Cloud {
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
	tc := &Cloud{URL: "http://" + ln.Addr().String(), DataDir: t.TempDir(), ConsoleURL: "http://" + consoleLn.Addr().String()}
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
	tc.Env = env
	cfg, err := config.Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	tc.Config = cfg
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := controller.Start(ctx, cfg, config.Logger(cfg.LogLevel, false))
	if err != nil {
		cancel()
		t.Fatalf("start nimbus: %v", err)
	}
	tc.Server = srv
	tc.AdminPass, tc.DemoPass = srv.Credentials().AdminPassword, srv.Credentials().DemoPassword
	done := make(chan error, 1)
	go func() { done <- srv.ServeOn(ctx, ln, consoleLn, nil) }()
	t.Cleanup(func() {
		// The test's keep-alive connections are closed first: a fasthttp
		// connection kept after a streamed upload (the real test image)
		// is not closed by the server's shutdown, which then waits its
		// whole 10 s and fails.
		http.DefaultClient.CloseIdleConnections()
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

// Resp is a decoded API answer.
type Resp struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as a JSON object, failing the test if it is not one.
func (r Resp) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
	return m
}

// Do sends an API request with an optional token and body (a string is
// sent as it is, anything else as JSON); hdr are header name, value pairs.
func (tc *Cloud) Do(t *testing.T, method, path, token string, body any, hdr ...string) Resp {
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
	return Send(t, req)
}

// Send sends req with the default client and reads the whole answer.
func Send(t *testing.T, req *http.Request) Resp {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return Resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// PasswordAuth is a Keystone password auth body for a user in Default,
// scoped to project (by name) unless project is empty.
func PasswordAuth(user, password, project string) map[string]any {
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

// Token issues a project-scoped token for user and returns it.
func (tc *Cloud) Token(t *testing.T, user, password, project string) string {
	t.Helper()
	r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", PasswordAuth(user, password, project))
	if r.Status != 201 {
		t.Fatalf("issue token for %s: got %d %s, want 201", user, r.Status, r.Body)
	}
	return r.Header.Get("X-Subject-Token")
}

// AdminToken is a token of the seeded admin, on project admin.
func (tc *Cloud) AdminToken(t *testing.T) string {
	return tc.Token(t, "admin", tc.AdminPass, "admin")
}

// DemoToken is a token of the seeded demo user, a member of project demo.
func (tc *Cloud) DemoToken(t *testing.T) string {
	return tc.Token(t, "demo", tc.DemoPass, "demo")
}

// WaitFor polls ok every 100 ms and fails the test when it is not true
// within d.
func WaitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// MemberPassword is the password of the users NewProjectMember makes.
const MemberPassword = "secret-pass-1"

// NewProjectMember makes a project name with a user name+"-user" holding
// only the member role there (password MemberPassword), and returns the
// user's name: a tenant with no admin role anywhere, for isolation checks.
func (tc *Cloud) NewProjectMember(t *testing.T, name string) string {
	t.Helper()
	admin := tc.AdminToken(t)
	r := tc.Do(t, "POST", "/identity/v3/projects", admin, map[string]any{"project": map[string]any{"name": name, "domain_id": "default"}})
	if r.Status != 201 {
		t.Fatalf("create project: %d %s", r.Status, r.Body)
	}
	pid := r.JSON(t)["project"].(map[string]any)["id"].(string)
	r = tc.Do(t, "POST", "/identity/v3/users", admin, map[string]any{"user": map[string]any{
		"name": name + "-user", "password": MemberPassword, "domain_id": "default", "default_project_id": pid}})
	if r.Status != 201 {
		t.Fatalf("create user: %d %s", r.Status, r.Body)
	}
	uid := r.JSON(t)["user"].(map[string]any)["id"].(string)
	r = tc.Do(t, "GET", "/identity/v3/roles?name=member", admin, nil)
	role := r.JSON(t)["roles"].([]any)[0].(map[string]any)["id"].(string)
	if r = tc.Do(t, "PUT", "/identity/v3/projects/"+pid+"/users/"+uid+"/roles/"+role, admin, nil); r.Status != 204 {
		t.Fatalf("grant member: %d %s", r.Status, r.Body)
	}
	return name + "-user"
}
