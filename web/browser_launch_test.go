package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// rowStatusJS is an expression that reads the status badge of the list row
// of the instance name, or "" when the row is not in the page.
func rowStatusJS(name string) string {
	return `(() => { const s = document.querySelector('[data-testid="instance-row-` + name +
		`"] [data-testid="status"]'); return s ? s.textContent.trim() : ""; })()`
}

// waitPage evaluates expr in the page every 250ms until it returns want, and
// fails after d. Only the page changes its answer: nothing here reloads it.
func waitPage(t *testing.T, ctx context.Context, d time.Duration, what, expr, want string) {
	t.Helper()
	start := time.Now()
	last := ""
	for {
		got := browserRun(t, ctx, "read "+what, chromedp.Evaluate[string](expr))
		if got != last {
			t.Logf("%s: %q after %v", what, got, time.Since(start).Round(100*time.Millisecond))
			last = got
		}
		if got == want {
			return
		}
		if got == "Error" {
			t.Fatalf("%s: the instance went to Error", what)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: got %q after %v, want %q", what, got, d, want)
		}
		browserDo(t, ctx, "pause", chromedp.Sleep(250*time.Millisecond))
	}
}

// TestBrowserLaunch launches the public image tiny from the portal's launch
// dialog on real QEMU, watches its row turn Active in the Instances list
// without a reload (htmx polls the rows), checks the detail page and deletes
// the instance from there, through the confirmation dialog.
func TestBrowserLaunch(t *testing.T) {
	img := needQEMU(t)
	tc := controllertest.New(t, nil)
	dir := stateDir(t)
	startQEMUAgent(t, tc, "qemu-browser", dir)

	admin := tc.AdminToken(t)
	imageID := tc.CreateImage(t, admin, map[string]any{"name": "tiny", "disk_format": "qcow2",
		"container_format": "bare", "visibility": "public"})["id"].(string)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r := tc.Upload(t, admin, imageID, f, fi.Size())
	f.Close()
	if r.Status != 204 {
		t.Fatalf("upload tiny: got %d %s, want 204", r.Status, r.Body)
	}

	const name = "browser-vm"
	row := "instance-row-" + name
	// Long enough for the waits below: 180s to Active, 180s for the
	// console and the guest's boot, 120s to gone.
	ctx := newBrowserFor(t, 9*time.Minute)
	began := time.Now()
	browserLogin(t, ctx, tc, "demo", tc.DemoPass)

	// Instances > Launch.
	browserDo(t, ctx, "open instances",
		chromedp.Navigate(tc.URL+"/project/instances"),
		chromedp.WaitVisible(tid("instance-table")),
	)
	if st := submit(t, ctx, "open launch dialog", chromedp.Click(tid("launch"))); st != 200 {
		t.Fatalf("launch dialog: got status %d, want 200", st)
	}
	browserDo(t, ctx, "fill launch form",
		chromedp.WaitVisible(tid("launch-form")),
		chromedp.SetValue(tid("field-name"), name),
		chromedp.SetValue(tid("field-image"), imageID),
		chromedp.SetValue(tid("field-flavor"), "1"),
		chromedp.SetValue(tid("field-count"), "1"),
	)
	picked := browserRun(t, ctx, "read picked image", chromedp.Evaluate[string](
		`document.querySelector('[data-testid="field-image"]').selectedOptions[0].textContent.trim()`))
	if got, want := picked, "tiny"; got != want {
		t.Fatalf("picked image: got %q, want %q", got, want)
	}
	if st := submit(t, ctx, "launch", chromedp.Click(tid("launch-submit"))); st != 200 {
		t.Fatalf("launch: got status %d, want 200", st)
	}
	browserDo(t, ctx, "wait for the new row", chromedp.WaitVisible(tid(row)))
	if got, want := pagePath(t, ctx), "/project/instances"; got != want {
		t.Fatalf("path after launch: got %q, want %q", got, want)
	}

	// The domain's id, for a cleanup that leaves no domain behind.
	sr := tc.Do(t, "GET", "/compute/v2.1/servers?name="+name, tc.DemoToken(t), nil)
	id := firstID(t, sr, "servers")
	t.Cleanup(func() {
		if strings.Contains(virsh(t, "list", "--all", "--name"), "nimbus-"+id) {
			virsh(t, "destroy", "nimbus-"+id)
			virsh(t, "undefine", "nimbus-"+id)
		}
	})

	// Mark the page and its rows, and read the status in the same step:
	// a reload would clear window.__noReload, and the rows' tbody loses
	// its mark only when htmx swaps it for a new one.
	first := browserRun(t, ctx, "mark the page", chromedp.Evaluate[string](
		`window.__noReload = 1; document.getElementById("instance-rows").dataset.mark = "first"; `+rowStatusJS(name)))
	if got, want := first, "Build"; got != want {
		t.Fatalf("status of the new row: got %q, want %q", got, want)
	}
	waitPage(t, ctx, 180*time.Second, "status of "+name+" in the list", rowStatusJS(name), "Active")
	if got, want := browserRun(t, ctx, "read the page mark", chromedp.Evaluate[bool](`window.__noReload === 1`)), true; got != want {
		t.Fatalf("page kept its mark while the row turned Active: got %v, want %v (the page was reloaded)", got, want)
	}
	if got, want := browserRun(t, ctx, "read the rows mark", chromedp.Evaluate[bool](
		`document.getElementById("instance-rows").dataset.mark === undefined`)), true; got != want {
		t.Errorf("rows swapped by htmx: got %v, want %v", got, want)
	}
	if got, want := pagePath(t, ctx), "/project/instances"; got != want {
		t.Errorf("path while waiting: got %q, want %q", got, want)
	}
	t.Logf("launch to Active in the list: %v", time.Since(began).Round(100*time.Millisecond))

	// The detail page, through the row's link.
	if st := submit(t, ctx, "open detail", chromedp.Click(chromedp.CSS(`[data-testid="`+row+`"] a`))); st != 200 {
		t.Fatalf("detail page: got status %d, want 200", st)
	}
	browserDo(t, ctx, "wait for detail", chromedp.WaitVisible(tid("instance-live")))
	if got, want := pagePath(t, ctx), "/project/instances/"+id; got != want {
		t.Errorf("detail path: got %q, want %q", got, want)
	}
	if got, want := textOf(t, ctx, "status"), "Active"; got != want {
		t.Errorf("detail status: got %q, want %q", got, want)
	}
	for btn, want := range map[string]bool{"action-stop": true, "action-delete": true, "action-start": false} {
		if got := present(t, ctx, btn); got != want {
			t.Errorf("%s present on an active instance: got %v, want %v", btn, got, want)
		}
	}

	shot := browserRun(t, ctx, "screenshot detail", chromedp.FullScreenshot(100))
	if err := os.MkdirAll(artifactDir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(artifactDir, "browser-launch.png")
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(shot, []byte("\x89PNG")) {
		t.Errorf("screenshot: got a non-PNG image, want PNG")
	}
	t.Logf("screenshot: %s (%d bytes)", file, len(shot))

	browserConsole(t, ctx, tc, id)

	// Back to the detail page to delete from there.
	browserDo(t, ctx, "reopen detail",
		chromedp.Navigate(tc.URL+"/project/instances/"+id),
		chromedp.WaitVisible(tid("instance-live")),
	)

	// Delete, accepting the confirmation the button asks for. The click
	// waits while the dialog is open, so another goroutine answers it.
	dctx, stopDialogs := context.WithCancel(ctx)
	dialogs := chromedp.Events(dctx, cdppage.JavascriptDialogOpening)
	asked := make(chan cdppage.EventJavascriptDialogOpening, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			select {
			case asked <- ev:
			default:
			}
			chromedp.Call(dctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	st := submit(t, ctx, "delete", chromedp.Click(tid("action-delete")))
	stopDialogs()
	<-done
	if st != 200 {
		t.Fatalf("delete: got status %d, want 200", st)
	}
	select {
	case ev := <-asked:
		if ev.Type != cdppage.DialogTypeConfirm || !strings.Contains(ev.Message, name) {
			t.Errorf("delete dialog: got %s %q, want a confirm naming %s", ev.Type, ev.Message, name)
		}
	default:
		t.Errorf("delete dialog: none opened, want a confirm")
	}
	if got, want := pagePath(t, ctx), "/project/instances"; got != want {
		t.Errorf("path after delete: got %q, want %q", got, want)
	}
	browserDo(t, ctx, "mark the page again", chromedp.Evaluate[chromedp.Void](`window.__noReload = 2`))
	waitPage(t, ctx, 120*time.Second, "row of "+name, rowStatusJS(name), "")
	if got, want := browserRun(t, ctx, "read the page mark", chromedp.Evaluate[bool](`window.__noReload === 2`)), true; got != want {
		t.Errorf("page kept its mark while the row went away: got %v, want %v (the page was reloaded)", got, want)
	}
	t.Logf("browser part: %v", time.Since(began).Round(100*time.Millisecond))

	if r := tc.Do(t, "GET", "/compute/v2.1/servers?name="+name, tc.DemoToken(t), nil); r.Status != 200 || strings.Contains(string(r.Body), id) {
		t.Errorf("servers after delete: got %d %s, want 200 without %s", r.Status, r.Body, id)
	}
	if all := virsh(t, "list", "--all", "--name"); strings.Contains(all, "nimbus-"+id) {
		t.Errorf("domain still defined after delete:\n%s", all)
	}
}
