package controller_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nimbus-cloud/nimbus/internal/console"
	"github.com/nimbus-cloud/nimbus/internal/controller"
	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

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
	token, err := tc.Server.Consoles().Issue(context.Background(), console.Target{InstanceID: "i-alone", Addr: testenv.FakeVNC(t)})
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
