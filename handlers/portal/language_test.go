package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// getLang fetches path as a browser whose Accept-Language is al.
func getLang(b *controllertest.FormClient, tc *controllertest.Cloud, path, al string) controllertest.Page {
	req, _ := http.NewRequest("GET", tc.URL+path, nil)
	req.Header.Set("Accept-Language", al)
	return b.Do(req)
}

// TestPortalLanguage: the language comes from the user's saved choice,
// then the switcher's cookie, then Accept-Language; the switcher saves a
// signed-in user's choice on the user, so it follows them to another
// browser.
func TestPortalLanguage(t *testing.T) {
	tc := controllertest.New(t, nil)
	b := tc.NewFormClient(t)

	// Accept-Language alone.
	p := getLang(b, tc, "/auth/login", "zh-CN,zh;q=0.9,en;q=0.5")
	if !strings.Contains(p.Body, `<html lang="zh-CN">`) || !strings.Contains(p.Body, "用户名") {
		t.Fatalf("login page for a Chinese browser is not Chinese:\n%.600s", p.Body)
	}
	if p := getLang(b, tc, "/auth/login", "en-GB"); !strings.Contains(p.Body, `<html lang="en">`) || !strings.Contains(p.Body, "User name") {
		t.Fatal("login page for an English browser is not English")
	}

	// Signed out, the switcher sets a cookie that wins over the header.
	if p := b.Post("/lang", url.Values{"lang": {"zh-CN"}, "next": {"/auth/login?next=/project/"}}); p.Status != http.StatusSeeOther || p.Location != "/auth/login?next=%2Fproject%2F" {
		t.Fatalf("switch signed out: got %d %q", p.Status, p.Location)
	}
	if p := getLang(b, tc, "/auth/login", "en"); !strings.Contains(p.Body, "用户名") {
		t.Fatal("the switcher's cookie did not win over Accept-Language")
	}
	if p := b.Post("/lang", url.Values{"lang": {"fr"}}); p.Status != http.StatusBadRequest {
		t.Errorf("unknown language: got %d, want 400", p.Status)
	}
	if p := b.Post("/lang", url.Values{"lang": {"en"}, "next": {"https://evil.example/"}}); p.Location != "/project/" {
		t.Errorf("next to another site: redirected to %q", p.Location)
	}

	// Signed in: the choice is saved on the user.
	over := b.Login("demo", tc.DemoPass)
	if !strings.Contains(over.Body, "Overview") {
		t.Fatal("the cookie's English did not carry into the session")
	}
	if p := b.Post("/lang", url.Values{"lang": {"zh-CN"}, "next": {"/project/"}}); p.Status != http.StatusForbidden {
		t.Errorf("signed-in switch without the form token: got %d, want 403", p.Status)
	}
	p = b.Post("/lang", url.Values{"lang": {"zh-CN"}, "next": {"/project/"}, "_csrf": {controllertest.CSRFOf(t, over)}})
	if p.Status != http.StatusSeeOther || p.Location != "/project/" {
		t.Fatalf("signed-in switch: got %d %q", p.Status, p.Location)
	}
	if p := getLang(b, tc, "/project/", "en"); !strings.Contains(p.Body, "概况") || !strings.Contains(p.Body, `<option value="zh-CN" selected lang="zh-CN">简体中文</option>`) {
		t.Fatalf("overview after switching is not Chinese:\n%.800s", p.Body)
	}

	// Another browser, English everywhere: the saved choice wins.
	b2 := tc.NewFormClient(t)
	lp := getLang(b2, tc, "/auth/login", "en")
	res := b2.Post("/auth/login", url.Values{"_csrf": {controllertest.CSRFOf(t, lp)}, "username": {"demo"}, "password": {tc.DemoPass}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("login: %d", res.Status)
	}
	if p := getLang(b2, tc, "/project/", "en"); !strings.Contains(p.Body, "概况") {
		t.Fatal("the saved language did not follow the user to another browser")
	}
}
