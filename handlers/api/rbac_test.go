package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

// The RBAC matrix: every route of the API and the portal, taken from the
// Fiber router, is called as anonymous, a reader and a member of project
// "home", a member of project "away" and the admin, and each answer is
// held against what the policy table says. A route without an entry here
// fails the test, so a new route has to say who may call it.

// Pseudo-operations for routes the table does not guard.
const (
	opPublic policy.Op = "public" // no token needed; the answer is the route's own business
	opToken  policy.Op = "token"  // any valid token
)

// rbacRoute is one route's entry: the operation the table decides it by,
// what the operation acts on, and a request that exercises it.
type rbacRoute struct {
	op policy.Op
	// on is the target: "" none, "own" the caller's project, "home" a
	// resource of project home, "member" the home member as a user,
	// "victim" a user no principal is, "domain" the Default domain.
	on string
	// path with {placeholders}; a placeholder listed in fresh is made
	// anew for each call (the route would use it up).
	path  string
	body  any // JSON for the API, url.Values for the portal
	fresh []string
	// deny is the refusal status when not 403: 404 where the service
	// hides what the caller may not see.
	deny int
	// relogin: the route ends or changes the portal session.
	relogin bool
	// health: the answer reports health (503 without an agent is fine).
	health bool
	// stream: the answer is an event stream, read up to its headers.
	stream bool
	hdr    []string // extra request headers
}

type principal struct {
	name      string
	token     string
	tok       *model.Token // nil: anonymous
	portal    *controllertest.FormClient
	csrf      string
	user, pwd string
}

// rbacFixture holds the ids the routes name.
type rbacFixture struct {
	tc                      *controllertest.Cloud
	admin                   string
	home, away              string // project ids
	member                  string // home member's user id
	readerRole              string
	server, image, flavor   string
	request                 string // an action's request id on server
	victimUser, victimProj  string
	portalUser, portalProj  string
	victimRole, victimFlav  string
	portalFlav, publicImage string
	// net holds the networking fixture's ids (network, subnet, port,
	// secgroup, rule, router, fip, public) for paths and bodies.
	net map[string]string
	n   int
}

func TestRBACMatrix(t *testing.T) {
	tc := controllertest.New(t, nil)
	fx := &rbacFixture{tc: tc, admin: tc.AdminToken(t)}
	fx.setup(t)
	ps := fx.principals(t)
	routes := rbacRoutes()
	for k, v := range networkingRoutes() {
		routes[k] = v
	}
	for k, v := range volumeRoutes() {
		routes[k] = v
	}

	seen := map[string]bool{}
	var keys []string
	for _, r := range tc.Server.App().GetRoutes(true) {
		key := r.Method + " " + r.Path
		if seen[key] {
			continue
		}
		seen[key] = true
		keys = append(keys, key)
	}
	for _, key := range keys {
		lookup := key
		if strings.HasPrefix(key, "HEAD ") { // Fiber adds HEAD to every GET
			lookup = "GET " + strings.TrimPrefix(key, "HEAD ")
		}
		if _, ok := routes[lookup]; !ok {
			t.Errorf("route %s has no entry in the RBAC matrix (handlers/api/rbac_test.go rbacRoutes)", key)
		}
	}
	for key := range routes {
		if !seen[key] {
			t.Errorf("matrix entry %s is not a route", key)
		}
	}
	sort.Strings(keys)
	checked := 0
	for _, key := range keys {
		method, pattern, _ := strings.Cut(key, " ")
		r, ok := routes[strings.Replace(key, "HEAD ", "GET ", 1)]
		if !ok {
			continue
		}
		if method == "HEAD" && (r.fresh != nil || r.relogin) {
			continue // its GET said it already; a HEAD would use the fixture up too
		}
		portal := !strings.HasPrefix(pattern, "/identity") && !strings.HasPrefix(pattern, "/compute") &&
			!strings.HasPrefix(pattern, "/image") && !strings.HasPrefix(pattern, "/networking") &&
			!strings.HasPrefix(pattern, "/metadata") && !strings.HasPrefix(pattern, "/volume") && pattern != "/healthz"
		for _, p := range ps {
			status, loc, body := fx.call(t, p, method, r, portal)
			checked++
			if msg := fx.judge(p, r, portal, status, loc); msg != "" {
				t.Errorf("%s %s as %s: %s (got %d %.200s)", method, pattern, p.name, msg, status, body)
			}
			if r.relogin && p.portal != nil {
				fx.login(t, p)
			}
		}
	}
	t.Logf("%d routes x %d principals: %d calls", len(keys), len(ps), checked)
}

// judge returns what is wrong with an answer, or "".
func (fx *rbacFixture) judge(p *principal, r rbacRoute, portal bool, status int, loc string) string {
	if status >= 500 && !r.health {
		return "a server error"
	}
	if r.op == opPublic {
		return ""
	}
	if p.tok == nil {
		if portal {
			if (status == 302 || status == 303) && strings.HasPrefix(loc, "/auth/login") {
				return ""
			}
			return "want a redirect to /auth/login"
		}
		if status != 401 {
			return "want 401"
		}
		return ""
	}
	if portal && !r.relogin && (status == 302 || status == 303) && strings.HasPrefix(loc, "/auth/login") {
		return "a signed-in user sent to sign in"
	}
	allowed := r.op == opToken || policy.Allowed(p.tok, r.op, fx.target(p, r))
	if allowed {
		if status == 401 || status == 403 {
			return "allowed by the policy table, refused"
		}
		return ""
	}
	want := 403
	if r.deny != 0 {
		want = r.deny
	}
	if r.on == "home" && p.tok.ProjectID != fx.home && !p.tok.IsAdmin() {
		want = 404 // another project's resource does not exist for them
	}
	if status != want {
		return fmt.Sprintf("refused by the policy table, want %d", want)
	}
	return ""
}

func (fx *rbacFixture) target(p *principal, r rbacRoute) policy.Target {
	switch r.on {
	case "own":
		return policy.Target{ProjectID: p.tok.ProjectID}
	case "home":
		return policy.Target{ProjectID: fx.home}
	case "member":
		return policy.Target{UserID: fx.member}
	case "victim":
		return policy.Target{UserID: fx.victimUser}
	case "domain":
		return policy.Target{DomainID: model.DefaultDomainID}
	}
	return policy.Target{}
}

