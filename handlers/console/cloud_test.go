package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nimbus-cloud/nimbus/internal/console"
	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// TestConsolePortConfirmedByAgent: a console token opens only a port the
// instance's agent confirms is the instance's VNC server now, on the
// console address that host registered. The database's port (refreshed
// by the power sync every few seconds) may have gone to another VM: here
// a VNC server listens on it, and the agent, whose domain has no screen,
// does not confirm it, so the proxy refuses without dialling. Addresses
// outside the VNC port range (PostgreSQL's 5432) and hosts that are not
// registered hypervisors are refused too.
func TestConsolePortConfirmedByAgent(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "sim-port")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	demo := tc.DemoToken(t)
	id := tc.CreateServer(t, demo, map[string]any{"name": "port", "flavorRef": "1", "imageRef": img}).JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", 20*time.Second)
	port := tc.FakeScreen(t, id)
	r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/remote-consoles", demo,
		map[string]any{"remote_console": map[string]any{"protocol": "vnc", "type": "novnc"}}, "OpenStack-API-Version", "compute 2.6")
	if r.Status != 200 {
		t.Fatalf("remote-consoles: %d %s", r.Status, r.Body)
	}
	token := controllertest.TokenOf(t, r.JSON(t)["remote_console"].(map[string]any)["url"].(string))
	refused := func(what, token string) {
		t.Helper()
		ws, res, err := tc.DialConsole(token, tc.ConsoleURL)
		if err == nil {
			ws.Close()
			t.Fatalf("%s: the proxy opened the console", what)
		}
		if res == nil || res.StatusCode != 403 {
			t.Fatalf("%s: %v %v, want 403", what, res, err)
		}
		body, _ := io.ReadAll(res.Body)
		if !strings.Contains(string(body), "no longer shows its instance's screen") {
			t.Fatalf("%s: body %q does not say why", what, body)
		}
	}
	refused("a port the agent does not confirm", token)

	ctx := context.Background()
	for _, c := range []struct{ what, host, addr string }{
		{"PostgreSQL's port", "sim-port", "127.0.0.1:5432"},
		{"an unregistered host", "sim-nobody", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))},
		{"another address than the host registered", "sim-port", net.JoinHostPort("127.0.0.2", strconv.Itoa(port))},
	} {
		tok, err := tc.Server.Consoles().Issue(ctx, console.Target{InstanceID: id, Host: c.host, Addr: c.addr})
		if err != nil {
			t.Fatal(err)
		}
		refused(c.what, tok)
	}
}

