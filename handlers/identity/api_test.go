package identity_test

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

func TestVersionDiscovery(t *testing.T) {
	tc := controllertest.New(t, nil)
	r := tc.Do(t, "GET", "/identity", "", nil)
	if r.Status != 300 {
		t.Fatalf("GET /identity: got %d, want 300", r.Status)
	}
	if !strings.Contains(string(r.Body), tc.URL+"/identity/v3/") {
		t.Errorf("versions document does not link v3: %s", r.Body)
	}
	r = tc.Do(t, "GET", "/identity/v3", "", nil)
	v := r.JSON(t)["version"].(map[string]any)
	if r.Status != 200 || v["id"] != "v3.14" || v["status"] != "stable" {
		t.Errorf("GET /identity/v3: got %d %v", r.Status, v)
	}
}

func TestIssueTokenShapes(t *testing.T) {
	tc := controllertest.New(t, nil)
	// By name and domain, scoped by project name.
	r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("demo", tc.DemoPass, "demo"))
	if r.Status != 201 {
		t.Fatalf("got %d %s, want 201", r.Status, r.Body)
	}
	if r.Header.Get("X-Subject-Token") == "" {
		t.Error("no X-Subject-Token header")
	}
	if !strings.HasPrefix(r.Header.Get("X-Openstack-Request-Id"), "req-") {
		t.Errorf("request id header: got %q", r.Header.Get("X-Openstack-Request-Id"))
	}
	tok := r.JSON(t)["token"].(map[string]any)
	for _, k := range []string{"user", "project", "roles", "expires_at", "issued_at", "methods", "catalog", "audit_ids"} {
		if _, ok := tok[k]; !ok {
			t.Errorf("token body lacks %q", k)
		}
	}
	if p := tok["project"].(map[string]any); p["name"] != "demo" || p["domain"].(map[string]any)["id"] != "default" {
		t.Errorf("project: got %v", p)
	}
	var roles []string
	for _, x := range tok["roles"].([]any) {
		roles = append(roles, x.(map[string]any)["name"].(string))
	}
	sort.Strings(roles)
	if strings.Join(roles, ",") != "member,reader" {
		t.Errorf("roles: got %v, want member and its implied reader", roles)
	}
	exp, _ := time.Parse(time.RFC3339Nano, tok["expires_at"].(string))
	iss, _ := time.Parse(time.RFC3339Nano, tok["issued_at"].(string))
	if d := exp.Sub(iss); d != time.Hour {
		t.Errorf("lifetime: got %v, want 1h", d)
	}
	types := map[string]string{}
	for _, s := range tok["catalog"].([]any) {
		svc := s.(map[string]any)
		for _, e := range svc["endpoints"].([]any) {
			ep := e.(map[string]any)
			if ep["interface"] == "public" && ep["region"] == "RegionOne" {
				types[svc["type"].(string)] = ep["url"].(string)
			}
		}
	}
	want := map[string]string{"identity": tc.URL + "/identity", "compute": tc.URL + "/compute/v2.1", "image": tc.URL + "/image",
		"network": tc.URL + "/networking"}
	for k, v := range want {
		if types[k] != v {
			t.Errorf("catalog %s: got %q, want %q", k, types[k], v)
		}
	}

	// Unscoped on request, and by user id with project id.
	body := controllertest.PasswordAuth("demo", tc.DemoPass, "")
	body["auth"].(map[string]any)["scope"] = "unscoped"
	r = tc.Do(t, "POST", "/identity/v3/auth/tokens", "", body)
	if r.Status != 201 {
		t.Fatalf("unscoped: got %d %s", r.Status, r.Body)
	}
	un := r.JSON(t)["token"].(map[string]any)
	if _, scoped := un["project"]; scoped {
		t.Error("unscoped token carries a project")
	}
	uid := un["user"].(map[string]any)["id"].(string)
	pid := tok["project"].(map[string]any)["id"].(string)
	r = tc.Do(t, "POST", "/identity/v3/auth/tokens", "", map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"id": uid, "password": tc.DemoPass}}},
		"scope": map[string]any{"project": map[string]any{"id": pid}},
	}})
	if r.Status != 201 {
		t.Fatalf("by ids: got %d %s", r.Status, r.Body)
	}
	// No scope and a default project: scoped to it, as Keystone does.
	r = tc.Do(t, "POST", "/identity/v3/auth/tokens?nocatalog", "", controllertest.PasswordAuth("demo", tc.DemoPass, ""))
	d := r.JSON(t)["token"].(map[string]any)
	if d["project"] == nil || d["catalog"] != nil {
		t.Errorf("default-project token: got project %v catalog %v, want project and no catalog", d["project"], d["catalog"])
	}
	// A project the user has no role on: 401.
	r = tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("demo", tc.DemoPass, "admin"))
	if r.Status != 401 {
		t.Errorf("scope to a project without roles: got %d, want 401", r.Status)
	}
}

