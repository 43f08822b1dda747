package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestBrowserLifecycle drives the instance page in headless Chromium on
// two test-driver hosts: a snapshot from the Create Snapshot form, a
// resize from the Resize form whose VERIFY_RESIZE banner appears without
// a reload and confirms it, then shelve and unshelve, each state shown as
// it changes (htmx polls the page while a task runs; nothing reloads it).
func TestBrowserLifecycle(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "br-a")
	tc.StartAgent(t, "br-b")
	tc.WaitHosts(t, 2)
	demo := tc.DemoToken(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "web", "flavorRef": "1", "imageRef": tc.ActiveImage(t)})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)

	ctx := newBrowserFor(t, 90*time.Second)
	browserLogin(t, ctx, tc, "demo", tc.DemoPass)
	open := func() {
		t.Helper()
		browserDo(t, ctx, "open the instance", chromedp.Navigate(tc.URL+"/project/instances/"+id),
			chromedp.WaitVisible(tid("instance-live")))
	}
	status := `(() => { const s = document.querySelector('[data-testid="instance-actions"] [data-testid="status"]'); return s ? s.textContent.trim() : ""; })()`
	// mark makes a reload visible: it clears window.__noReload.
	mark := func() { browserRun(t, ctx, "mark the page", chromedp.Evaluate[int](`window.__noReload = 1`)) }
	notReloaded := func(what string) {
		t.Helper()
		if !browserRun(t, ctx, "read the mark", chromedp.Evaluate[bool](`window.__noReload === 1`)) {
			t.Errorf("%s: the page was reloaded", what)
		}
	}

	// Create Snapshot: the image appears and becomes active.
	open()
	browserDo(t, ctx, "name the snapshot", chromedp.SetValue(tid("snapshot-name"), "web-snap"))
	if st := submit(t, ctx, "create the snapshot", chromedp.Click(tid("action-snapshot"))); st != 200 {
		t.Fatalf("snapshot: status %d", st)
	}
	controllertest.WaitFor(t, time.Minute, "the snapshot image active", func() bool {
		ims := tc.Do(t, "GET", "/image/v2/images?name=web-snap", demo, nil).JSON(t)["images"].([]any)
		return len(ims) == 1 && ims[0].(map[string]any)["status"] == "active"
	})
	controllertest.WaitFor(t, time.Minute, "the snapshot's task over", func() bool {
		return tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)["OS-EXT-STS:task_state"] == nil
	})

	// Resize to m1.small: RESIZE, then VERIFY_RESIZE with its banner.
	open()
	browserDo(t, ctx, "open the resize form", chromedp.Click(chromedp.CSS(`[data-testid="resize-form"] summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#resize-2`)), chromedp.Click(chromedp.CSS(`#resize-2`)))
	if !browserRun(t, ctx, "read the choice", chromedp.Evaluate[bool](`document.getElementById("resize-2").checked`)) {
		// (htmx's default trigger of the page's live part was a click:
		// any click in it reloaded it and closed this form.)
		t.Fatal("m1.small is not chosen after clicking it")
	}
	if st := submit(t, ctx, "resize", chromedp.Click(tid("action-resize"))); st != 200 {
		t.Fatalf("resize: status %d", st)
	}
	mark()
	waitPage(t, ctx, time.Minute, "status after the resize", status, "Verify resize")
	browserDo(t, ctx, "the banner", chromedp.WaitVisible(tid("verify-resize-banner")))
	notReloaded("resize")
	if st := submit(t, ctx, "confirm", chromedp.Click(tid("action-confirm-resize"))); st != 200 {
		t.Fatalf("confirm: status %d", st)
	}
	mark()
	waitPage(t, ctx, time.Minute, "status after confirm", status, "Active")
	notReloaded("confirm")
	if s := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any); s["flavor"].(map[string]any)["id"] != "2" {
		t.Errorf("flavor after the resize: %v", s["flavor"])
	}

	// Shelve (offloaded at once), unshelve.
	if st := submit(t, ctx, "shelve", chromedp.Click(tid("action-shelve"))); st != 200 {
		t.Fatalf("shelve: status %d", st)
	}
	mark()
	waitPage(t, ctx, time.Minute, "status after shelve", status, "Shelved offloaded")
	notReloaded("shelve")
	if st := submit(t, ctx, "unshelve", chromedp.Click(tid("action-unshelve"))); st != 200 {
		t.Fatalf("unshelve: status %d", st)
	}
	mark()
	waitPage(t, ctx, time.Minute, "status after unshelve", status, "Active")
	notReloaded("unshelve")
}
