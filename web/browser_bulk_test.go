package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestBrowserBulk: on the instance list, two rows are selected and
// stopped with one click; the per-row results appear, the rows turn
// Shutoff by themselves, and the selection survives those refreshes.
func TestBrowserBulk(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "bulk-b")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	for _, name := range []string{"one", "two", "three"} {
		tc.ActiveServer(t, demo, name, img)
	}
	ctx := newBrowser(t)
	browserLogin(t, ctx, tc, "demo", tc.DemoPass)
	browserDo(t, ctx, "open the list", chromedp.Navigate(tc.URL+"/project/instances"), chromedp.WaitVisible(tid("instance-table")),
		chromedp.Click(tid("bulk-select-one")), chromedp.Click(tid("bulk-select-two")))
	if n := textOf(t, ctx, "bulk-count"); n != "2" {
		t.Fatalf("selected count %q, want 2", n)
	}
	browserDo(t, ctx, "stop the two", chromedp.Click(tid("bulk-stop")))
	waitPage(t, ctx, 20*time.Second, "the results", `String(document.querySelectorAll('[data-testid="bulk-result"] [data-testid="bulk-ok"]').length)`, "2")
	waitPage(t, ctx, 60*time.Second, "one's status", rowStatusJS("one"), "Shutoff")
	waitPage(t, ctx, 60*time.Second, "two's status", rowStatusJS("two"), "Shutoff")
	if got := rowStatusJSValue(t, ctx, "three"); got != "Active" {
		t.Errorf("three, not selected: %q", got)
	}
	checked := browserRun(t, ctx, "read the selection", chromedp.Evaluate[string](
		`[...document.querySelectorAll("input[data-bulk-row]:checked")].map(b => b.closest("tr").dataset.testid).sort().join(",")`))
	if checked != "instance-row-one,instance-row-two" {
		t.Errorf("selection after the live refreshes: %q", checked)
	}
}

func rowStatusJSValue(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	return browserRun(t, ctx, "read "+name, chromedp.Evaluate[string](rowStatusJS(name)))
}
