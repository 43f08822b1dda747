package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nimbus-cloud/nimbus/internal/console"
	"github.com/nimbus-cloud/nimbus/internal/controller"
	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

func consoleTarget(instance, addr string) console.Target {
	return console.Target{InstanceID: instance, Addr: addr}
}

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

// TestConsoleOnlyMode runs nimbus with -console-only, as a deployment
// that puts the proxy on its own machine does: with Redis and no
// PostgreSQL it serves the proxy alone, and a token a controller issued
// (here, straight into Redis) opens the VNC server through it.
func TestConsoleOnlyMode(t *testing.T) {
	tc := controllertest.New(t, nil) // for its Redis settings only
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{
		"NIMBUS_REDIS_URL": tc.Env["NIMBUS_REDIS_URL"], "NIMBUS_REDIS_PREFIX": tc.Env["NIMBUS_REDIS_PREFIX"],
		"NIMBUS_LOG_LEVEL": "error", // and no NIMBUS_DATABASE_URL
		// The fake VNC server has no agent to confirm its port.
		"NIMBUS_CONSOLE_VERIFY_PORT": "false",
		"NIMBUS_PUBLIC_URL":          "http://portal.example", "NIMBUS_DATA_DIR": t.TempDir(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- controller.Run(ctx, []string{"-console-only", "-console-listen", addr}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("console-only run: %v", err)
		}
	}()
	controllertest.WaitFor(t, 10*time.Second, "the console-only proxy's health check", func() bool {
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	token, err := tc.Server.Consoles().Issue(context.Background(), consoleTarget("i-alone", testenv.FakeVNC(t)))
	if err != nil {
		t.Fatal(err)
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/websockify?token="+token, http.Header{"Origin": {"http://portal.example"}})
	if err != nil {
		t.Fatalf("console through the console-only proxy: %v", err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != testenv.RFBBanner {
		t.Fatalf("banner through the console-only proxy: %q %v", m, err)
	}
}

// TestPortalConsoleTabWaitsForScreen: the Console tab of an instance with
// no screen says so and keeps asking; once the screen is there, the answer
// tells htmx to reload the page (which then mounts the console); an action
// pressed on the Console tab comes back to it; the console token endpoint
// gives a websocket URL on the proxy only when there is a screen.
func TestPortalConsoleTabWaitsForScreen(t *testing.T) {
	tc := controllertest.New(t, controllertest.NoPortCheck)
	tc.StartAgent(t, "sim-tab")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	demo := tc.DemoToken(t)
	id := tc.CreateServer(t, demo, map[string]any{"name": "tab", "flavorRef": "1", "imageRef": img}).JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", 20*time.Second)
	b := tc.NewFormClient(t)
	b.Login("demo", tc.DemoPass)
	poll := func() controllertest.Page {
		req, _ := http.NewRequest("GET", tc.URL+"/project/instances/"+id+"?fragment=1&tab=console&waiting=1", nil)
		req.Header.Set("HX-Request", "true")
		res, err := b.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return controllertest.ReadPage(t, res)
	}
	p := b.Get("/project/instances/" + id + "?tab=console")
	if !strings.Contains(p.Body, `data-testid="console-not-running"`) || !strings.Contains(p.Body, "waiting=1") || strings.Contains(p.Body, "data-console-screen") {
		t.Fatalf("console tab without a screen: want the notice and a waiting poll, no console:\n%.400s", p.Body)
	}
	if got := poll().Header.Get("HX-Refresh"); got != "" {
		t.Fatalf("poll without a screen: HX-Refresh %q", got)
	}
	csrf := controllertest.CSRFOf(t, p)
	tokenReq := func() controllertest.Page {
		req, _ := http.NewRequest("POST", tc.URL+"/project/instances/"+id+"/console-token", nil)
		req.Header.Set("X-CSRF-Token", csrf)
		req.Header.Set("Origin", tc.URL)
		res, err := b.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return controllertest.ReadPage(t, res)
	}
	if r := tokenReq(); r.Status != 409 {
		t.Fatalf("console token without a screen: %d %s, want 409", r.Status, r.Body)
	}
	tc.FakeScreen(t, id)
	if got := poll().Header.Get("HX-Refresh"); got != "true" {
		t.Fatalf("poll once the screen is there: HX-Refresh %q, want true", got)
	}
	if p := b.Get("/project/instances/" + id + "?tab=console"); !strings.Contains(p.Body, "data-console-screen") {
		t.Fatal("console tab with a screen has no console")
	}
	r := tokenReq()
	wsURL := "ws" + strings.TrimPrefix(tc.ConsoleURL, "http") + "/websockify?token="
	if r.Status != 200 || !strings.Contains(r.Body, wsURL) {
		t.Fatalf("console token: %d %s, want a URL starting %s", r.Status, r.Body, wsURL)
	}
	req, _ := http.NewRequest("POST", tc.URL+"/project/instances/"+id+"/stop", strings.NewReader(url.Values{"_csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", tc.URL)
	req.Header.Set("Referer", tc.URL+"/project/instances/"+id+"?tab=console")
	res, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if p := controllertest.ReadPage(t, res); p.Status != 303 || p.Location != "/project/instances/"+id+"?tab=console" {
		t.Fatalf("stop from the console tab: %d to %q, want back to the console tab", p.Status, p.Location)
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
			consoleClosedWith(t, c.name, ws, 2*time.Second, console.ReasonAccess)
			stillRelays(t, "demo's console", others)
		})
	}

	t.Run("signed out of the portal", func(t *testing.T) {
		cli := open(t, tc.Token(t, "carol", pw, "demo")) // not the portal's: stays open
		b := tc.NewFormClient(t)
		b.Login("carol", pw)
		csrf := controllertest.CSRFOf(t, b.Get("/project/instances/"+id))
		portalConsole := func() controllertest.Page {
			req, _ := http.NewRequest("POST", tc.URL+"/project/instances/"+id+"/console-token", nil)
			req.Header.Set("X-CSRF-Token", csrf)
			req.Header.Set("Origin", tc.URL)
			res, err := b.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return controllertest.ReadPage(t, res)
		}
		p := portalConsole()
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
		p = portalConsole()
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
		consoleClosedWith(t, "the portal's console after sign-out", ws, 2*time.Second, console.ReasonAccess)
		stillRelays(t, "carol's console from the API", cli)
		stillRelays(t, "demo's console", others)
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

// consoleClosedWith checks the proxy closes ws within d with reason.
func consoleClosedWith(t *testing.T, what string, ws *websocket.Conn, d time.Duration, reason string) {
	t.Helper()
	start := time.Now()
	ws.SetReadDeadline(start.Add(d))
	_, _, err := ws.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Text != reason {
		t.Fatalf("%s: %v after %v; want closed within %v saying %q", what, err, time.Since(start), d, reason)
	}
}

// stillRelays checks ws is open: bytes sent come back from the fake VNC.
func stillRelays(t *testing.T, what string, ws *websocket.Conn) {
	t.Helper()
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte("still here")); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != "still here" {
		t.Fatalf("%s: %q %v, want it open", what, m, err)
	}
}