func TestValidateCheckRevoke(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin := tc.AdminToken(t)
	demo := tc.DemoToken(t)
	r := tc.Do(t, "GET", "/identity/v3/auth/tokens", admin, nil, "X-Subject-Token", demo)
	if r.Status != 200 || r.Header.Get("X-Subject-Token") != demo {
		t.Fatalf("validate: got %d %s", r.Status, r.Body)
	}
	if r := tc.Do(t, "HEAD", "/identity/v3/auth/tokens", admin, nil, "X-Subject-Token", demo); r.Status != 200 {
		t.Errorf("check: got %d, want 200", r.Status)
	}
	// A user may validate their own token but not someone else's.
	other := tc.DemoToken(t)
	if r := tc.Do(t, "GET", "/identity/v3/auth/tokens", demo, nil, "X-Subject-Token", other); r.Status != 200 {
		t.Errorf("self validate: got %d", r.Status)
	}
	if r := tc.Do(t, "GET", "/identity/v3/auth/tokens", demo, nil, "X-Subject-Token", admin); r.Status != 403 {
		t.Errorf("demo validating admin's token: got %d, want 403", r.Status)
	}
	if r := tc.Do(t, "DELETE", "/identity/v3/auth/tokens", admin, nil, "X-Subject-Token", demo); r.Status != 204 {
		t.Fatalf("revoke: got %d %s", r.Status, r.Body)
	}
	if r := tc.Do(t, "GET", "/identity/v3/auth/tokens", admin, nil, "X-Subject-Token", demo); r.Status != 404 {
		t.Errorf("validate revoked: got %d, want 404", r.Status)
	}
	if r := tc.Do(t, "GET", "/identity/v3/auth/projects", demo, nil); r.Status != 401 {
		t.Errorf("use revoked: got %d, want 401", r.Status)
	}
	if r := tc.Do(t, "GET", "/identity/v3/auth/projects", other, nil); r.Status != 200 {
		t.Errorf("a sibling token must survive: got %d", r.Status)
	}
}

func TestAuthProjectsAndCatalog(t *testing.T) {
	tc := controllertest.New(t, nil)
	demo := tc.DemoToken(t)
	r := tc.Do(t, "GET", "/identity/v3/auth/projects", demo, nil)
	ps := r.JSON(t)["projects"].([]any)
	if len(ps) != 1 || ps[0].(map[string]any)["name"] != "demo" {
		t.Errorf("auth/projects: got %v, want [demo]", ps)
	}
	r = tc.Do(t, "GET", "/identity/v3/auth/catalog", demo, nil)
	// identity, compute, image, network, and block storage twice
	// (block-storage and volumev3).
	if n := len(r.JSON(t)["catalog"].([]any)); n != 6 {
		t.Errorf("catalog: got %d services, want 6", n)
	}
}

func TestTokenFromTokenNeverOutlivesParent(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin := tc.AdminToken(t)
	parent := tc.DemoToken(t)
	pv := tc.Do(t, "GET", "/identity/v3/auth/tokens", admin, nil, "X-Subject-Token", parent).JSON(t)["token"].(map[string]any)
	time.Sleep(20 * time.Millisecond)
	r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"token"}, "token": map[string]any{"id": parent}},
		"scope":    map[string]any{"project": map[string]any{"name": "demo", "domain": map[string]any{"name": "Default"}}},
	}})
	if r.Status != 201 {
		t.Fatalf("token method: got %d %s", r.Status, r.Body)
	}
	child := r.Header.Get("X-Subject-Token")
	cv := r.JSON(t)["token"].(map[string]any)
	if cv["expires_at"] != pv["expires_at"] {
		t.Errorf("child expires %v, parent %v: want equal (capped by the parent)", cv["expires_at"], pv["expires_at"])
	}
	methods := fmt.Sprint(cv["methods"])
	if !strings.Contains(methods, "token") || !strings.Contains(methods, "password") {
		t.Errorf("methods: got %s, want token and password", methods)
	}
	// Revoking the parent revokes the child.
	if r := tc.Do(t, "DELETE", "/identity/v3/auth/tokens", admin, nil, "X-Subject-Token", parent); r.Status != 204 {
		t.Fatalf("revoke parent: %d", r.Status)
	}
	if r := tc.Do(t, "GET", "/identity/v3/auth/projects", child, nil); r.Status != 401 {
		t.Errorf("child after parent revoked: got %d, want 401", r.Status)
	}
}

