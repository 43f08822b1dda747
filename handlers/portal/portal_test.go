package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// sessionCookie is the portal session cookie b holds for tc, or nil.
func sessionCookie(tc *controllertest.Cloud, b *controllertest.FormClient) *http.Cookie {
	u, _ := url.Parse(tc.URL)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == "nimbus_session" {
			return c
		}
	}
	return nil
}

func countSessions(t *testing.T, tc *controllertest.Cloud) int {
	t.Helper()
	keys, err := tc.Server.RDB().Keys(context.Background(), tc.Config.RedisPrefix+"session:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

func TestPortalLoginSessionLogout(t *testing.T) {
	tc := controllertest.New(t, nil)
	b := tc.NewFormClient(t)
	// Anonymous requests are sent to sign in and never create a session.
	for i := 0; i < 50; i++ {
		p := b.Get("/project/")
		if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, "/auth/login") {
			t.Fatalf("anonymous overview: got %d %q, want redirect to login", p.Status, p.Location)
		}
		b.Get("/auth/login")
	}
	if n := countSessions(t, tc); n != 0 {
		t.Fatalf("sessions after anonymous requests: got %d, want 0", n)
	}
	// Wrong password: the form again with an error, no session.
	lp := b.Get("/auth/login")
	p := b.Post("/auth/login", url.Values{"_csrf": {controllertest.CSRFOf(t, lp)}, "username": {"demo"}, "password": {"nope"}})
	if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, `data-testid="login-error"`) {
		t.Errorf("wrong password: got %d", p.Status)
	}
	over := b.Login("demo", tc.DemoPass)
	if over.Status != 200 || !strings.Contains(over.Body, `data-testid="overview-project">demo<`) {
		t.Fatalf("overview after login: got %d", over.Status)
	}
	if strings.Contains(over.Body, `data-testid="nav-admin-projects"`) {
		t.Error("a member sees the Admin navigation")
	}
	c := sessionCookie(tc, b)
	if c == nil {
		t.Fatal("no session cookie")
	}
	first := c.Value
	// Cookie flags, read from the raw header of a fresh login.
	b2 := tc.NewFormClient(t)
	lp = b2.Get("/auth/login")
	p = b2.Post("/auth/login", url.Values{"_csrf": {controllertest.CSRFOf(t, lp)}, "username": {"demo"}, "password": {tc.DemoPass}})
	setCookie := strings.Join(p.Header.Values("Set-Cookie"), "\n")
	for _, want := range []string{"nimbus_session=", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("session cookie lacks %q: %s", want, setCookie)
		}
	}
	if sessionCookie(tc, b2).Value == first {
		t.Error("two logins share a session id")
	}
	// Logout kills the session server-side: the old cookie no longer works.
	over = b.Get("/project/")
	p = b.Post("/auth/logout", url.Values{"_csrf": {controllertest.CSRFOf(t, over)}})
	if p.Status != http.StatusSeeOther || p.Location != "/auth/login" {
		t.Errorf("logout: got %d %q", p.Status, p.Location)
	}
	replay := tc.NewFormClient(t)
	u, _ := url.Parse(tc.URL)
	replay.Client.Jar.SetCookies(u, []*http.Cookie{{Name: "nimbus_session", Value: first}})
	if p := replay.Get("/project/"); p.Status != http.StatusFound {
		t.Errorf("old session cookie after logout: got %d, want redirect to login", p.Status)
	}
}

