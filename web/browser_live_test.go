package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestBrowserLiveTables: a table with no fragment of its own (the
// networks list, the images list) shows a network or image made
// elsewhere without a reload, through the page's event stream.
func TestBrowserLiveTables(t *testing.T) {
	tc := controllertest.New(t, nil)
	ctx := newBrowser(t)
	browserLogin(t, ctx, tc, "demo", tc.DemoPass)
	demo := tc.DemoToken(t)
	for _, c := range []struct {
		path, table, row string
		make             func()
	}{
		{"/project/networks", "network-table", "network-row-made-elsewhere", func() {
			if r := tc.Do(t, "POST", "/networking/v2.0/networks", demo, map[string]any{"network": map[string]any{"name": "made-elsewhere"}}); r.Status != 201 {
				t.Fatalf("create network: %d", r.Status)
			}
		}},
		{"/project/images", "image-table", "image-row-made-elsewhere", func() {
			tc.CreateImage(t, demo, map[string]any{"name": "made-elsewhere", "disk_format": "raw", "container_format": "bare"})
		}},
	} {
		browserDo(t, ctx, "open "+c.path, chromedp.Navigate(tc.URL+c.path), chromedp.WaitVisible(tid(c.table)))
		waitPage(t, ctx, 10*time.Second, "the event stream", `document.documentElement.dataset.live || ""`, "open")
		browserRun(t, ctx, "mark the page", chromedp.Evaluate[int](`window.__noReload = 1`))
		c.make()
		waitPage(t, ctx, 10*time.Second, c.row, `document.querySelector('[data-testid="`+c.row+`"]') ? "shown" : ""`, "shown")
		if !browserRun(t, ctx, "read the mark", chromedp.Evaluate[bool](`window.__noReload === 1`)) {
			t.Errorf("%s: the page was reloaded", c.path)
		}
	}
}

// TestBrowserMonitoringCharts: the Monitoring tab of a fresh instance
// waits for samples, then draws its charts, and keeps redrawing them as
// the host reports (every second here), without a reload.
func TestBrowserMonitoringCharts(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgentOn(t, "chart-host", "test:///default", t.TempDir(), "NIMBUS_AGENT_STATS_INTERVAL=1s")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	id := tc.ActiveServer(t, demo, "charted", tc.ActiveImage(t))
	ctx := newBrowser(t)
	browserLogin(t, ctx, tc, "demo", tc.DemoPass)
	browserDo(t, ctx, "open the Monitoring tab", chromedp.Navigate(tc.URL+"/project/instances/"+id+"?tab=monitoring"),
		chromedp.WaitVisible(tid("monitoring")))
	waitPage(t, ctx, 10*time.Second, "the event stream", `document.documentElement.dataset.live || ""`, "open")
	browserRun(t, ctx, "mark the page", chromedp.Evaluate[int](`window.__noReload = 1`))
	// The newest CPU figure, and how many points the CPU line has.
	const cpuLine = `(() => { const p = document.querySelector('[data-testid="chart-cpu"] path');
		return p ? String(p.getAttribute("d").split(/[ML]/).length - 1) : "0" })()`
	waitPage(t, ctx, 20*time.Second, "the CPU chart", `document.querySelector('[data-testid="chart-cpu"]') ? "drawn" : ""`, "drawn")
	first := browserRun(t, ctx, "count the points", chromedp.Evaluate[string](cpuLine))
	deadline := time.Now().Add(15 * time.Second)
	for browserRun(t, ctx, "count the points", chromedp.Evaluate[string](cpuLine)) == first {
		if time.Now().After(deadline) {
			t.Fatalf("the CPU chart stayed at %s points: not redrawn as samples came", first)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !browserRun(t, ctx, "read the mark", chromedp.Evaluate[bool](`window.__noReload === 1`)) {
		t.Error("the page was reloaded")
	}
}
