package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/console"
	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/testenv"

	"github.com/chromedp/chromedp"
)

// consoleStateJS reads the console's state: connecting, connected,
// disconnected or error.
const consoleStateJS = `(() => { const c = document.querySelector("[data-console]"); return c ? c.dataset.state : ""; })()`

// litPixelsJS counts the pixels of noVNC's canvas that are not black: the
// guest's text console drawn on it.
const litPixelsJS = `(() => {
	const c = document.querySelector("[data-console-screen] canvas");
	if (!c || !c.width || !c.height) return 0;
	const box = c.getBoundingClientRect(); // shown, not scaled to nothing
	if (box.width < 400 || box.height < 220) return -1;
	const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
	let n = 0;
	for (let i = 0; i < d.length; i += 4) if (d[i] + d[i+1] + d[i+2] > 60) n++;
	return n;
})()`

// consoleOutput is the instance's serial log through the API.
func consoleOutput(t *testing.T, tc *controllertest.Cloud, token, id string) string {
	t.Helper()
	r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", token, map[string]any{"os-getConsoleOutput": map[string]any{"length": nil}})
	if r.Status != 200 {
		t.Fatalf("console output: %d %s", r.Status, r.Body)
	}
	out, _ := r.JSON(t)["output"].(string)
	return out
}

// browserConsole opens the Console tab of a running tiny instance on
// QEMU as the signed-in user: noVNC connects through the proxy, the
// guest's screen is drawn, text typed with "paste text" reaches the
// guest's shell (whose output it sends to the serial log, read back
// through the API), the Log tab shows that log, and the full-page console
// connects too. Screenshots go to test-artifacts/.
func browserConsole(t *testing.T, ctx context.Context, tc *controllertest.Cloud, id string) {
	demo := tc.DemoToken(t)
	browserDo(t, ctx, "open the console tab",
		chromedp.Navigate(tc.URL+"/project/instances/"+id+"?tab=console"),
		chromedp.WaitVisible(tid("console-screen")),
	)
	waitPage(t, ctx, 60*time.Second, "console state", consoleStateJS, "connected")
	// The guest boots inside the running domain: wait for its banner and
	// then its shells (the serial one prompts; the VGA one starts with it).
	controllertest.WaitFor(t, 180*time.Second, "the guest's banner and shell prompt in the console output", func() bool {
		out := consoleOutput(t, tc, demo, id)
		i := strings.Index(out, "Nimbus tiny image")
		return i >= 0 && strings.Contains(out[i:], "# ")
	})
	var lit int
	controllertest.WaitFor(t, 30*time.Second, "the guest's screen drawn on a visible console canvas (at least 400x220 CSS px)", func() bool {
		lit = browserRun(t, ctx, "count lit pixels", chromedp.Evaluate[int](litPixelsJS))
		return lit > 500
	})
	t.Logf("console canvas: %d lit pixels", lit)

	// Type a command into the guest's VGA shell; its output goes to the
	// serial port, so the log proves the keys arrived.
	b := make([]byte, 4)
	rand.Read(b)
	mark := "keys-" + hex.EncodeToString(b)
	browserDo(t, ctx, "paste a command",
		chromedp.Click(chromedp.CSS(`[data-console] details summary`)),
		chromedp.SetValue(tid("console-paste-text"), "echo "+mark+" >/dev/ttyS0\n"),
		chromedp.Click(tid("console-paste")),
	)
	// The screenshot is kept before the check, so a failure leaves it.
	browserDo(t, ctx, "let the guest echo", chromedp.ScrollIntoView(tid("console-screen")), chromedp.Sleep(2*time.Second))
	shot := browserRun(t, ctx, "screenshot console", chromedp.CaptureScreenshot())
	if !bytes.HasPrefix(shot, []byte("\x89PNG")) {
		t.Errorf("console screenshot: not a PNG")
	}
	os.MkdirAll(artifactDir, 0o755)
	if err := os.WriteFile(filepath.Join(artifactDir, "browser-console.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	controllertest.WaitFor(t, 30*time.Second, "the pasted command's output in the serial log", func() bool {
		return strings.Contains(consoleOutput(t, tc, demo, id), mark)
	})
	// Reconnect asks for a fresh token (the first was used up).
	browserDo(t, ctx, "reconnect", chromedp.Click(tid("console-reconnect")))
	waitPage(t, ctx, 30*time.Second, "console state after reconnect", consoleStateJS, "connected")

	// The Log tab shows the serial log, mark included.
	browserDo(t, ctx, "open the log tab",
		chromedp.Navigate(tc.URL+"/project/instances/"+id+"?tab=log"),
		chromedp.WaitVisible(tid("console-log-output")),
	)
	if got := textOf(t, ctx, "console-log-output"); !strings.Contains(got, mark) || !strings.Contains(got, "Nimbus tiny image") {
		t.Errorf("log tab: %d characters without the banner and %s", len(got), mark)
	}

	// The full-page console connects on its own token.
	browserDo(t, ctx, "open the full-page console", chromedp.Navigate(tc.URL+"/project/instances/"+id+"/console"))
	waitPage(t, ctx, 30*time.Second, "full-page console state", consoleStateJS, "connected")
	controllertest.WaitFor(t, 20*time.Second, "the full-page console drawn", func() bool {
		return browserRun(t, ctx, "count lit pixels", chromedp.Evaluate[int](litPixelsJS)) > 500
	})
}