func TestPortalCSRF(t *testing.T) {
	tc := controllertest.New(t, nil)
	b := tc.NewFormClient(t)
	over := b.Login("admin", tc.AdminPass)
	tok := controllertest.CSRFOf(t, over)
	form := url.Values{"name": {"csrf-probe"}, "enabled": {"on"}}
	// No token.
	if p := b.Post("/admin/projects", form); p.Status != http.StatusForbidden {
		t.Errorf("POST without CSRF token: got %d, want 403", p.Status)
	}
	// Right token, foreign origin.
	form.Set("_csrf", tok)
	b.Origin = "http://evil.example"
	if p := b.Post("/admin/projects", form); p.Status != http.StatusForbidden {
		t.Errorf("POST from another origin: got %d, want 403", p.Status)
	}
	// Login form from another origin.
	lb := tc.NewFormClient(t)
	lp := lb.Get("/auth/login")
	lb.Origin = "http://evil.example"
	if p := lb.Post("/auth/login", url.Values{"_csrf": {controllertest.CSRFOf(t, lp)}, "username": {"demo"}, "password": {tc.DemoPass}}); p.Status != http.StatusForbidden {
		t.Errorf("cross-site login: got %d, want 403", p.Status)
	}
	// Nothing was created by the refused requests.
	admin := tc.AdminToken(t)
	if r := tc.Do(t, "GET", "/identity/v3/projects?name=csrf-probe", admin, nil); len(r.JSON(t)["projects"].([]any)) != 0 {
		t.Error("a refused request created a project")
	}
	b.Origin = tc.URL
	if p := b.Post("/admin/projects", form); p.Status != http.StatusSeeOther {
		t.Errorf("POST with token and origin: got %d, want 303", p.Status)
	}
	// GET never changes state: there is no GET route that deletes.
	if p := b.Get("/admin/projects/whatever/delete"); p.Status == http.StatusSeeOther {
		t.Error("a GET performed a delete")
	}
}

func TestPortalNextRedirect(t *testing.T) {
	tc := controllertest.New(t, nil)
	cases := map[string]string{
		"/admin/projects":        "/admin/projects",
		"https://evil.example/x": "/project/",
		"//evil.example/x":       "/project/",
		"/\\evil.example":        "/project/",
		"javascript:alert(1)":    "/project/",
		"/project/?a=1":          "/project/?a=1",
	}
	for next, want := range cases {
		b := tc.NewFormClient(t)
		lp := b.Get("/auth/login?next=" + url.QueryEscape(next))
		p := b.Post("/auth/login", url.Values{"_csrf": {controllertest.CSRFOf(t, lp)}, "username": {"admin"}, "password": {tc.AdminPass}, "next": {next}})
		if p.Location != want {
			t.Errorf("next=%q: redirected to %q, want %q", next, p.Location, want)
		}
	}
}

