package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestBrowserDarkMode: the portal follows the system's colour scheme
// until the header's button chooses one, and the choice outlives a
// reload; dark means a dark page (its body's background), and keyboard
// focus shows an outline.
func TestBrowserDarkMode(t *testing.T) {
	tc := controllertest.New(t, nil)
	ctx := newBrowser(t)
	browserLogin(t, ctx, tc, "demo", tc.DemoPass)
	scheme := func(value string) {
		t.Helper()
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: value}}}); err != nil {
			t.Fatal(err)
		}
	}
	dark := func() bool {
		t.Helper()
		return browserRun(t, ctx, "read the theme", chromedp.Evaluate[bool](`document.documentElement.classList.contains("dark")`))
	}
	background := func() string {
		t.Helper()
		return browserRun(t, ctx, "read the background", chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	}

	scheme("light")
	if dark() {
		t.Fatal("dark on a light system with no choice made")
	}
	light := background()
	scheme("dark")
	browserDo(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(tid("page-title")))
	if !dark() || background() == light {
		t.Fatalf("the page did not follow the system to dark (dark %v, background %s, css has dark: %v)", dark(), background(),
			browserRun(t, ctx, "css", chromedp.Evaluate[string](`[...document.styleSheets].map(s => [...s.cssRules].filter(r => r.cssText.includes(".dark")).length).join(",")`)))
	}
	browserDo(t, ctx, "choose light", chromedp.Click(tid("theme-toggle"))) // system -> light
	if dark() {
		t.Error("chose light on a dark system: still dark")
	}
	browserDo(t, ctx, "choose dark", chromedp.Click(tid("theme-toggle"))) // light -> dark
	scheme("light")
	browserDo(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(tid("page-title")))
	if !dark() {
		t.Error("the dark choice did not outlive a reload on a light system")
	}
	png := browserRun(t, ctx, "screenshot", chromedp.CaptureScreenshot())
	os.MkdirAll(artifactDir, 0o755)
	os.WriteFile(filepath.Join(artifactDir, "dark-overview.png"), png, 0o644)

	// Keyboard focus: Tab to the first link shows an outline.
	browserDo(t, ctx, "tab", chromedp.KeyEvent("\t"))
	if o := browserRun(t, ctx, "read the focus outline", chromedp.Evaluate[string](
		`document.activeElement === document.body ? "none" : getComputedStyle(document.activeElement).outlineStyle`)); o == "none" || o == "" {
		t.Errorf("the focused element shows no outline (%q)", o)
	}
}