// TestTokensEndOnChanges checks each event that must end a token at once.
func TestTokensEndOnChanges(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin := tc.AdminToken(t)
	proj := tc.Do(t, "POST", "/identity/v3/projects", admin, map[string]any{"project": map[string]any{"name": "p-end"}}).JSON(t)["project"].(map[string]any)
	pid := proj["id"].(string)
	user := tc.Do(t, "POST", "/identity/v3/users", admin, map[string]any{"user": map[string]any{
		"name": "carol", "password": "carol-pass-1", "default_project_id": pid}}).JSON(t)["user"].(map[string]any)
	uid := user["id"].(string)
	member := tc.Do(t, "GET", "/identity/v3/roles?name=member", admin, nil).JSON(t)["roles"].([]any)[0].(map[string]any)["id"].(string)
	if r := tc.Do(t, "PUT", "/identity/v3/projects/"+pid+"/users/"+uid+"/roles/"+member, admin, nil); r.Status != 204 {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	alive := func(tok string) bool {
		return tc.Do(t, "GET", "/identity/v3/auth/projects", tok, nil).Status == 200
	}
	pw := "carol-pass-1"
	cases := []struct {
		name string
		end  func()
		undo func()
	}{
		{"role removed", func() {
			tc.Do(t, "DELETE", "/identity/v3/projects/"+pid+"/users/"+uid+"/roles/"+member, admin, nil)
		}, func() {
			tc.Do(t, "PUT", "/identity/v3/projects/"+pid+"/users/"+uid+"/roles/"+member, admin, nil)
		}},
		{"user disabled", func() {
			tc.Do(t, "PATCH", "/identity/v3/users/"+uid, admin, map[string]any{"user": map[string]any{"enabled": false}})
		}, func() {
			tc.Do(t, "PATCH", "/identity/v3/users/"+uid, admin, map[string]any{"user": map[string]any{"enabled": true}})
		}},
		{"project disabled", func() {
			tc.Do(t, "PATCH", "/identity/v3/projects/"+pid, admin, map[string]any{"project": map[string]any{"enabled": false}})
		}, func() {
			tc.Do(t, "PATCH", "/identity/v3/projects/"+pid, admin, map[string]any{"project": map[string]any{"enabled": true}})
		}},
		{"password changed by the user", func() {
			tok := tc.Token(t, "carol", pw, "p-end")
			r := tc.Do(t, "POST", "/identity/v3/users/"+uid+"/password", tok, map[string]any{"user": map[string]any{
				"original_password": pw, "password": "carol-pass-2"}})
			if r.Status != 204 {
				t.Fatalf("change password: %d %s", r.Status, r.Body)
			}
			pw = "carol-pass-2"
		}, func() {}},
		{"password set by an admin", func() {
			tc.Do(t, "PATCH", "/identity/v3/users/"+uid, admin, map[string]any{"user": map[string]any{"password": "carol-pass-3"}})
			pw = "carol-pass-3"
		}, func() {}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := tc.Token(t, "carol", pw, "p-end")
			if !alive(tok) {
				t.Fatal("fresh token does not work")
			}
			c.end()
			if alive(tok) {
				t.Errorf("token still works after %s", c.name)
			}
			c.undo()
		})
	}
	if r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("carol", "carol-pass-1", "p-end")); r.Status != 401 {
		t.Errorf("old password after change: got %d, want 401", r.Status)
	}
}