// call sends r's request as p and returns the status, Location and body.
func (fx *rbacFixture) call(t *testing.T, p *principal, method string, r rbacRoute, portal bool) (int, string, string) {
	t.Helper()
	path, ids := fx.fill(t, p, r)
	if !portal {
		hdr := r.hdr
		body := r.body
		if m, ok := body.(map[string]any); ok {
			// API bodies may name fixture ids too ({network}).
			b, _ := json.Marshal(m)
			js := string(b)
			for k, v := range ids {
				js = strings.ReplaceAll(js, "{"+k+"}", v)
			}
			body = js
		}
		if strings.HasPrefix(path, "/identity/v3/auth/tokens") && method != "POST" {
			hdr = []string{"X-Subject-Token", fx.tc.Token(t, "rbac-member", "member-pw-1", "home")}
		}
		if strings.HasSuffix(path, "/remote-consoles") {
			hdr = []string{"OpenStack-API-Version", "compute 2.6"}
		}
		res := fx.tc.Do(t, method, path, p.token, body, hdr...)
		return res.Status, res.Header.Get("Location"), string(res.Body)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if p.portal != nil {
		client = p.portal.Client
	}
	var body *strings.Reader
	switch b := r.body.(type) {
	case url.Values:
		// Form values may name fixture ids too ({server}).
		enc := b.Encode()
		for k, v := range ids {
			enc = strings.ReplaceAll(enc, url.QueryEscape("{"+k+"}"), v)
		}
		body = strings.NewReader(enc)
	case string:
		body = strings.NewReader(b)
	default:
		body = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, fx.tc.URL+path, body)
	if _, ok := r.body.(url.Values); ok {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method != "GET" && method != "HEAD" {
		req.Header.Set("Origin", fx.tc.URL)
		if p.csrf != "" {
			req.Header.Set("X-CSRF-Token", p.csrf)
		}
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if r.stream && strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		res.Body.Close() // open: it would not end
		return res.StatusCode, "", ""
	}
	pg := controllertest.ReadPage(t, res)
	return pg.Status, pg.Location, pg.Body
}

// fill replaces the placeholders of r.path, making fresh ones as asked.
func (fx *rbacFixture) fill(t *testing.T, p *principal, r rbacRoute) (string, map[string]string) {
	t.Helper()
	ids := map[string]string{
		"home": fx.home, "away": fx.away, "member": fx.member, "role": fx.readerRole, "server": fx.server,
		"image": fx.image, "flavor": fx.flavor, "request": fx.request, "victimUser": fx.victimUser,
		"victimProj": fx.victimProj, "portalUser": fx.portalUser, "portalProj": fx.portalProj,
		"victimRole": fx.victimRole, "victimFlav": fx.victimFlav, "portalFlav": fx.portalFlav, "publicImage": fx.publicImage,
		"keypair": "rbac-key",
	}
	for k, v := range fx.net {
		ids[k] = v
	}
	for _, name := range r.fresh {
		ids[name] = fx.make(t, name)
	}
	path := r.path
	for k, v := range ids {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	if strings.Contains(path, "{") {
		t.Fatalf("unfilled placeholder in %s", path)
	}
	return path, ids
}

// make creates a resource of home a route may use up.
func (fx *rbacFixture) make(t *testing.T, what string) string {
	t.Helper()
	tc := fx.tc
	fx.n++
	switch what {
	case "server":
		r := tc.CreateServer(t, fx.admin, map[string]any{"name": fmt.Sprintf("victim-%d", fx.n), "flavorRef": "1", "imageRef": fx.publicImage})
		if r.Status != 202 {
			t.Fatalf("victim server: %d %s", r.Status, r.Body)
		}
		id := r.JSON(t)["server"].(map[string]any)["id"].(string)
		// The admin made it in its own project; move it to home.
		if _, err := tc.Server.Pool().Exec(context.Background(), `UPDATE instances SET project_id = $1 WHERE id = $2`, fx.home, id); err != nil {
			t.Fatal(err)
		}
		return id
	case "image":
		return fx.homeImage(t, fmt.Sprintf("victim-%d", fx.n))
	case "group":
		// As home's member, with home's group quota lifted: every call
		// uses one up.
		tc.Do(t, "PUT", "/compute/v2.1/os-quota-sets/"+fx.home, fx.admin, map[string]any{"quota_set": map[string]any{"server_groups": -1}})
		member := tc.Token(t, "rbac-member", "member-pw-1", "home")
		r := tc.Do(t, "POST", "/compute/v2.1/os-server-groups", member,
			map[string]any{"server_group": map[string]any{"name": fmt.Sprintf("victim-%d", fx.n), "policies": []string{"affinity"}}})
		if r.Status != 200 {
			t.Fatalf("victim group: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)["server_group"].(map[string]any)["id"].(string)
	case "aggregate":
		r := tc.Do(t, "POST", "/compute/v2.1/os-aggregates", fx.admin,
			map[string]any{"aggregate": map[string]any{"name": fmt.Sprintf("victim-%d", fx.n)}})
		if r.Status != 200 {
			t.Fatalf("victim aggregate: %d %s", r.Status, r.Body)
		}
		return strconv.Itoa(int(r.JSON(t)["aggregate"].(map[string]any)["id"].(float64)))
	case "keypair":
		name := fmt.Sprintf("victim-key-%d", fx.n)
		member := tc.Token(t, "rbac-member", "member-pw-1", "home")
		if r := tc.Do(t, "POST", "/compute/v2.1/os-keypairs", member, map[string]any{"keypair": map[string]any{"name": name}}); r.Status != 200 && r.Status != 201 {
			t.Fatalf("victim key pair: %d %s", r.Status, r.Body)
		}
		return name
	}
	if id := fx.makeNetworking(t, what); id != "" {
		return id
	}
	if id := fx.makeVolumes(t, what); id != "" {
		return id
	}
	t.Fatalf("cannot make %s", what)
	return ""
}

func (fx *rbacFixture) homeImage(t *testing.T, name string) string {
	member := fx.tc.Token(t, "rbac-member", "member-pw-1", "home")
	return fx.tc.CreateImage(t, member, map[string]any{"name": name, "disk_format": "raw", "container_format": "bare"})["id"].(string)
}

// setup makes projects home and away, their users, and the resources the
// routes name.
func (fx *rbacFixture) setup(t *testing.T) {
	tc, admin := fx.tc, fx.admin
	project := func(name string) string {
		r := tc.Do(t, "POST", "/identity/v3/projects", admin, map[string]any{"project": map[string]any{"name": name}})
		if r.Status != 201 {
			t.Fatalf("create project %s: %d %s", name, r.Status, r.Body)
		}
		return r.JSON(t)["project"].(map[string]any)["id"].(string)
	}
	roleID := func(name string) string {
		return tc.Do(t, "GET", "/identity/v3/roles?name="+name, admin, nil).JSON(t)["roles"].([]any)[0].(map[string]any)["id"].(string)
	}
	user := func(name, pw, project, role string) string {
		r := tc.Do(t, "POST", "/identity/v3/users", admin, map[string]any{"user": map[string]any{"name": name, "password": pw, "default_project_id": project}})
		if r.Status != 201 {
			t.Fatalf("create user %s: %d %s", name, r.Status, r.Body)
		}
		id := r.JSON(t)["user"].(map[string]any)["id"].(string)
		if role != "" {
			if g := tc.Do(t, "PUT", "/identity/v3/projects/"+project+"/users/"+id+"/roles/"+roleID(role), admin, nil); g.Status != 204 {
				t.Fatalf("grant %s to %s: %d %s", role, name, g.Status, g.Body)
			}
		}
		return id
	}
	fx.home, fx.away = project("home"), project("away")
	fx.readerRole = roleID("reader")
	user("rbac-reader", "reader-pw-1", fx.home, "reader")
	fx.member = user("rbac-member", "member-pw-1", fx.home, "member")
	user("rbac-away", "away-pw-1", fx.away, "member")
	fx.victimProj, fx.portalProj = project("victim"), project("portal-victim")
	fx.victimUser = user("rbac-victim", "victim-pw-1", fx.victimProj, "reader")
	fx.portalUser = user("rbac-portal-victim", "victim-pw-1", fx.portalProj, "")
	r := tc.Do(t, "POST", "/identity/v3/roles", admin, map[string]any{"role": map[string]any{"name": "victim-role"}})
	fx.victimRole = r.JSON(t)["role"].(map[string]any)["id"].(string)
	flavor := func(name string) string {
		r := tc.Do(t, "POST", "/compute/v2.1/flavors", admin, map[string]any{"flavor": map[string]any{"name": name, "ram": 64, "vcpus": 1, "disk": 1}})
		if r.Status != 200 {
			t.Fatalf("create flavor %s: %d %s", name, r.Status, r.Body)
		}
		return r.JSON(t)["flavor"].(map[string]any)["id"].(string)
	}
	fx.victimFlav, fx.portalFlav, fx.flavor = flavor("victim"), flavor("portal-victim"), "1"
	if q := tc.Do(t, "PUT", "/compute/v2.1/os-quota-sets/"+fx.home, admin, map[string]any{"quota_set": map[string]any{"instances": 100, "cores": 200, "ram": 1 << 20}}); q.Status != 200 {
		t.Fatalf("home quota: %d %s", q.Status, q.Body)
	}
	fx.publicImage = tc.ActiveImage(t)
	fx.image = fx.homeImage(t, "home-image")
	member := tc.Token(t, "rbac-member", "member-pw-1", "home")
	if r := tc.Do(t, "POST", "/compute/v2.1/os-keypairs", member, map[string]any{"keypair": map[string]any{"name": "rbac-key"}}); r.Status != 200 && r.Status != 201 {
		t.Fatalf("key pair: %d %s", r.Status, r.Body)
	}
	s := tc.CreateServer(t, member, map[string]any{"name": "home-server", "flavorRef": "1", "imageRef": fx.publicImage})
	if s.Status != 202 {
		t.Fatalf("home server: %d %s", s.Status, s.Body)
	}
	fx.server = s.JSON(t)["server"].(map[string]any)["id"].(string)
	acts := tc.Do(t, "GET", "/compute/v2.1/servers/"+fx.server+"/os-instance-actions", member, nil).JSON(t)["instanceActions"].([]any)
	fx.request = acts[0].(map[string]any)["request_id"].(string)
	fx.setupNetworking(t)
	fx.setupVolumes(t)
}

func (fx *rbacFixture) principals(t *testing.T) []*principal {
	ps := []*principal{
		{name: "anonymous"},
		{name: "reader", user: "rbac-reader", pwd: "reader-pw-1"},
		{name: "member", user: "rbac-member", pwd: "member-pw-1"},
		{name: "other-project member", user: "rbac-away", pwd: "away-pw-1"},
		{name: "admin", user: "admin", pwd: fx.tc.AdminPass},
	}
	for _, p := range ps[1:] {
		fx.login(t, p)
	}
	return ps
}

// login gives p a fresh API token and portal session.
func (fx *rbacFixture) login(t *testing.T, p *principal) {
	t.Helper()
	r := fx.tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth(p.user, p.pwd, ""))
	if r.Status != 201 {
		t.Fatalf("token for %s: %d %s", p.user, r.Status, r.Body)
	}
	p.token = r.Header.Get("X-Subject-Token")
	tok, err := fx.tc.Server.Identity().Validate(context.Background(), p.token)
	if err != nil || tok.ProjectID == "" {
		t.Fatalf("token for %s: %v (project %q)", p.user, err, tok.ProjectID)
	}
	p.tok = tok
	p.portal = fx.tc.NewFormClient(t)
	p.csrf = controllertest.CSRFOf(t, p.portal.Login(p.user, p.pwd))
}

// rbacRoutes is the matrix: one entry per route (HEAD follows GET).
func rbacRoutes() map[string]rbacRoute {
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	js := func(k string, v any) map[string]any { return map[string]any{k: v} }
	mv226 := []string{"OpenStack-API-Version", "compute 2.26"} // where the server tag routes begin
	return map[string]rbacRoute{
		"GET /healthz": {op: opPublic, path: "/healthz", health: true},
		// Prometheus scrapes without a token; loopback (every principal here) may.
		"GET /metrics":    {op: opPublic, path: "/metrics"},
		"GET /":           {op: opPublic, path: "/"},
		"GET /auth/login": {op: opPublic, path: "/auth/login"},
		// Without the form's CSRF pair every sign-in is refused; the
		// refusal is the CSRF check's, not the policy table's.
		"POST /auth/login":  {op: opPublic, path: "/auth/login", body: form("username", "x", "password", "y")},
		"POST /auth/logout": {op: opToken, path: "/auth/logout", relogin: true},
		// The language switcher: anyone (signed out it sets a cookie).
		"POST /lang":        {op: opPublic, path: "/lang", body: form("lang", "en")},
		"POST /auth/switch": {op: opToken, path: "/auth/switch", body: form("project_id", "{home}"), relogin: true},

		// Identity v3.
		"GET /identity":                                           {op: opPublic, path: "/identity"},
		"GET /identity/":                                          {op: opPublic, path: "/identity/"},
		"GET /identity/v3/":                                       {op: opPublic, path: "/identity/v3/"},
		"POST /identity/v3/auth/tokens":                           {op: opPublic, path: "/identity/v3/auth/tokens", body: controllertest.PasswordAuth("rbac-member", "member-pw-1", "")},
		"GET /identity/v3/auth/tokens":                            {op: policy.ValidateToken, on: "member", path: "/identity/v3/auth/tokens"},
		"DELETE /identity/v3/auth/tokens":                         {op: policy.RevokeToken, on: "member", path: "/identity/v3/auth/tokens"},
		"GET /identity/v3/auth/projects":                          {op: opToken, path: "/identity/v3/auth/projects"},
		"GET /identity/v3/auth/domains":                           {op: opToken, path: "/identity/v3/auth/domains"},
		"GET /identity/v3/auth/catalog":                           {op: opToken, path: "/identity/v3/auth/catalog"},
		"GET /identity/v3/projects":                               {op: policy.ListProjects, path: "/identity/v3/projects"},
		"POST /identity/v3/projects":                              {op: policy.CreateProject, path: "/identity/v3/projects", body: js("project", map[string]any{"name": "made-by-rbac"})},
		"GET /identity/v3/projects/:id":                           {op: policy.GetProject, on: "home", path: "/identity/v3/projects/{home}"},
		"PATCH /identity/v3/projects/:id":                         {op: policy.UpdateProject, path: "/identity/v3/projects/{victimProj}", body: js("project", map[string]any{"description": "x"})},
		"DELETE /identity/v3/projects/:id":                        {op: policy.DeleteProject, path: "/identity/v3/projects/{victimProj}"},
		"GET /identity/v3/projects/:pid/users/:uid/roles":         {op: policy.ListGrants, path: "/identity/v3/projects/{home}/users/{member}/roles"},
		"GET /identity/v3/projects/:pid/users/:uid/roles/:rid":    {op: policy.CheckGrant, path: "/identity/v3/projects/{home}/users/{member}/roles/{role}"},
		"PUT /identity/v3/projects/:pid/users/:uid/roles/:rid":    {op: policy.CreateGrant, path: "/identity/v3/projects/{portalProj}/users/{victimUser}/roles/{role}"},
		"DELETE /identity/v3/projects/:pid/users/:uid/roles/:rid": {op: policy.RevokeGrant, path: "/identity/v3/projects/{portalProj}/users/{victimUser}/roles/{role}"},
		"GET /identity/v3/users":                                  {op: policy.ListUsers, path: "/identity/v3/users"},
		"POST /identity/v3/users":                                 {op: policy.CreateUser, path: "/identity/v3/users", body: js("user", map[string]any{"name": "made-by-rbac", "password": "pw-123456"})},
		"GET /identity/v3/users/:id":                              {op: policy.GetUser, on: "member", path: "/identity/v3/users/{member}", deny: 404},
		"PATCH /identity/v3/users/:id":                            {op: policy.UpdateUser, on: "victim", path: "/identity/v3/users/{victimUser}", body: js("user", map[string]any{"description": "x"})},
		"DELETE /identity/v3/users/:id":                           {op: policy.DeleteUser, on: "victim", path: "/identity/v3/users/{victimUser}"},
		"POST /identity/v3/users/:id/password":                    {op: policy.ChangePassword, on: "victim", path: "/identity/v3/users/{victimUser}/password", body: js("user", map[string]any{"password": "new-pw-123", "original_password": "victim-pw-1"})},
		"GET /identity/v3/users/:id/projects":                     {op: policy.ListUserProjects, on: "member", path: "/identity/v3/users/{member}/projects"},
		"GET /identity/v3/roles":                                  {op: policy.ListRoles, path: "/identity/v3/roles"},
		"POST /identity/v3/roles":                                 {op: policy.CreateRole, path: "/identity/v3/roles", body: js("role", map[string]any{"name": "made-by-rbac"})},
		"GET /identity/v3/roles/:id":                              {op: policy.GetRole, path: "/identity/v3/roles/{role}"},
		"PATCH /identity/v3/roles/:id":                            {op: policy.UpdateRole, path: "/identity/v3/roles/{victimRole}", body: js("role", map[string]any{"name": "victim-role-2"})},
		"DELETE /identity/v3/roles/:id":                           {op: policy.DeleteRole, path: "/identity/v3/roles/{victimRole}"},
		"GET /identity/v3/domains":                                {op: policy.ListDomains, path: "/identity/v3/domains"},
		"GET /identity/v3/domains/:id":                            {op: policy.GetDomain, on: "domain", path: "/identity/v3/domains/default"},
		"GET /identity/v3/role_assignments":                       {op: policy.ListAssignments, path: "/identity/v3/role_assignments"},

		// Glance v2. Reading is by visibility: a project's private image
		// is its readers' (and the admin's), hidden from others.
		"GET /image":                        {op: opPublic, path: "/image"},
		"GET /image/":                       {op: opPublic, path: "/image/"},
		"GET /image/versions":               {op: opPublic, path: "/image/versions"},
		"GET /image/nimbus/download/:id":    {op: opPublic, path: "/image/nimbus/download/{image}"},    // agents' one-use URL, checked by its own token
		"PUT /image/nimbus/upload/:id/file": {op: opPublic, path: "/image/nimbus/upload/{image}/file"}, // agents' signed snapshot upload
		"PUT /image/nimbus/disks/:id/file":  {op: opPublic, path: "/image/nimbus/disks/{image}/file"},  // agents' signed move relay
		"GET /image/nimbus/disks/:id/file":  {op: opPublic, path: "/image/nimbus/disks/{image}/file"},
		"GET /image/v2/images":              {op: policy.ListImages, on: "own", path: "/image/v2/images"},
		"POST /image/v2/images":             {op: policy.AddImage, on: "own", path: "/image/v2/images", body: map[string]any{"name": "made-by-rbac", "disk_format": "raw", "container_format": "bare"}},
		"GET /image/v2/images/:id":          {op: policy.ListImages, on: "home", path: "/image/v2/images/{image}"},
		"PATCH /image/v2/images/:id":        {op: policy.ModifyImage, on: "home", path: "/image/v2/images/{image}", body: `[{"op":"replace","path":"/name","value":"renamed"}]`},
		"DELETE /image/v2/images/:id":       {op: policy.DeleteImage, on: "home", path: "/image/v2/images/{image}", fresh: []string{"image"}},
		"PUT /image/v2/images/:id/file":     {op: policy.UploadImage, on: "home", path: "/image/v2/images/{image}/file", fresh: []string{"image"}},
		"GET /image/v2/images/:id/file":     {op: policy.ListImages, on: "home", path: "/image/v2/images/{image}/file"},

		// Nova v2.1.
		"GET /compute":                                           {op: opPublic, path: "/compute"},
		"GET /compute/":                                          {op: opPublic, path: "/compute/"},
		"GET /compute/v2.1/":                                     {op: opPublic, path: "/compute/v2.1/"},
		"GET /compute/v2.1/flavors":                              {op: policy.ListFlavors, on: "own", path: "/compute/v2.1/flavors"},
		"GET /compute/v2.1/flavors/detail":                       {op: policy.ListFlavors, on: "own", path: "/compute/v2.1/flavors/detail"},
		"POST /compute/v2.1/flavors":                             {op: policy.ManageFlavors, path: "/compute/v2.1/flavors", body: js("flavor", map[string]any{"name": "made-by-rbac", "ram": 64, "vcpus": 1, "disk": 1})},
		"GET /compute/v2.1/flavors/:id":                          {op: policy.ListFlavors, on: "own", path: "/compute/v2.1/flavors/{flavor}"},
		"PUT /compute/v2.1/flavors/:id":                          {op: policy.ManageFlavors, path: "/compute/v2.1/flavors/{victimFlav}", body: js("flavor", map[string]any{"description": "x"}), hdr: []string{"OpenStack-API-Version", "compute 2.55"}},
		"DELETE /compute/v2.1/flavors/:id":                       {op: policy.ManageFlavors, path: "/compute/v2.1/flavors/{victimFlav}"},
		"GET /compute/v2.1/flavors/:id/os-extra_specs":           {op: policy.ListFlavors, on: "own", path: "/compute/v2.1/flavors/{flavor}/os-extra_specs"},
		"POST /compute/v2.1/flavors/:id/os-extra_specs":          {op: policy.ManageFlavors, path: "/compute/v2.1/flavors/{victimFlav}/os-extra_specs", body: js("extra_specs", map[string]any{"hw:cpu_policy": "shared"})},
		"GET /compute/v2.1/flavors/:id/os-extra_specs/:key":      {op: policy.ListFlavors, on: "own", path: "/compute/v2.1/flavors/{flavor}/os-extra_specs/nope"},
		"PUT /compute/v2.1/flavors/:id/os-extra_specs/:key":      {op: policy.ManageFlavors, path: "/compute/v2.1/flavors/{victimFlav}/os-extra_specs/hw:cpu_policy", body: map[string]any{"hw:cpu_policy": "dedicated"}},
		"DELETE /compute/v2.1/flavors/:id/os-extra_specs/:key":   {op: policy.ManageFlavors, path: "/compute/v2.1/flavors/{victimFlav}/os-extra_specs/hw:cpu_policy"},
		"GET /compute/v2.1/flavors/:id/os-flavor-access":         {op: policy.ManageFlavorAccess, path: "/compute/v2.1/flavors/{victimFlav}/os-flavor-access"},
		"POST /compute/v2.1/flavors/:id/action":                  {op: policy.ManageFlavorAccess, path: "/compute/v2.1/flavors/{victimFlav}/action", body: js("addTenantAccess", map[string]any{"tenant": "{away}"})},
		"POST /compute/v2.1/servers":                             {op: policy.CreateServer, on: "own", path: "/compute/v2.1/servers", body: js("server", map[string]any{"name": "made-by-rbac", "flavorRef": "1", "imageRef": "00000000-0000-4000-8000-000000000000"})},
		"GET /compute/v2.1/servers":                              {op: policy.ListServers, on: "own", path: "/compute/v2.1/servers"},
		"GET /compute/v2.1/servers/detail":                       {op: policy.ListServers, on: "own", path: "/compute/v2.1/servers/detail"},
		"GET /compute/v2.1/servers/:id":                          {op: policy.GetServer, on: "home", path: "/compute/v2.1/servers/{server}"},
		"PUT /compute/v2.1/servers/:id":                          {op: policy.UpdateServer, on: "home", path: "/compute/v2.1/servers/{server}", body: js("server", map[string]any{"name": "renamed"})},
		"DELETE /compute/v2.1/servers/:id":                       {op: policy.DeleteServer, on: "home", path: "/compute/v2.1/servers/{server}", fresh: []string{"server"}},
		"POST /compute/v2.1/servers/:id/action":                  {op: policy.ServerAction, on: "home", path: "/compute/v2.1/servers/{server}/action", body: js("os-stop", nil)},
		"POST /compute/v2.1/servers/:id/remote-consoles":         {op: policy.RemoteConsole, on: "home", path: "/compute/v2.1/servers/{server}/remote-consoles", body: js("remote_console", map[string]any{"protocol": "vnc", "type": "novnc"})},
		"GET /compute/v2.1/os-simple-tenant-usage":               {op: policy.ListUsage, path: "/compute/v2.1/os-simple-tenant-usage?detailed=1"},
		"GET /compute/v2.1/os-simple-tenant-usage/:tenant":       {op: policy.ShowUsage, on: "home", path: "/compute/v2.1/os-simple-tenant-usage/{home}"},
		"GET /compute/v2.1/servers/:id/diagnostics":              {op: policy.ServerDiagnostics, path: "/compute/v2.1/servers/{server}/diagnostics"},
		"GET /compute/v2.1/servers/:id/os-instance-actions":      {op: policy.GetServer, on: "home", path: "/compute/v2.1/servers/{server}/os-instance-actions"},
		"GET /compute/v2.1/servers/:id/os-instance-actions/:req": {op: policy.GetServer, on: "home", path: "/compute/v2.1/servers/{server}/os-instance-actions/{request}"},
		"GET /compute/v2.1/servers/:id/metadata":                 {op: policy.ListServerMetadata, on: "home", path: "/compute/v2.1/servers/{server}/metadata"},
		"POST /compute/v2.1/servers/:id/metadata":                {op: policy.CreateServerMetadata, on: "home", path: "/compute/v2.1/servers/{server}/metadata", body: js("metadata", map[string]any{"k": "v"})},
		"PUT /compute/v2.1/servers/:id/metadata":                 {op: policy.ReplaceServerMetadata, on: "home", path: "/compute/v2.1/servers/{server}/metadata", body: js("metadata", map[string]any{"k": "v"})},
		"GET /compute/v2.1/servers/:id/metadata/:key":            {op: policy.ShowServerMetadata, on: "home", path: "/compute/v2.1/servers/{server}/metadata/k"},
		"PUT /compute/v2.1/servers/:id/metadata/:key":            {op: policy.UpdateServerMetadata, on: "home", path: "/compute/v2.1/servers/{server}/metadata/k", body: js("meta", map[string]any{"k": "v"})},
		"DELETE /compute/v2.1/servers/:id/metadata/:key":         {op: policy.DeleteServerMetadata, on: "home", path: "/compute/v2.1/servers/{server}/metadata/k"},
		"GET /compute/v2.1/servers/:id/tags":                     {op: policy.ListServerTags, on: "home", path: "/compute/v2.1/servers/{server}/tags", hdr: mv226},
		"PUT /compute/v2.1/servers/:id/tags":                     {op: policy.ReplaceServerTags, on: "home", path: "/compute/v2.1/servers/{server}/tags", body: js("tags", []string{"t"}), hdr: mv226},
		"DELETE /compute/v2.1/servers/:id/tags":                  {op: policy.DeleteServerTags, on: "home", path: "/compute/v2.1/servers/{server}/tags", hdr: mv226},
		"GET /compute/v2.1/servers/:id/tags/:tag":                {op: policy.ShowServerTag, on: "home", path: "/compute/v2.1/servers/{server}/tags/t", hdr: mv226},
		"PUT /compute/v2.1/servers/:id/tags/:tag":                {op: policy.AddServerTag, on: "home", path: "/compute/v2.1/servers/{server}/tags/t", hdr: mv226},
		"DELETE /compute/v2.1/servers/:id/tags/:tag":             {op: policy.DeleteServerTag, on: "home", path: "/compute/v2.1/servers/{server}/tags/t", hdr: mv226},
		"GET /compute/v2.1/limits":                               {op: policy.ListServers, on: "own", path: "/compute/v2.1/limits"},
		"GET /compute/v2.1/os-quota-sets/:project":               {op: policy.ListServers, on: "home", path: "/compute/v2.1/os-quota-sets/{home}", deny: 403},
		"GET /compute/v2.1/os-quota-sets/:project/detail":        {op: policy.ListServers, on: "home", path: "/compute/v2.1/os-quota-sets/{home}/detail", deny: 403},
		"GET /compute/v2.1/os-quota-sets/:project/defaults":      {op: opToken, path: "/compute/v2.1/os-quota-sets/{home}/defaults"},
		"PUT /compute/v2.1/os-quota-sets/:project":               {op: policy.ManageQuotas, path: "/compute/v2.1/os-quota-sets/{away}", body: js("quota_set", map[string]any{"instances": 20})},
		"DELETE /compute/v2.1/os-quota-sets/:project":            {op: policy.ManageQuotas, path: "/compute/v2.1/os-quota-sets/{away}"},
		"GET /compute/v2.1/os-server-groups":                     {op: policy.ListServerGroups, on: "own", path: "/compute/v2.1/os-server-groups"},
		"POST /compute/v2.1/os-server-groups":                    {op: policy.CreateServerGroup, on: "own", path: "/compute/v2.1/os-server-groups", body: js("server_group", map[string]any{"name": "rbac", "policies": []string{"affinity"}})},
		"GET /compute/v2.1/os-server-groups/:id":                 {op: policy.ShowServerGroup, on: "home", path: "/compute/v2.1/os-server-groups/{group}", fresh: []string{"group"}, deny: 404},
		"DELETE /compute/v2.1/os-server-groups/:id":              {op: policy.DeleteServerGroup, on: "home", path: "/compute/v2.1/os-server-groups/{group}", fresh: []string{"group"}, deny: 404},
		"GET /compute/v2.1/os-hypervisors":                       {op: policy.ListHosts, path: "/compute/v2.1/os-hypervisors"},
		"GET /compute/v2.1/os-migrations":                        {op: policy.ListMigrations, path: "/compute/v2.1/os-migrations"},
		"GET /compute/v2.1/os-aggregates":                        {op: policy.ListAggregates, path: "/compute/v2.1/os-aggregates"},
		"POST /compute/v2.1/os-aggregates":                       {op: policy.ManageAggregates, path: "/compute/v2.1/os-aggregates", body: js("aggregate", map[string]any{"name": "rbac-{n}"})},
		"GET /compute/v2.1/os-aggregates/:id":                    {op: policy.ListAggregates, path: "/compute/v2.1/os-aggregates/{aggregate}", fresh: []string{"aggregate"}},
		"PUT /compute/v2.1/os-aggregates/:id":                    {op: policy.ManageAggregates, path: "/compute/v2.1/os-aggregates/{aggregate}", fresh: []string{"aggregate"}, body: js("aggregate", map[string]any{"availability_zone": "rbac"})},
		"DELETE /compute/v2.1/os-aggregates/:id":                 {op: policy.ManageAggregates, path: "/compute/v2.1/os-aggregates/{aggregate}", fresh: []string{"aggregate"}},
		"POST /compute/v2.1/os-aggregates/:id/action":            {op: policy.ManageAggregates, path: "/compute/v2.1/os-aggregates/{aggregate}/action", fresh: []string{"aggregate"}, body: map[string]any{"set_metadata": map[string]any{"metadata": map[string]any{"k": "v"}}}},
		"GET /compute/v2.1/servers/:id/migrations":               {op: policy.ListMigrations, on: "home", path: "/compute/v2.1/servers/{server}/migrations"},
		"GET /compute/v2.1/os-hypervisors/detail":                {op: policy.ListHosts, path: "/compute/v2.1/os-hypervisors/detail"},
		"GET /compute/v2.1/os-hypervisors/statistics":            {op: policy.ListHosts, path: "/compute/v2.1/os-hypervisors/statistics"},
		"GET /compute/v2.1/os-hypervisors/:id":                   {op: policy.ListHosts, path: "/compute/v2.1/os-hypervisors/1"},
		"GET /compute/v2.1/os-hypervisors/:id/search":            {op: policy.ListHosts, path: "/compute/v2.1/os-hypervisors/sim/search"},
		"GET /compute/v2.1/os-hypervisors/:id/servers":           {op: policy.ListHosts, path: "/compute/v2.1/os-hypervisors/sim/servers"},
		"GET /compute/v2.1/os-services":                          {op: policy.ListHosts, path: "/compute/v2.1/os-services"},
		"PUT /compute/v2.1/os-services/:action":                  {op: policy.ManageHosts, path: "/compute/v2.1/os-services/disable", body: map[string]any{"host": "nohost", "binary": "nova-compute"}},
		"GET /compute/v2.1/os-availability-zone":                 {op: policy.ListServers, on: "own", path: "/compute/v2.1/os-availability-zone"},
		"GET /compute/v2.1/os-availability-zone/detail":          {op: policy.ZoneDetail, path: "/compute/v2.1/os-availability-zone/detail"},
		"GET /compute/v2.1/os-keypairs":                          {op: opToken, path: "/compute/v2.1/os-keypairs"},
		"POST /compute/v2.1/os-keypairs":                         {op: opToken, path: "/compute/v2.1/os-keypairs", body: js("keypair", map[string]any{"name": "made-by-rbac"})},
		"GET /compute/v2.1/os-keypairs/:name":                    {op: opToken, path: "/compute/v2.1/os-keypairs/{keypair}"},
		"DELETE /compute/v2.1/os-keypairs/:name":                 {op: opToken, path: "/compute/v2.1/os-keypairs/{keypair}", fresh: []string{"keypair"}},

		// The portal: project pages are a project reader's, changes a
		// member's, the admin pages the admin's.
		"GET /project":                  {op: policy.ViewProject, on: "own", path: "/project"},
		"GET /project/":                 {op: policy.ViewProject, on: "own", path: "/project/"},
		"GET /project/instances":        {op: policy.ViewProject, on: "own", path: "/project/instances"},
		"GET /project/instances/rows":   {op: policy.ViewProject, on: "own", path: "/project/instances/rows"},
		"GET /project/instances/launch": {op: policy.ViewProject, on: "own", path: "/project/instances/launch"}, // the form; launching is the POST
		// Each selected instance is checked as its own button would be; the
		// request itself answers every signed-in user with per-row results.
		"POST /project/instances/bulk":                     {op: opToken, path: "/project/instances/bulk", body: form("action", "lock", "id", "{server}")},
		"POST /project/images/bulk":                        {op: opToken, path: "/project/images/bulk", body: form("action", "delete", "id", "00000000-0000-4000-8000-000000000000")},
		"POST /project/instances":                          {op: policy.CreateServer, on: "own", path: "/project/instances", body: form("name", "made-by-rbac", "flavor", "1", "image", "{publicImage}", "count", "1")},
		"GET /project/instances/:id":                       {op: policy.GetServer, on: "home", path: "/project/instances/{server}"},
		"GET /project/instances/:id/console":               {op: policy.GetServer, on: "home", path: "/project/instances/{server}/console"}, // the page; its token is the POST
		"POST /project/instances/:id/console-token":        {op: policy.RemoteConsole, on: "home", path: "/project/instances/{server}/console-token"},
		"GET /project/usage":                               {op: policy.ShowUsage, on: "own", path: "/project/usage"},
		"GET /project/usage.csv":                           {op: policy.ShowUsage, on: "own", path: "/project/usage.csv"},
		"GET /admin/usage":                                 {op: policy.ListUsage, path: "/admin/usage"},
		"GET /admin/usage.csv":                             {op: policy.ListUsage, path: "/admin/usage.csv"},
		"GET /project/instances/:id/stats":                 {op: policy.GetServer, on: "home", path: "/project/instances/{server}/stats"},
		"GET /project/instances/:id/log":                   {op: policy.ConsoleOutput, on: "home", path: "/project/instances/{server}/log"},
		"GET /project/instances/:id/log/stream":            {op: policy.ConsoleOutput, on: "home", path: "/project/instances/{server}/log/stream?offset=0", stream: true},
		"GET /project/events":                              {op: policy.ViewProject, on: "own", path: "/project/events", stream: true},
		"POST /project/instances/:id/:action":              {op: policy.DeleteServer, on: "home", path: "/project/instances/{server}/delete", fresh: []string{"server"}},
		"POST /project/instances/:id/snapshot":             {op: policy.ServerAction, on: "home", path: "/project/instances/{server}/snapshot", body: url.Values{"name": {"rbac-snap"}}},
		"POST /project/instances/:id/rebuild":              {op: policy.ServerAction, on: "home", path: "/project/instances/{server}/rebuild", body: url.Values{"image": {"no-such-image"}}},
		"POST /project/instances/:id/resize":               {op: policy.ServerAction, on: "home", path: "/project/instances/{server}/resize", body: url.Values{"flavor": {"no-such-flavor"}}},
		"POST /project/instances/:id/metadata":             {op: policy.UpdateServerMetadata, on: "home", path: "/project/instances/{server}/metadata", body: url.Values{"key": {"rbac"}, "value": {"v"}}},
		"POST /project/instances/:id/metadata/:key/delete": {op: policy.DeleteServerMetadata, on: "home", path: "/project/instances/{server}/metadata/nokey/delete"},
		"POST /project/instances/:id/tags":                 {op: policy.AddServerTag, on: "home", path: "/project/instances/{server}/tags", body: url.Values{"tag": {"rbac"}}},
		"POST /project/instances/:id/tags/:tag/delete":     {op: policy.DeleteServerTag, on: "home", path: "/project/instances/{server}/tags/notag/delete"},
		"GET /project/server_groups":                       {op: policy.ListServerGroups, on: "own", path: "/project/server_groups"},
		"POST /project/server_groups":                      {op: policy.CreateServerGroup, on: "own", path: "/project/server_groups", body: url.Values{"name": {"rbac"}, "policy": {"affinity"}}},
		"POST /project/server_groups/:id/delete":           {op: policy.DeleteServerGroup, on: "home", path: "/project/server_groups/{group}/delete", fresh: []string{"group"}, deny: 404},
		"GET /project/images":                              {op: policy.ViewProject, on: "own", path: "/project/images"},
		"GET /project/images/new":                          {op: policy.AddImage, on: "own", path: "/project/images/new"},
		"POST /project/images":                             {op: policy.AddImage, on: "own", path: "/project/images", body: form("name", "made-by-rbac", "disk_format", "raw", "visibility", "private")},
		"GET /project/images/:id/upload":                   {op: policy.UploadImage, on: "home", path: "/project/images/{image}/upload"},
		"PUT /project/images/:id/file":                     {op: policy.UploadImage, on: "home", path: "/project/images/{image}/file", fresh: []string{"image"}, body: "bytes"},
		"POST /project/images/:id/delete":                  {op: policy.DeleteImage, on: "home", path: "/project/images/{image}/delete", fresh: []string{"image"}},
		"POST /project/images/:id/visibility":              {op: policy.PublicizeImage, path: "/project/images/{image}/visibility", fresh: []string{"image"}, body: form("visibility", "public")},
		"GET /project/key_pairs":                           {op: policy.ViewProject, on: "own", path: "/project/key_pairs"},
		"GET /project/key_pairs/new":                       {op: policy.ViewProject, on: "own", path: "/project/key_pairs/new"},
		"POST /project/key_pairs":                          {op: policy.ViewProject, on: "own", path: "/project/key_pairs", body: form("name", "made-in-portal")},
		"GET /project/key_pairs/import":                    {op: policy.ViewProject, on: "own", path: "/project/key_pairs/import"},
		"POST /project/key_pairs/import":                   {op: policy.ViewProject, on: "own", path: "/project/key_pairs/import", body: form("name", "imported", "public_key", "not a key")},
		"POST /project/key_pairs/:name/delete":             {op: policy.ViewProject, on: "own", path: "/project/key_pairs/{keypair}/delete", fresh: []string{"keypair"}},
		"GET /project/api_access/openrc":                   {op: policy.ViewProject, on: "own", path: "/project/api_access/openrc"},
		"GET /admin/projects":                              {op: policy.ViewAdmin, path: "/admin/projects"},
		"GET /admin/projects/new":                          {op: policy.ViewAdmin, path: "/admin/projects/new"},
		"POST /admin/projects":                             {op: policy.ViewAdmin, path: "/admin/projects", body: form("name", "made-in-portal")},
		"GET /admin/projects/:id/edit":                     {op: policy.ViewAdmin, path: "/admin/projects/{portalProj}/edit"},
		"POST /admin/projects/:id":                         {op: policy.ViewAdmin, path: "/admin/projects/{portalProj}", body: form("name", "portal-victim", "description", "x")},
		"POST /admin/projects/:id/enable":                  {op: policy.ViewAdmin, path: "/admin/projects/{portalProj}/enable"},
		"POST /admin/projects/:id/disable":                 {op: policy.ViewAdmin, path: "/admin/projects/{portalProj}/disable"},
		"POST /admin/projects/:id/delete":                  {op: policy.ViewAdmin, path: "/admin/projects/{portalProj}/delete"},
		"GET /admin/projects/:id/members":                  {op: policy.ViewAdmin, path: "/admin/projects/{home}/members"},
		"POST /admin/projects/:id/members":                 {op: policy.ViewAdmin, path: "/admin/projects/{home}/members", body: form("user_id", "{portalUser}", "role_id", "{role}")},
		"POST /admin/projects/:id/members/remove":          {op: policy.ViewAdmin, path: "/admin/projects/{home}/members/remove", body: form("user_id", "{portalUser}", "role_id", "{role}")},
		"GET /admin/users":                                 {op: policy.ViewAdmin, path: "/admin/users"},
		"GET /admin/users/new":                             {op: policy.ViewAdmin, path: "/admin/users/new"},
		"POST /admin/users":                                {op: policy.ViewAdmin, path: "/admin/users", body: form("name", "made-in-portal", "password", "pw-123456")},
		"GET /admin/users/:id/edit":                        {op: policy.ViewAdmin, path: "/admin/users/{portalUser}/edit"},
		"POST /admin/users/:id":                            {op: policy.ViewAdmin, path: "/admin/users/{portalUser}", body: form("name", "rbac-portal-victim", "email", "")},
		"POST /admin/users/:id/enable":                     {op: policy.ViewAdmin, path: "/admin/users/{portalUser}/enable"},
		"POST /admin/users/:id/disable":                    {op: policy.ViewAdmin, path: "/admin/users/{portalUser}/disable"},
		"POST /admin/users/:id/delete":                     {op: policy.ViewAdmin, path: "/admin/users/{portalUser}/delete"},
		"GET /admin/quotas":                                {op: policy.ViewAdmin, path: "/admin/quotas"},
		"GET /admin/quotas/:id":                            {op: policy.ViewAdmin, path: "/admin/quotas/{away}"},
		"POST /admin/quotas/:id":                           {op: policy.ViewAdmin, path: "/admin/quotas/{away}", body: form("instances", "12")},
		"GET /admin/flavors":                               {op: policy.ViewAdmin, path: "/admin/flavors"},
		"GET /admin/instances":                             {op: policy.ViewAdmin, path: "/admin/instances"},
		"GET /admin/instances/rows":                        {op: policy.ViewAdmin, path: "/admin/instances/rows"},
		"GET /admin/flavors/new":                           {op: policy.ViewAdmin, path: "/admin/flavors/new"},
		"POST /admin/flavors":                              {op: policy.ViewAdmin, path: "/admin/flavors", body: form("name", "made-in-portal", "vcpus", "1", "ram", "64", "disk", "1")},
		"POST /admin/flavors/:id/delete":                   {op: policy.ViewAdmin, path: "/admin/flavors/{portalFlav}/delete"},
		"GET /admin/hypervisors":                           {op: policy.ViewAdmin, path: "/admin/hypervisors"},
		"GET /admin/aggregates":                            {op: policy.ViewAdmin, path: "/admin/aggregates"},
		"POST /admin/aggregates":                           {op: policy.ViewAdmin, path: "/admin/aggregates", body: url.Values{"name": {""}}},
		"POST /admin/aggregates/:id/delete":                {op: policy.ViewAdmin, path: "/admin/aggregates/{aggregate}/delete", fresh: []string{"aggregate"}},
		"POST /admin/aggregates/:id/hosts":                 {op: policy.ViewAdmin, path: "/admin/aggregates/{aggregate}/hosts", fresh: []string{"aggregate"}, body: url.Values{"host": {"nohost"}}},
		"POST /admin/aggregates/:id/hosts/:host/remove":    {op: policy.ViewAdmin, path: "/admin/aggregates/{aggregate}/hosts/nohost/remove", fresh: []string{"aggregate"}},
		"POST /admin/aggregates/:id/metadata":              {op: policy.ViewAdmin, path: "/admin/aggregates/{aggregate}/metadata", fresh: []string{"aggregate"}, body: url.Values{"key": {"k"}, "value": {"v"}}},
		"GET /admin/services":                              {op: policy.ViewAdmin, path: "/admin/services"},
		"POST /admin/services/:host/disable":               {op: policy.ViewAdmin, path: "/admin/services/nohost/disable"},
		"POST /admin/services/:host/enable":                {op: policy.ViewAdmin, path: "/admin/services/nohost/enable"},
	}
}
