package controllertest

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// NoPortCheck turns off the proxy's connect-time port check for tests on
// libvirt's test driver, whose domains have no VNC server: a fake one
// stands in at a port the agent cannot confirm.
// TestConsolePortConfirmedByAgent (handlers/console) covers the check itself.
var NoPortCheck = map[string]string{"NIMBUS_CONSOLE_VERIFY_PORT": "false"}

// FakeScreen gives instance id a screen where libvirt's test driver runs
// none: a fake VNC server (testenv.FakeVNC) whose port is recorded as the
// instance's VNC port. It returns the port.
func (tc *Cloud) FakeScreen(t *testing.T, id string) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(testenv.FakeVNC(t))
	port, _ := strconv.Atoi(p)
	if _, err := tc.Server.Pool().Exec(context.Background(), `UPDATE instances SET vnc_port = $2 WHERE id = $1`, id, port); err != nil {
		t.Fatal(err)
	}
	return port
}

// TokenOf takes the token out of a console URL of Nova's form
// (.../vnc_lite.html?path=%3Ftoken%3D...).
func TokenOf(t *testing.T, consoleURL string) string {
	t.Helper()
	u, err := url.Parse(consoleURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := url.Parse(u.Query().Get("path"))
	if err != nil || p.Query().Get("token") == "" {
		t.Fatalf("console URL %q has no token in its path parameter", consoleURL)
	}
	return p.Query().Get("token")
}

// DialConsole opens the proxy's websocket as a browser on origin would.
func (tc *Cloud) DialConsole(token, origin string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{"Origin": {origin}}
	d := websocket.Dialer{Subprotocols: []string{"binary"}, HandshakeTimeout: 5 * time.Second}
	return d.Dial("ws"+strings.TrimPrefix(tc.ConsoleURL, "http")+"/websockify?token="+url.QueryEscape(token), h)
}
