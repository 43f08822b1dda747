package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

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
		return b.Do(req)
	}
	p := b.Get("/project/instances/" + id + "?tab=console")
	if !strings.Contains(p.Body, `data-testid="console-not-running"`) || !strings.Contains(p.Body, "waiting=1") || strings.Contains(p.Body, "data-console-screen") {
		t.Fatalf("console tab without a screen: want the notice and a waiting poll, no console:\n%.400s", p.Body)
	}
	if got := poll().Header.Get("HX-Refresh"); got != "" {
		t.Fatalf("poll without a screen: HX-Refresh %q", got)
	}
	csrf := controllertest.CSRFOf(t, p)
	if r := b.ConsoleToken(id, csrf); r.Status != 409 {
		t.Fatalf("console token without a screen: %d %s, want 409", r.Status, r.Body)
	}
	tc.FakeScreen(t, id)
	if got := poll().Header.Get("HX-Refresh"); got != "true" {
		t.Fatalf("poll once the screen is there: HX-Refresh %q, want true", got)
	}
	if p := b.Get("/project/instances/" + id + "?tab=console"); !strings.Contains(p.Body, "data-console-screen") {
		t.Fatal("console tab with a screen has no console")
	}
	r := b.ConsoleToken(id, csrf)
	wsURL := "ws" + strings.TrimPrefix(tc.ConsoleURL, "http") + "/websockify?token="
	if r.Status != 200 || !strings.Contains(r.Body, wsURL) {
		t.Fatalf("console token: %d %s, want a URL starting %s", r.Status, r.Body, wsURL)
	}
	req, _ := http.NewRequest("POST", tc.URL+"/project/instances/"+id+"/stop", strings.NewReader(url.Values{"_csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", tc.URL)
	req.Header.Set("Referer", tc.URL+"/project/instances/"+id+"?tab=console")
	if p := b.Do(req); p.Status != 303 || p.Location != "/project/instances/"+id+"?tab=console" {
		t.Fatalf("stop from the console tab: %d to %q, want back to the console tab", p.Status, p.Location)
	}
}
