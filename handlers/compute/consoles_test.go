package compute_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// TestConsoleAPIOnTestDriver covers the console API end to end on
// libvirt's test driver (its domains have no VNC server, so a fake one
// takes the instance's reported port): Nova's remote-consoles and
// os-getVNCConsole answers, the URL's token opening the VNC server
// through the proxy once, the refusals, and console output read by the
// agent from the serial log.
func TestConsoleAPIOnTestDriver(t *testing.T) {
	tc := controllertest.New(t, controllertest.NoPortCheck)
	agent := tc.StartAgent(t, "sim-console")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	demo := tc.DemoToken(t)
	id := tc.CreateServer(t, demo, map[string]any{"name": "con", "flavorRef": "1", "imageRef": img}).JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", 20*time.Second)
	rc := map[string]any{"remote_console": map[string]any{"protocol": "vnc", "type": "novnc"}}
	v26 := []string{"OpenStack-API-Version", "compute 2.6"}

	// The test driver's domain has no VNC port: not ready, as Nova says.
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/remote-consoles", demo, rc, v26...); r.Status != 409 || !strings.Contains(string(r.Body), "conflictingRequest") {
		t.Fatalf("console of an instance without VNC: %d %s, want 409 conflictingRequest", r.Status, r.Body)
	}
	tc.FakeScreen(t, id)

	// Microversions, protocols and types, as Nova answers them.
	for _, c := range []struct {
		name string
		r    controllertest.Resp
		want int
	}{
		{"remote-consoles before 2.6", tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/remote-consoles", demo, rc), 404},
		{"os-getVNCConsole at 2.6", tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-getVNCConsole": map[string]any{"type": "novnc"}}, v26...), 404},
		{"spice", tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/remote-consoles", demo, map[string]any{"remote_console": map[string]any{"protocol": "spice", "type": "spice-html5"}}, v26...), 400},
		{"xvpvnc", tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-getVNCConsole": map[string]any{"type": "xvpvnc"}}), 400},
		{"no body", tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/remote-consoles", demo, map[string]any{}, v26...), 400},
	} {
		if c.r.Status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, c.r.Status, c.r.Body, c.want)
		}
	}

	r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/remote-consoles", demo, rc, v26...)
	if r.Status != 200 {
		t.Fatalf("remote-consoles: %d %s", r.Status, r.Body)
	}
	got := r.JSON(t)["remote_console"].(map[string]any)
	u := got["url"].(string)
	if got["protocol"] != "vnc" || got["type"] != "novnc" || !strings.HasPrefix(u, tc.ConsoleURL+"/vnc_lite.html?path=%3Ftoken%3D") {
		t.Fatalf("remote console %v: want vnc/novnc and a URL on the proxy %s", got, tc.ConsoleURL)
	}
	token := controllertest.TokenOf(t, u)
	// The page the URL names is served by the proxy.
	page, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != 200 || !strings.Contains(string(body), "data-console") {
		t.Fatalf("console page: %d %.200s", page.StatusCode, body)
	}
	// A page on another site may not use it.
	if _, resp, err := tc.DialConsole(token, "http://evil.example"); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("console from another origin: %v %v, want 403", resp, err)
	}
	ws, _, err := tc.DialConsole(token, tc.URL)
	if err != nil {
		t.Fatalf("console from the portal's origin: %v", err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != testenv.RFBBanner {
		t.Fatalf("first message through the proxy: %q %v, want the RFB banner", m, err)
	}
	if _, resp, err := tc.DialConsole(token, tc.URL); err == nil || resp.StatusCode != 403 {
		t.Fatal("a console token opened a second session")
	}
	// The older action gives a working URL too.
	r = tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-getVNCConsole": map[string]any{"type": "novnc"}})
	if r.Status != 200 {
		t.Fatalf("os-getVNCConsole: %d %s", r.Status, r.Body)
	}
	old := controllertest.TokenOf(t, r.JSON(t)["console"].(map[string]any)["url"].(string))

	// Console output: the agent reads the serial log's last lines.
	dir := filepath.Join(agent.Dir, "instances", id)
	os.MkdirAll(dir, 0o755)
	var log strings.Builder
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&log, "line %d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "console.log"), []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		length any
		first  string
		lines  int
	}{{10, "line 21", 10}, {"5", "line 26", 5}, {-1, "line 1", 30}, {nil, "line 1", 30}} {
		r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-getConsoleOutput": map[string]any{"length": c.length}})
		if r.Status != 200 {
			t.Fatalf("console output length %v: %d %s", c.length, r.Status, r.Body)
		}
		out := r.JSON(t)["output"].(string)
		ls := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(ls) != c.lines || ls[0] != c.first || ls[len(ls)-1] != "line 30" {
			t.Errorf("console output length %v: %d lines from %q, want %d from %q", c.length, len(ls), ls[0], c.lines, c.first)
		}
	}
	for _, bad := range []any{-2, "abc", 1.5} {
		if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-getConsoleOutput": map[string]any{"length": bad}}); r.Status != 400 {
			t.Errorf("console output length %v: %d %s, want 400", bad, r.Status, r.Body)
		}
	}

	// Stopping the instance closes its open console and revokes the
	// unused token.
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-stop": nil}); r.Status != 202 {
		t.Fatalf("stop: %d %s", r.Status, r.Body)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("open console after stop: %v, want closed by the proxy", err)
	}
	if _, resp, err := tc.DialConsole(old, tc.URL); err == nil || resp.StatusCode != 403 {
		t.Fatal("a token issued before the stop still opened the console")
	}
	tc.WaitStatus(t, demo, id, "SHUTOFF", 20*time.Second)
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/remote-consoles", demo, rc, v26...); r.Status != 409 {
		t.Errorf("console of a stopped instance: %d %s, want 409", r.Status, r.Body)
	}
}