func TestErrorShapeAndRequestID(t *testing.T) {
	tc := controllertest.New(t, nil)
	cases := []struct {
		method, path, token string
		body                any
		want                int
	}{
		{"GET", "/identity/v3/projects", "", nil, 401},
		{"GET", "/identity/v3/projects", "not-a-token", nil, 401},
		{"POST", "/identity/v3/auth/tokens", "", "{not json", 400},
		{"POST", "/identity/v3/auth/tokens", "", map[string]any{"auth": map[string]any{}}, 400},
		{"POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("demo", "wrong", ""), 401},
		{"GET", "/identity/v3/no-such-thing", "", nil, 404},
		{"GET", "/image/v2/no-such-thing", "", nil, 401}, // Glance authenticates before routing
	}
	for _, c := range cases {
		r := tc.Do(t, c.method, c.path, c.token, c.body)
		if r.Status != c.want {
			t.Errorf("%s %s: got %d, want %d (%s)", c.method, c.path, r.Status, c.want, r.Body)
			continue
		}
		e, ok := r.JSON(t)["error"].(map[string]any)
		if !ok || int(e["code"].(float64)) != c.want || e["title"] == "" || e["message"] == "" {
			t.Errorf("%s %s: error body %s is not Keystone's shape", c.method, c.path, r.Body)
		}
		if r.Header.Get("X-Openstack-Request-Id") == "" {
			t.Errorf("%s %s: no request id", c.method, c.path)
		}
	}
	demo := tc.DemoToken(t)
	if r := tc.Do(t, "GET", "/identity/v3/projects", demo, nil); r.Status != 403 {
		t.Errorf("member listing all projects: got %d, want 403", r.Status)
	}
}

// TestUnknownUserLikeWrongPassword: same answer, same time.
func TestUnknownUserLikeWrongPassword(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_LOGIN_FAIL_PER_USER": "1000", "NIMBUS_LOGIN_FAIL_PER_ADDR": "1000"})
	measure := func(user string) (time.Duration, controllertest.Resp) {
		var ds []time.Duration
		var last controllertest.Resp
		for i := 0; i < 7; i++ {
			start := time.Now()
			last = tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth(user, "wrong-password", ""))
			ds = append(ds, time.Since(start))
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2], last
	}
	known, kr := measure("demo")
	unknown, ur := measure("nobody-by-this-name")
	if kr.Status != 401 || ur.Status != 401 {
		t.Fatalf("statuses: known %d unknown %d, want 401 both", kr.Status, ur.Status)
	}
	if string(kr.Body) != string(ur.Body) {
		t.Errorf("bodies differ:\nknown   %s\nunknown %s", kr.Body, ur.Body)
	}
	// Both run one password hash; a skipped hash would be ~100x faster.
	ratio := float64(unknown) / float64(known)
	t.Logf("median: known user %v, unknown user %v (ratio %.2f)", known, unknown, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Errorf("timing differs: known %v, unknown %v", known, unknown)
	}
}

func TestLoginThrottle(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_LOGIN_FAIL_PER_USER": "3", "NIMBUS_LOGIN_FAIL_PER_ADDR": "6",
		"NIMBUS_TRUSTED_PROXIES": "10.9.9.9"})
	for i := 0; i < 3; i++ {
		if r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("demo", "wrong", "")); r.Status != 401 {
			t.Fatalf("failure %d: got %d, want 401", i, r.Status)
		}
	}
	r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("demo", tc.DemoPass, ""))
	if r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Errorf("right password after 3 failures: got %d (Retry-After %q), want 429", r.Status, r.Header.Get("Retry-After"))
	}
	// Other users are not locked by demo's failures...
	if r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("admin", tc.AdminPass, "")); r.Status != 201 {
		t.Errorf("admin while demo is locked: got %d, want 201", r.Status)
	}
	// ...until the address itself has failed too often, whatever the names.
	for i := 0; i < 3; i++ {
		tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth(fmt.Sprintf("ghost%d", i), "wrong", ""))
	}
	if r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("admin", tc.AdminPass, "")); r.Status != 429 {
		t.Errorf("admin from a throttled address: got %d, want 429", r.Status)
	}
	// X-Forwarded-For from an untrusted peer is ignored: still throttled.
	if r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("admin", tc.AdminPass, ""),
		"X-Forwarded-For", "192.0.2.55"); r.Status != 429 {
		t.Errorf("spoofed X-Forwarded-For: got %d, want 429", r.Status)
	}
}