// TestBrowserConsoleRefusedToken: the console page of a URL whose token is
// unknown, or already used, says so in the page at once (no spinner).
func TestBrowserConsoleRefusedToken(t *testing.T) {
	tc := controllertest.New(t, controllertest.NoPortCheck) // the used token's fake VNC has no agent to confirm it
	used, err := tc.Server.Consoles().Issue(context.Background(), consoleTarget("i-used", testenv.FakeVNC(t)))
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := tc.DialConsole(used, tc.ConsoleURL)
	if err != nil {
		t.Fatal(err)
	}
	ws.Close()
	ctx := newBrowser(t)
	want := i18n.T(context.Background(), "console.error.token")
	for _, token := range []string{"no-such-token", used} {
		browserDo(t, ctx, "open the console URL",
			chromedp.Navigate(tc.ConsoleURL+"/vnc_lite.html?path="+url.QueryEscape("?token="+token)),
			chromedp.WaitVisible(tid("console-status")),
		)
		waitPage(t, ctx, 10*time.Second, "console state", consoleStateJS, "error")
		if got := textOf(t, ctx, "console-status"); got != want {
			t.Errorf("token %.12s...: status %q, want %q", token, got, want)
		}
	}
}

// TestBrowserConsolePageConnectsUnderCSP: the proxy's console page, with
// its Content-Security-Policy, still runs noVNC and opens its websocket
// to the proxy: the VNC server behind it is reached.
func TestBrowserConsolePageConnectsUnderCSP(t *testing.T) {
	tc := controllertest.New(t, controllertest.NoPortCheck) // no agent to confirm the port
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reached := make(chan struct{}, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, testenv.RFBBanner)
		reached <- struct{}{}
		io.Copy(io.Discard, c)
	}()
	token, err := tc.Server.Consoles().Issue(context.Background(), consoleTarget("i-csp", ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	browserDo(t, ctx, "open the console URL",
		chromedp.Navigate(tc.ConsoleURL+"/vnc_lite.html?path="+url.QueryEscape("?token="+token)),
		chromedp.WaitVisible(tid("console-status")),
	)
	select {
	case <-reached:
	case <-time.After(20 * time.Second):
		t.Fatalf("the console page never reached the VNC server (state %q)",
			browserRun(t, ctx, "console state", chromedp.Evaluate[string](consoleStateJS)))
	}
	if got := browserRun(t, ctx, "console state", chromedp.Evaluate[string](consoleStateJS)); got == "error" {
		t.Errorf("console state %q after reaching the VNC server", got)
	}
}

func consoleTarget(instance, addr string) console.Target {
	return console.Target{InstanceID: instance, Addr: addr}
}
