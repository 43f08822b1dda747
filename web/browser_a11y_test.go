package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// axeViolation is what axe-core reports of one rule a page breaks.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// TestBrowserAccessibility runs axe-core (from npm) on the main pages,
// and on some of them in dark and at a phone's width, and fails on any
// serious or critical violation.
func TestBrowserAccessibility(t *testing.T) {
	axe, err := os.ReadFile("../node_modules/axe-core/axe.min.js")
	if err != nil {
		t.Fatalf("axe-core is not installed (npm ci): %v", err)
	}
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "a11y-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	id := tc.ActiveServer(t, demo, "a11y-vm", tc.ActiveImage(t))
	ctx := newBrowserFor(t, 3*time.Minute)
	check := func(name string) {
		t.Helper()
		browserRun(t, ctx, "load axe", chromedp.Evaluate[bool](string(axe)+";true"))
		out := browserRun(t, ctx, "run axe on "+name, chromedp.Evaluate[string](
			`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`,
			chromedp.EvalAwaitPromise))
		var vs []axeViolation
		if err := json.Unmarshal([]byte(out), &vs); err != nil {
			t.Fatalf("%s: axe's answer: %v", name, err)
		}
		for _, v := range vs {
			if v.Impact == "serious" || v.Impact == "critical" {
				var where []string
				for i, n := range v.Nodes {
					if i == 3 {
						where = append(where, "...")
						break
					}
					b, _ := json.Marshal(n.Target)
					where = append(where, string(b))
				}
				t.Errorf("%s: %s (%s): %s at %s", name, v.ID, v.Impact, v.Help, strings.Join(where, " "))
			}
		}
	}
	browserDo(t, ctx, "open the sign-in page", chromedp.Navigate(tc.URL+"/auth/login"), chromedp.WaitVisible(tid("login-form")))
	check("login")
	browserLogin(t, ctx, tc, "demo", tc.DemoPass)
	pages := []struct{ name, path, wait string }{
		{"overview", "/project/", "page-title"},
		{"instances", "/project/instances", "instance-table"},
		{"launch", "/project/instances/launch", "launch-form"},
		{"instance", "/project/instances/" + id, "instance-live"},
		{"images", "/project/images", "image-table"},
		{"networks", "/project/networks", "page-title"},
	}
	for _, p := range pages {
		browserDo(t, ctx, "open "+p.name, chromedp.Navigate(tc.URL+p.path), chromedp.WaitVisible(tid(p.wait)))
		check(p.name)
	}
	// Dark (its colours are app.css's, the same on every page: two pages
	// stand for all) and a phone's width.
	browserRun(t, ctx, "choose dark", chromedp.Evaluate[bool](`localStorage.setItem("nimbus-theme", "dark"); true`))
	for _, p := range []int{1, 3} {
		browserDo(t, ctx, "open "+pages[p].name, chromedp.Navigate(tc.URL+pages[p].path), chromedp.WaitVisible(tid(pages[p].wait)))
		check(pages[p].name + " (dark)")
	}
	browserDo(t, ctx, "phone width", chromedp.EmulateViewport(390, 844))
	for _, p := range pages[:2] {
		browserDo(t, ctx, "open "+p.name, chromedp.Navigate(tc.URL+p.path), chromedp.WaitVisible(tid(p.wait)))
		check(p.name + " (phone)")
	}
}