// TestConsoleClosesWhenAccessEnds: an open console closes within a second
// or two, with the reason in its close frame, when its user is disabled,
// is given a new password (by an admin or themselves), loses their role
// on the project, or signs out of the portal (which closes the consoles
// that portal session opened, not the user's others). Another user's
// console stays open throughout. The caps come from the settings: a
// user's third console is refused with 429 and the catalogue's sentence.
func TestConsoleClosesWhenAccessEnds(t *testing.T) {
	extra := map[string]string{"NIMBUS_CONSOLE_MAX_PER_USER": "2", "NIMBUS_CONSOLE_MAX_PER_INSTANCE": "4"}
	for k, v := range controllertest.NoPortCheck {
		extra[k] = v
	}
	tc := controllertest.New(t, extra)
	tc.StartAgent(t, "sim-access")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	demo := tc.DemoToken(t)
	id := tc.CreateServer(t, demo, map[string]any{"name": "acc", "flavorRef": "1", "imageRef": img}).JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", 20*time.Second)
	tc.FakeScreen(t, id)

	admin := tc.AdminToken(t)
	pid := tc.Do(t, "GET", "/identity/v3/projects?name=demo", admin, nil).JSON(t)["projects"].([]any)[0].(map[string]any)["id"].(string)
	uid := tc.Do(t, "POST", "/identity/v3/users", admin, map[string]any{"user": map[string]any{
		"name": "carol", "password": "carol-pass-1", "default_project_id": pid}}).JSON(t)["user"].(map[string]any)["id"].(string)
	member := tc.Do(t, "GET", "/identity/v3/roles?name=member", admin, nil).JSON(t)["roles"].([]any)[0].(map[string]any)["id"].(string)
	grant := func() {
		if r := tc.Do(t, "PUT", "/identity/v3/projects/"+pid+"/users/"+uid+"/roles/"+member, admin, nil); r.Status != 204 {
			t.Fatalf("grant: %d %s", r.Status, r.Body)
		}
	}
	grant()

	// open asks the API for a console with token and opens it.
	open := func(t *testing.T, token string) *websocket.Conn {
		t.Helper()
		r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/remote-consoles", token,
			map[string]any{"remote_console": map[string]any{"protocol": "vnc", "type": "novnc"}}, "OpenStack-API-Version", "compute 2.6")
		if r.Status != 200 {
			t.Fatalf("remote-consoles: %d %s", r.Status, r.Body)
		}
		return openWS(t, tc, controllertest.TokenOf(t, r.JSON(t)["remote_console"].(map[string]any)["url"].(string)))
	}
	others := open(t, demo)

	pw := "carol-pass-1"
	cases := []struct {
		name      string
		end, undo func()
	}{
		{"user disabled", func() {
			tc.Do(t, "PATCH", "/identity/v3/users/"+uid, admin, map[string]any{"user": map[string]any{"enabled": false}})
		}, func() {
			tc.Do(t, "PATCH", "/identity/v3/users/"+uid, admin, map[string]any{"user": map[string]any{"enabled": true}})
		}},
		{"password set by an admin", func() {
			tc.Do(t, "PATCH", "/identity/v3/users/"+uid, admin, map[string]any{"user": map[string]any{"password": "carol-pass-2"}})
			pw = "carol-pass-2"
		}, func() {}},
		{"password changed by the user", func() {
			tok := tc.Token(t, "carol", pw, "demo")
			if r := tc.Do(t, "POST", "/identity/v3/users/"+uid+"/password", tok, map[string]any{"user": map[string]any{
				"original_password": pw, "password": "carol-pass-3"}}); r.Status != 204 {
				t.Fatalf("change password: %d %s", r.Status, r.Body)
			}
			pw = "carol-pass-3"
		}, func() {}},
		{"role removed", func() {
			tc.Do(t, "DELETE", "/identity/v3/projects/"+pid+"/users/"+uid+"/roles/"+member, admin, nil)
		}, grant},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ws := open(t, tc.Token(t, "carol", pw, "demo"))
			c.end()
			defer c.undo()
			closedWith(t, c.name, ws, 2*time.Second, websocket.CloseNormalClosure, console.ReasonAccess)
			stillOpen(t, "demo's console", others)
		})
	}

	t.Run("signed out of the portal", func(t *testing.T) {
		cli := open(t, tc.Token(t, "carol", pw, "demo")) // not the portal's: stays open
		b := tc.NewFormClient(t)
		b.Login("carol", pw)
		csrf := controllertest.CSRFOf(t, b.Get("/project/instances/"+id))
		p := b.ConsoleToken(id, csrf)
		if p.Status != 200 {
			t.Fatalf("console token: %d %s", p.Status, p.Body)
		}
		var got struct{ URL string }
		if err := json.Unmarshal([]byte(p.Body), &got); err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(got.URL)
		ws := openWS(t, tc, u.Query().Get("token"))

		// Two open: a third of carol's is refused, with its token kept.
		p = b.ConsoleToken(id, csrf)
		json.Unmarshal([]byte(p.Body), &got)
		u, _ = url.Parse(got.URL)
		third := u.Query().Get("token")
		_, res, err := tc.DialConsole(third, tc.URL)
		if err == nil || res == nil || res.StatusCode != 429 {
			t.Fatalf("carol's third console: %v %v, want 429", res, err)
		}
		body, _ := io.ReadAll(res.Body)
		if want := i18n.T(context.Background(), "console.error.too_many_user", 2); string(body) != want+"\n" {
			t.Errorf("429 body %q, want %q", body, want)
		}

		if p := b.Post("/auth/logout", url.Values{"_csrf": {csrf}}); p.Status != 303 {
			t.Fatalf("sign out: %d", p.Status)
		}
		closedWith(t, "the portal's console after sign-out", ws, 2*time.Second, websocket.CloseNormalClosure, console.ReasonAccess)
		stillOpen(t, "carol's console from the API", cli)
		stillOpen(t, "demo's console", others)
		// The token issued by the signed-out session is void too.
		if _, res, err := tc.DialConsole(third, tc.URL); err == nil || res == nil || res.StatusCode != 403 {
			t.Fatalf("a console token of a signed-out session: %v %v, want 403", res, err)
		}
	})
}

// openWS opens a console through the proxy from the portal's origin and
// reads the banner.
func openWS(t *testing.T, tc *controllertest.Cloud, token string) *websocket.Conn {
	t.Helper()
	ws, res, err := tc.DialConsole(token, tc.URL)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("open console: %d %v", status, err)
	}
	t.Cleanup(func() { ws.Close() })
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != testenv.RFBBanner {
		t.Fatalf("banner: %q %v", m, err)
	}
	return ws
}