func TestPasswordLimitsAndHashCap(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_HASH_CONCURRENCY": "1", "NIMBUS_HASH_QUEUE": "1",
		"NIMBUS_LOGIN_FAIL_PER_USER": "1000", "NIMBUS_LOGIN_FAIL_PER_ADDR": "1000"})
	long := strings.Repeat("x", 4097)
	start := time.Now()
	r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("demo", long, ""))
	if r.Status != 400 {
		t.Errorf("4097-byte password: got %d, want 400", r.Status)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("4097-byte password took %v: it must be refused before hashing", d)
	}
	// 24 logins at once against 1 running + 1 waiting slot: the excess is
	// refused with 503 at once; the rest get their normal answer.
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	var fastest503 time.Duration = time.Hour
	for i := 0; i < 24; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := time.Now()
			r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("demo", "wrong-password", ""))
			mu.Lock()
			counts[r.Status]++
			if r.Status == 503 && time.Since(s) < fastest503 {
				fastest503 = time.Since(s)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts[503] == 0 || counts[401] == 0 || counts[401]+counts[503] != 24 {
		t.Errorf("answers: got %v, want some 401 and some 503 only", counts)
	}
	t.Logf("answers %v, fastest 503 in %v", counts, fastest503)
}

func TestAdminCRUDAndPolicy(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	// Projects.
	r := tc.Do(t, "POST", "/identity/v3/projects", admin, map[string]any{"project": map[string]any{"name": "alpha", "description": "A"}})
	if r.Status != 201 {
		t.Fatalf("create project: %d %s", r.Status, r.Body)
	}
	pid := r.JSON(t)["project"].(map[string]any)["id"].(string)
	if r := tc.Do(t, "POST", "/identity/v3/projects", admin, map[string]any{"project": map[string]any{"name": "alpha"}}); r.Status != 409 {
		t.Errorf("duplicate project: got %d, want 409", r.Status)
	}
	for _, bad := range []map[string]any{{"name": ""}, {"name": strings.Repeat("n", 65)}, {"name": "a\x00b"}, {"description": 5, "name": "x"}} {
		if r := tc.Do(t, "POST", "/identity/v3/projects", admin, map[string]any{"project": bad}); r.Status != 400 {
			t.Errorf("create project %v: got %d, want 400", bad, r.Status)
		}
	}
	if r := tc.Do(t, "GET", "/identity/v3/projects?name=alpha", admin, nil); len(r.JSON(t)["projects"].([]any)) != 1 {
		t.Errorf("filter by name: %s", r.Body)
	}
	if r := tc.Do(t, "PATCH", "/identity/v3/projects/"+pid, admin, map[string]any{"project": map[string]any{"description": "B"}}); r.JSON(t)["project"].(map[string]any)["description"] != "B" {
		t.Errorf("update project: %s", r.Body)
	}
	// Members cannot administer, and another project is not found.
	if r := tc.Do(t, "POST", "/identity/v3/projects", demo, map[string]any{"project": map[string]any{"name": "evil"}}); r.Status != 403 {
		t.Errorf("member creates project: got %d, want 403", r.Status)
	}
	if r := tc.Do(t, "GET", "/identity/v3/projects/"+pid, demo, nil); r.Status != 404 {
		t.Errorf("member reads another project: got %d, want 404", r.Status)
	}
	if r := tc.Do(t, "GET", "/identity/v3/projects/0123456789abcdef0123456789abcdef", demo, nil); r.Status != 404 {
		t.Errorf("member reads a random project id: got %d, want 404", r.Status)
	}
	// Users and roles.
	r = tc.Do(t, "POST", "/identity/v3/users", admin, map[string]any{"user": map[string]any{"name": "dave", "password": "dave-pass-1", "email": "dave@example.org"}})
	if r.Status != 201 {
		t.Fatalf("create user: %d %s", r.Status, r.Body)
	}
	uid := r.JSON(t)["user"].(map[string]any)["id"].(string)
	if r := tc.Do(t, "POST", "/identity/v3/users", admin, map[string]any{"user": map[string]any{"name": "erin", "password": "short"}}); r.Status != 400 {
		t.Errorf("short password: got %d, want 400", r.Status)
	}
	r = tc.Do(t, "POST", "/identity/v3/roles", admin, map[string]any{"role": map[string]any{"name": "observer"}})
	rid := r.JSON(t)["role"].(map[string]any)["id"].(string)
	if r := tc.Do(t, "PUT", "/identity/v3/projects/"+pid+"/users/"+uid+"/roles/"+rid, admin, nil); r.Status != 204 {
		t.Fatalf("grant: %d", r.Status)
	}
	if r := tc.Do(t, "HEAD", "/identity/v3/projects/"+pid+"/users/"+uid+"/roles/"+rid, admin, nil); r.Status != 204 {
		t.Errorf("check grant: %d", r.Status)
	}
	r = tc.Do(t, "GET", "/identity/v3/role_assignments?user.id="+uid+"&include_names", admin, nil)
	as := r.JSON(t)["role_assignments"].([]any)
	if len(as) != 1 || as[0].(map[string]any)["role"].(map[string]any)["name"] != "observer" {
		t.Errorf("role_assignments filtered by user: %s", r.Body)
	}
	r = tc.Do(t, "GET", "/identity/v3/role_assignments?scope.project.id="+pid+"&role.id="+rid, admin, nil)
	if n := len(r.JSON(t)["role_assignments"].([]any)); n != 1 {
		t.Errorf("role_assignments by project and role: got %d, want 1", n)
	}
	r = tc.Do(t, "GET", "/identity/v3/role_assignments?user.id="+uid+"&effective", admin, nil)
	if n := len(r.JSON(t)["role_assignments"].([]any)); n != 1 {
		t.Errorf("effective assignments of a role implying nothing: got %d, want 1", n)
	}
	r = tc.Do(t, "GET", "/identity/v3/role_assignments?scope.project.id="+pid+"&effective", admin, nil)
	if r.Status != 200 {
		t.Errorf("effective: %d", r.Status)
	}
	if r := tc.Do(t, "GET", "/identity/v3/users/"+uid+"/projects", admin, nil); len(r.JSON(t)["projects"].([]any)) != 1 {
		t.Errorf("user projects: %s", r.Body)
	}
	if r := tc.Do(t, "GET", "/identity/v3/domains", admin, nil); len(r.JSON(t)["domains"].([]any)) != 1 {
		t.Errorf("domains: %s", r.Body)
	}
	// Deleting the project removes its assignments.
	if r := tc.Do(t, "DELETE", "/identity/v3/projects/"+pid, admin, nil); r.Status != 204 {
		t.Errorf("delete project: %d", r.Status)
	}
	r = tc.Do(t, "GET", "/identity/v3/role_assignments?user.id="+uid, admin, nil)
	if n := len(r.JSON(t)["role_assignments"].([]any)); n != 0 {
		t.Errorf("assignments after project delete: got %d, want 0", n)
	}
	if r := tc.Do(t, "DELETE", "/identity/v3/users/"+uid, admin, nil); r.Status != 204 {
		t.Errorf("delete user: %d", r.Status)
	}
	if r := tc.Do(t, "GET", "/identity/v3/users/"+uid, admin, nil); r.Status != 404 {
		t.Errorf("deleted user: got %d, want 404", r.Status)
	}
}

