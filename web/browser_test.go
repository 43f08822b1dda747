package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// These tests drive the portal in a real headless Chromium. Each starts
// its own controller (controllertest.New) and its own browser with a fresh
// profile, so they share nothing.

const chromiumPath = "/usr/bin/chromium"

// artifactDir is where screenshots go; go test runs in web/.
const artifactDir = "../test-artifacts"

// tid is the CSS selector of the element with data-testid id.
func tid(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }

// newBrowser starts a headless Chromium for the test and returns its
// context, which ends after 60s at the latest. The browser is stopped and
// waited for when the test function returns.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return newBrowserFor(t, 60*time.Second)
}

// newBrowserFor is newBrowser with a lifetime of d (a QEMU launch can take
// minutes on a busy machine).
func newBrowserFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		msg := chromiumPath + " is not available: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	ctx, cancelTimeout := context.WithTimeout(context.Background(), d)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	// Cleanups run last-in first-out: close the tab and browser, wait for
	// the process to exit, then drop the timeout. The profile directory
	// (registered earlier by t.TempDir) is removed after all of them.
	t.Cleanup(cancelTimeout)
	t.Cleanup(cancelAlloc)
	t.Cleanup(cancelBrowser)
	// Start the browser now, with no page yet.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// browserDo runs steps and fails the test on error.