func TestPortalAdminPages(t *testing.T) {
	tc := controllertest.New(t, nil)
	b := tc.NewFormClient(t)
	over := b.Login("admin", tc.AdminPass)
	tok := controllertest.CSRFOf(t, over)
	// A member is refused the admin pages with a plain 403 page.
	d := tc.NewFormClient(t)
	d.Login("demo", tc.DemoPass)
	if p := d.Get("/admin/users"); p.Status != http.StatusForbidden || !strings.Contains(p.Body, `data-testid="error-page"`) {
		t.Errorf("member on /admin/users: got %d", p.Status)
	}
	// Validation errors are shown next to the field, nothing is saved.
	p := b.Post("/admin/projects", url.Values{"_csrf": {tok}, "name": {""}})
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, `data-testid="error-name"`) {
		t.Errorf("empty project name: got %d, want 422 with the error by the field", p.Status)
	}
	p = b.Post("/admin/projects", url.Values{"_csrf": {tok}, "name": {"<b>x</b>&"}, "description": {"<script>alert(1)</script>"}, "enabled": {"on"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("create project: got %d", p.Status)
	}
	list := b.Get("/admin/projects")
	if strings.Contains(list.Body, "<script>alert(1)</script>") || !strings.Contains(list.Body, "&lt;script&gt;") {
		t.Error("project description is not escaped")
	}
	if p := b.Post("/admin/projects", url.Values{"_csrf": {tok}, "name": {"<b>x</b>&"}}); !strings.Contains(p.Body, "already taken") {
		t.Error("duplicate project name: no error by the field")
	}
	// Create a user with a role on a project, from the form.
	admin := tc.AdminToken(t)
	pid := tc.Do(t, "GET", "/identity/v3/projects?name=demo", admin, nil).JSON(t)["projects"].([]any)[0].(map[string]any)["id"].(string)
	rid := tc.Do(t, "GET", "/identity/v3/roles?name=reader", admin, nil).JSON(t)["roles"].([]any)[0].(map[string]any)["id"].(string)
	p = b.Post("/admin/users", url.Values{"_csrf": {tok}, "name": {"frank"}, "password": {"frank-pass"}, "confirm": {"frank-pas"}})
	if !strings.Contains(p.Body, `data-testid="error-confirm"`) {
		t.Error("mismatched passwords: no error by the confirm field")
	}
	p = b.Post("/admin/users", url.Values{"_csrf": {tok}, "name": {"frank"}, "email": {"not-an-email"}, "password": {"frank-pass"}, "confirm": {"frank-pass"}})
	if !strings.Contains(p.Body, `data-testid="error-email"`) {
		t.Error("bad e-mail: no error by the field")
	}
	p = b.Post("/admin/users", url.Values{"_csrf": {tok}, "name": {"frank"}, "password": {"frank-pass"}, "confirm": {"frank-pass"},
		"default_project_id": {pid}, "role_id": {rid}, "enabled": {"on"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("create user: got %d", p.Status)
	}
	r := tc.Do(t, "GET", "/identity/v3/role_assignments?scope.project.id="+pid+"&role.id="+rid+"&include_names", admin, nil)
	if !strings.Contains(string(r.Body), `"name":"frank"`) {
		t.Errorf("frank has no reader role on demo: %s", r.Body)
	}
	// frank can sign in; disabling him ends his session at once.
	f := tc.NewFormClient(t)
	if p := f.Login("frank", "frank-pass"); p.Status != 200 {
		t.Fatalf("frank's overview: %d", p.Status)
	}
	uid := tc.Do(t, "GET", "/identity/v3/users?name=frank", admin, nil).JSON(t)["users"].([]any)[0].(map[string]any)["id"].(string)
	if p := b.Post("/admin/users/"+uid+"/disable", url.Values{"_csrf": {tok}}); p.Status != http.StatusSeeOther {
		t.Fatalf("disable: got %d", p.Status)
	}
	if p := f.Get("/project/"); p.Status != http.StatusFound {
		t.Errorf("disabled user's session: got %d, want redirect to login", p.Status)
	}
	// Members page: remove the role again.
	if p := b.Post("/admin/projects/"+pid+"/members/remove", url.Values{"_csrf": {tok}, "user_id": {uid}, "role_id": {rid}}); p.Status != http.StatusSeeOther {
		t.Errorf("remove role: got %d", p.Status)
	}
	if p := b.Get("/admin/projects/" + pid + "/members"); strings.Contains(p.Body, "member-row-frank") {
		t.Error("frank still listed as a member")
	}
	// Unknown pages and ids: plain 404, no internals.
	for _, path := range []string{"/nowhere", "/admin/projects/0123/edit", "/admin/users/%27;select/edit"} {
		p := b.Get(path)
		if p.Status != http.StatusNotFound || !strings.Contains(p.Body, `data-testid="error-page"`) {
			t.Errorf("%s: got %d, want the 404 page", path, p.Status)
		}
		for _, leak := range []string{"goroutine", "SQL", "pgx", "/work/", ".go:"} {
			if strings.Contains(p.Body, leak) {
				t.Errorf("%s: error page shows %q", path, leak)
			}
		}
	}
	// The RC file names the current project and never holds a password.
	rc := b.Get("/project/api_access/openrc")
	if !strings.Contains(rc.Body, "OS_PROJECT_NAME='admin'") || !strings.Contains(rc.Body, "read -sr OS_PASSWORD_INPUT") ||
		strings.Contains(rc.Body, tc.AdminPass) {
		t.Errorf("rc file: %s", rc.Body)
	}
	if !strings.Contains(rc.Header.Get("Content-Disposition"), "admin-openrc.sh") {
		t.Errorf("rc file name: %q", rc.Header.Get("Content-Disposition"))
	}
}

func TestPortalProjectSwitch(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin := tc.AdminToken(t)
	pid := tc.Do(t, "POST", "/identity/v3/projects", admin, map[string]any{"project": map[string]any{"name": "second"}}).JSON(t)["project"].(map[string]any)["id"].(string)
	uid := tc.Do(t, "GET", "/identity/v3/users?name=demo", admin, nil).JSON(t)["users"].([]any)[0].(map[string]any)["id"].(string)
	rid := tc.Do(t, "GET", "/identity/v3/roles?name=member", admin, nil).JSON(t)["roles"].([]any)[0].(map[string]any)["id"].(string)
	tc.Do(t, "PUT", "/identity/v3/projects/"+pid+"/users/"+uid+"/roles/"+rid, admin, nil)
	b := tc.NewFormClient(t)
	over := b.Login("demo", tc.DemoPass)
	if !strings.Contains(over.Body, `data-testid="project-switcher"`) {
		t.Fatal("no project switcher for a user with two projects")
	}
	p := b.Post("/auth/switch", url.Values{"_csrf": {controllertest.CSRFOf(t, over)}, "project_id": {pid}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("switch: got %d", p.Status)
	}
	if over = b.Get("/project/"); !strings.Contains(over.Body, `data-testid="overview-project">second<`) {
		t.Error("overview does not show the new project")
	}
	// Switching to a project without a role is refused.
	adminPID := tc.Do(t, "GET", "/identity/v3/projects?name=admin", admin, nil).JSON(t)["projects"].([]any)[0].(map[string]any)["id"].(string)
	b.Post("/auth/switch", url.Values{"_csrf": {controllertest.CSRFOf(t, over)}, "project_id": {adminPID}})
	if over = b.Get("/project/"); !strings.Contains(over.Body, `data-testid="overview-project">second<`) {
		t.Error("switch to a foreign project changed the project")
	}
}

func TestPortalSessionExpiry(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		tc := controllertest.New(t, map[string]string{"NIMBUS_SESSION_IDLE": "1s"})
		b := tc.NewFormClient(t)
		b.Login("demo", tc.DemoPass)
		time.Sleep(1500 * time.Millisecond)
		if p := b.Get("/project/"); p.Status != http.StatusFound {
			t.Errorf("after 1.5s idle with a 1s idle limit: got %d, want redirect to login", p.Status)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		tc := controllertest.New(t, map[string]string{"NIMBUS_SESSION_MAX": "2s"})
		b := tc.NewFormClient(t)
		b.Login("demo", tc.DemoPass)
		deadline := time.Now().Add(5 * time.Second)
		for {
			p := b.Get("/project/") // activity keeps the idle timer fresh
			if p.Status == http.StatusFound {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("an active session outlived its 2s absolute limit by 3s")
			}
			time.Sleep(300 * time.Millisecond)
		}
	})
}

func TestPortalSecureCookieBehindHTTPS(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_PUBLIC_URL": "https://cloud.example.org"})
	b := tc.NewFormClient(t)
	lp := b.Get("/auth/login")
	p := b.Post("/auth/login", url.Values{"_csrf": {controllertest.CSRFOf(t, lp)}, "username": {"demo"}, "password": {tc.DemoPass}})
	if !strings.Contains(strings.Join(p.Header.Values("Set-Cookie"), "\n"), "secure") {
		t.Errorf("session cookie without Secure behind an https public URL: %v", p.Header.Values("Set-Cookie"))
	}
}

// TestTrustedProxyAddresses: behind a trusted proxy, the throttle counts
// the client named in X-Forwarded-For, not the proxy.
func TestTrustedProxyAddresses(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_TRUSTED_PROXIES": "127.0.0.1", "NIMBUS_LOGIN_FAIL_PER_ADDR": "3",
		"NIMBUS_LOGIN_FAIL_PER_USER": "100"})
	for i := 0; i < 3; i++ {
		tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("demo", "wrong", ""), "X-Forwarded-For", "198.51.100.7")
	}
	if r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("demo", tc.DemoPass, ""), "X-Forwarded-For", "198.51.100.7"); r.Status != 429 {
		t.Errorf("client that failed 3 times: got %d, want 429", r.Status)
	}
	if r := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("demo", tc.DemoPass, ""), "X-Forwarded-For", "198.51.100.8"); r.Status != 201 {
		t.Errorf("another client behind the same proxy: got %d, want 201", r.Status)
	}
}