// TestLoginThrottleUnderParallelGuesses: guesses sent at once, naming one
// account three ways (name in a domain given by name, name in a domain
// given by id, user id), are counted before any password is checked and
// once for the account: exactly the limit get a 401, every other a 429.
// The count used to be read before hashing and written after, per
// spelling, so parallel guesses all passed it.
func TestLoginThrottleUnderParallelGuesses(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_LOGIN_FAIL_PER_USER": "3", "NIMBUS_LOGIN_FAIL_PER_ADDR": "1000",
		"NIMBUS_HASH_QUEUE": "64"})
	r := tc.Do(t, "GET", "/identity/v3/users?name=demo", tc.AdminToken(t), nil)
	users := r.JSON(t)["users"].([]any)
	if len(users) != 1 {
		t.Fatalf("users named demo: %s", r.Body)
	}
	demoID := users[0].(map[string]any)["id"].(string)
	spellings := []map[string]any{
		{"name": "demo", "domain": map[string]any{"name": "Default"}, "password": "wrong"},
		{"name": "demo", "domain": map[string]any{"id": "default"}, "password": "wrong"},
		{"id": demoID, "password": "wrong"},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	for i := 0; i < 21; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"},
				"password": map[string]any{"user": spellings[i%3]}}}}
			r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", body)
			mu.Lock()
			counts[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts[401] != 3 || counts[429] != 18 {
		t.Fatalf("answers %v, want exactly 3 x 401 and 18 x 429", counts)
	}
}