func browserDo(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// browserRun runs one action and returns its value, failing the test on error.
func browserRun[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// submit runs steps that cause a page load (a click on a submit button),
// waits for the new document and returns its HTTP status.
func submit(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp == nil {
		t.Fatalf("%s: no document response", what)
	}
	return resp.Status
}

// textOf returns the trimmed text of the element with data-testid id.
func textOf(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	return strings.TrimSpace(browserRun(t, ctx, "read "+id, chromedp.TextContent(tid(id))))
}

// present reports whether an element with data-testid id is in the page.
func present(t *testing.T, ctx context.Context, id string) bool {
	t.Helper()
	return browserRun(t, ctx, "look for "+id,
		chromedp.Evaluate[bool](`document.querySelector('[data-testid="`+id+`"]') !== null`))
}

// pagePath returns the path of the page the browser shows.
func pagePath(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc := browserRun(t, ctx, "read location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("parse location %q: %v", loc, err)
	}
	return u.Path
}

// browserLogin signs in through the login form and waits for the page.
func browserLogin(t *testing.T, ctx context.Context, tc *controllertest.Cloud, user, password string) {
	t.Helper()
	browserDo(t, ctx, "open login page",
		chromedp.Navigate(tc.URL+"/auth/login"),
		chromedp.WaitVisible(tid("login-form")),
		chromedp.SetValue(tid("field-username"), user),
		chromedp.SetValue(tid("field-password"), password),
	)
	if st := submit(t, ctx, "submit login", chromedp.Click(tid("login-submit"))); st != 200 {
		t.Fatalf("login as %s: got status %d, want 200", user, st)
	}
	browserDo(t, ctx, "wait for page title after login", chromedp.WaitVisible(tid("page-title")))
}

// firstID returns the id of the first item of list in an API answer.
func firstID(t *testing.T, r controllertest.Resp, list string) string {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("list %s: got %d %s, want 200", list, r.Status, r.Body)
	}
	items, _ := r.JSON(t)[list].([]any)
	if len(items) == 0 {
		t.Fatalf("list %s: got none in %s, want one", list, r.Body)
	}
	id, _ := items[0].(map[string]any)["id"].(string)
	if id == "" {
		t.Fatalf("list %s: first item has no id: %s", list, r.Body)
	}
	return id
}

func TestBrowserDemoLoginOverviewSwitchLogout(t *testing.T) {
	tc := controllertest.New(t, nil)

	// Give demo a second project so that the switcher shows.
	admin := tc.AdminToken(t)
	r := tc.Do(t, "POST", "/identity/v3/projects", admin, map[string]any{"project": map[string]any{"name": "demo2"}})
	if r.Status != 201 {
		t.Fatalf("create project demo2: got %d %s, want 201", r.Status, r.Body)
	}
	demo2, _ := r.JSON(t)["project"].(map[string]any)["id"].(string)
	member := firstID(t, tc.Do(t, "GET", "/identity/v3/roles?name=member", admin, nil), "roles")
	demoUser := firstID(t, tc.Do(t, "GET", "/identity/v3/users?name=demo", admin, nil), "users")
	if r := tc.Do(t, "PUT", "/identity/v3/projects/"+demo2+"/users/"+demoUser+"/roles/"+member, admin, nil); r.Status != 204 {
		t.Fatalf("grant member on demo2 to demo: got %d %s, want 204", r.Status, r.Body)
	}

	ctx := newBrowser(t)
	browserLogin(t, ctx, tc, "demo", tc.DemoPass)

	if got, want := pagePath(t, ctx), "/project/"; got != want {
		t.Errorf("path after login: got %q, want %q", got, want)
	}
	if got, want := textOf(t, ctx, "page-title"), "Overview"; got != want {
		t.Errorf("page title: got %q, want %q", got, want)
	}
	if got, want := textOf(t, ctx, "overview-project"), "demo"; got != want {
		t.Errorf("overview project: got %q, want %q", got, want)
	}
	if got, want := present(t, ctx, "nav-overview"), true; got != want {
		t.Errorf("nav-overview present: got %v, want %v", got, want)
	}
	for _, id := range []string{"nav-admin-projects", "nav-section-nav.section.admin"} {
		if got, want := present(t, ctx, id), false; got != want {
			t.Errorf("%s present for demo: got %v, want %v", id, got, want)
		}
	}

	// The overview as an artifact for people to look at.
	// Quality 100 makes a PNG; anything less makes a JPEG.
	shot := browserRun(t, ctx, "screenshot overview", chromedp.FullScreenshot(100))
	if err := os.MkdirAll(artifactDir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(artifactDir, "browser-overview.png")
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(shot, []byte("\x89PNG")) {
		t.Errorf("screenshot: got a non-PNG image, want PNG")
	}
	t.Logf("screenshot: %s (%d bytes)", file, len(shot))

	// Switch to demo2.
	browserDo(t, ctx, "pick demo2",
		chromedp.WaitVisible(tid("project-switcher")),
		chromedp.SetValue(tid("project-select"), demo2),
	)
	picked := browserRun(t, ctx, "read picked option", chromedp.Evaluate[string](
		`document.querySelector('[data-testid="project-select"]').selectedOptions[0].textContent.trim()`))
	if got, want := picked, "demo2"; got != want {
		t.Fatalf("picked option: got %q, want %q", got, want)
	}
	if st := submit(t, ctx, "switch project", chromedp.Click(tid("project-switch"))); st != 200 {
		t.Fatalf("switch project: got status %d, want 200", st)
	}
	browserDo(t, ctx, "wait for overview after switch", chromedp.WaitVisible(tid("overview-project")))
	if got, want := pagePath(t, ctx), "/project/"; got != want {
		t.Errorf("path after switch: got %q, want %q", got, want)
	}
	if got, want := textOf(t, ctx, "overview-project"), "demo2"; got != want {
		t.Errorf("overview project after switch: got %q, want %q", got, want)
	}

	// Sign out: back at the login form, and the session is gone.
	if st := submit(t, ctx, "logout", chromedp.Click(tid("logout"))); st != 200 {
		t.Fatalf("logout: got status %d, want 200", st)
	}
	browserDo(t, ctx, "wait for login form after logout", chromedp.WaitVisible(tid("login-form")))
	if got, want := pagePath(t, ctx), "/auth/login"; got != want {
		t.Errorf("path after logout: got %q, want %q", got, want)
	}
	browserDo(t, ctx, "open overview after logout",
		chromedp.Navigate(tc.URL+"/project/"),
		chromedp.WaitVisible(tid("login-form")),
	)
	if got, want := pagePath(t, ctx), "/auth/login"; got != want {
		t.Errorf("path of /project/ after logout: got %q, want %q", got, want)
	}
	if got, want := present(t, ctx, "page-title"), false; got != want {
		t.Errorf("page-title present after logout: got %v, want %v", got, want)
	}
}

func TestBrowserAdminCreatesProjectWithValidation(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin := tc.AdminToken(t)
	countProjects := func() int {
		t.Helper()
		r := tc.Do(t, "GET", "/identity/v3/projects", admin, nil)
		if r.Status != 200 {
			t.Fatalf("list projects: got %d %s, want 200", r.Status, r.Body)
		}
		ps, _ := r.JSON(t)["projects"].([]any)
		return len(ps)
	}
	before := countProjects()

	ctx := newBrowser(t)
	browserLogin(t, ctx, tc, "admin", tc.AdminPass)
	if got, want := present(t, ctx, "nav-admin-projects"), true; got != want {
		t.Fatalf("nav-admin-projects present for admin: got %v, want %v", got, want)
	}

	// An empty name is refused next to the field. The new form's name
	// starts empty; it is checked rather than set, because chromedp
	// v0.23.0's SetValue cannot set "" (it sends no argument, so the field
	// becomes "undefined").
	browserDo(t, ctx, "open new project form",
		chromedp.Navigate(tc.URL+"/admin/projects/new"),
		chromedp.WaitVisible(tid("project-form")),
	)
	if got, want := browserRun(t, ctx, "read name", chromedp.Value(tid("field-name"))), ""; got != want {
		t.Fatalf("name on the new form: got %q, want %q", got, want)
	}
	if st := submit(t, ctx, "save empty project", chromedp.Click(tid("project-save"))); st != 422 {
		t.Errorf("save with empty name: got status %d, want 422", st)
	}
	browserDo(t, ctx, "wait for error-name", chromedp.WaitVisible(tid("error-name")))
	if got := textOf(t, ctx, "error-name"); got == "" {
		t.Errorf("error-name text: got empty, want a message")
	}
	if got, want := present(t, ctx, "project-form"), true; got != want {
		t.Errorf("project-form present after failed save: got %v, want %v", got, want)
	}
	// The error sits with the name field, in the same block.
	sameBlock := browserRun(t, ctx, "locate error-name", chromedp.Evaluate[bool](
		`document.querySelector('[data-testid="error-name"]').parentElement.contains(document.querySelector('[data-testid="field-name"]'))`))
	if got, want := sameBlock, true; got != want {
		t.Errorf("error-name next to field-name: got %v, want %v", got, want)
	}
	if got, want := pagePath(t, ctx), "/admin/projects"; got != want {
		t.Errorf("path after failed save: got %q, want %q", got, want)
	}
	if got, want := countProjects(), before; got != want {
		t.Errorf("projects after failed save: got %d, want %d", got, want)
	}

	// A good name creates the project and lists it.
	browserDo(t, ctx, "fill name", chromedp.SetValue(tid("field-name"), "browser-made"))
	if st := submit(t, ctx, "save project", chromedp.Click(tid("project-save"))); st != 200 {
		t.Fatalf("save project: got status %d, want 200", st)
	}
	browserDo(t, ctx, "wait for project row", chromedp.WaitVisible(tid("project-row-browser-made")))
	if got, want := pagePath(t, ctx), "/admin/projects"; got != want {
		t.Errorf("path after save: got %q, want %q", got, want)
	}
	if got, want := present(t, ctx, "error-name"), false; got != want {
		t.Errorf("error-name present after save: got %v, want %v", got, want)
	}
	if got, want := countProjects(), before+1; got != want {
		t.Errorf("projects after save: got %d, want %d", got, want)
	}
}

// TestPortalImagesBrowserUpload drives the upload page's script in
// Chromium: the file goes with a PUT carrying the page's CSRF token, the
// progress bar fills, and the browser returns to the list.
func TestPortalImagesBrowserUpload(t *testing.T) {
	tc := controllertest.New(t, nil)
	ctx := newBrowser(t)
	browserLogin(t, ctx, tc, "demo", tc.DemoPass)
	data := make([]byte, 3<<20+777)
	rand.Read(data)
	sum := md5.Sum(data)
	file := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	browserDo(t, ctx, "open create image form",
		chromedp.Navigate(tc.URL+"/project/images/new"),
		chromedp.WaitVisible(tid("image-form")),
		chromedp.SetValue(tid("field-name"), "browser-img"),
		chromedp.SetValue(tid("field-disk_format"), "raw"),
	)
	if st := submit(t, ctx, "create image", chromedp.Click(tid("image-save"))); st != 200 {
		t.Fatalf("create image: got status %d", st)
	}
	// With script, the upload form shows and the CLI hint hides.
	browserDo(t, ctx, "wait for the upload form", chromedp.WaitVisible(tid("upload-form")), chromedp.WaitNotVisible(tid("upload-nojs")))
	if !present(t, ctx, "upload-progress") {
		t.Fatal("no progress bar")
	}
	// Record the progress bar's last value before the page moves on.
	browserDo(t, ctx, "watch progress", chromedp.Evaluate[chromedp.Void](`
		new MutationObserver(() => {
			sessionStorage.setItem("progress", document.querySelector('[data-upload]').dataset.progress || "");
		}).observe(document.querySelector('[data-upload]'), {attributes: true});`))
	browserDo(t, ctx, "choose file", chromedp.SetUploadFiles(tid("field-file"), []string{file}))
	browserDo(t, ctx, "upload",
		chromedp.Click(tid("image-upload-start")),
		chromedp.WaitVisible(tid("image-row-browser-img")),
	)
	if p := pagePath(t, ctx); p != "/project/images" {
		t.Errorf("after upload the browser is on %s", p)
	}
	if got := textOf(t, ctx, "image-status-browser-img"); got != "Active" {
		t.Errorf("status after browser upload: %q", got)
	}
	if got := browserRun(t, ctx, "read progress", chromedp.Evaluate[string](`sessionStorage.getItem("progress") || ""`)); got != "100" {
		t.Errorf("progress reached %q, want 100", got)
	}
	r := tc.Do(t, "GET", "/image/v2/images?name=browser-img", tc.DemoToken(t), nil).JSON(t)
	ims := r["images"].([]any)
	if len(ims) != 1 || ims[0].(map[string]any)["checksum"] != hex.EncodeToString(sum[:]) {
		t.Errorf("uploaded image: %v, want checksum %x", ims, sum)
	}
}
