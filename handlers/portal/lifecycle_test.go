package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestPortalLifecycleActions drives pause, snapshot, rebuild, rescue,
// shelve and unshelve from the instance page: each button is there only
// when the lifecycle table allows it, each reaches its state, the
// snapshot form makes an image, and the page speaks Chinese to a browser
// that asks for it.
func TestPortalLifecycleActions(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "portal-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "web", "flavorRef": "1", "imageRef": img})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	b := tc.NewFormClient(t)
	tok := controllertest.CSRFOf(t, b.Login("demo", tc.DemoPass))
	page := func() string { t.Helper(); return b.Get("/project/instances/" + id).Body }
	has := func(body string, buttons ...string) bool {
		for _, x := range buttons {
			if !strings.Contains(body, `data-testid="`+x+`"`) {
				return false
			}
		}
		return true
	}
	post := func(path string, form url.Values) controllertest.Page {
		t.Helper()
		form.Set("_csrf", tok)
		p := b.Post("/project/instances/"+id+"/"+path, form)
		if p.Status != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", path, p.Status, p.Body)
		}
		return p
	}
	await := func(status string) {
		t.Helper()
		tc.WaitStatus(t, demo, id, status, time.Minute)
		controllertest.WaitFor(t, 30*time.Second, "no task on "+status, func() bool {
			s := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
			return s["OS-EXT-STS:task_state"] == nil
		})
	}
	d := page()
	if !has(d, "action-pause", "action-suspend", "action-shelve", "action-rescue", "snapshot-form", "rebuild-form") ||
		has(d, "action-unpause") || has(d, "action-unshelve") || has(d, "action-shelve-offload") {
		t.Fatalf("an active instance's buttons are wrong:\n%s", d)
	}
	post("pause", url.Values{})
	await("PAUSED")
	if d := page(); !has(d, "action-unpause") || has(d, "action-pause") || has(d, "rebuild-form") {
		t.Error("a paused instance must offer unpause, not pause or rebuild")
	}
	post("unpause", url.Values{})
	await("ACTIVE")
	post("snapshot", url.Values{"name": {"web-snap"}})
	controllertest.WaitFor(t, time.Minute, "the snapshot image", func() bool {
		ims := tc.Do(t, "GET", "/image/v2/images?name=web-snap", demo, nil).JSON(t)["images"].([]any)
		return len(ims) == 1 && ims[0].(map[string]any)["status"] == "active"
	})
	await("ACTIVE")
	post("rebuild", url.Values{"image": {img}})
	await("ACTIVE")
	post("rescue", url.Values{})
	await("RESCUE")
	if d := page(); !has(d, "action-unrescue") || has(d, "action-rescue") {
		t.Error("a rescued instance must offer unrescue only")
	}
	post("unrescue", url.Values{})
	await("ACTIVE")
	post("shelve", url.Values{})
	await("SHELVED_OFFLOADED")
	if d := page(); !has(d, "action-unshelve") || has(d, "action-shelve") || has(d, "snapshot-form") {
		t.Error("an offloaded instance must offer unshelve only")
	}
	// In Chinese: the glossary's words.
	req, _ := http.NewRequest("GET", tc.URL+"/project/instances/"+id, nil)
	req.Header.Set("Accept-Language", "zh-CN,zh;q=0.9")
	res, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	zh := controllertest.ReadPage(t, res).Body
	for _, word := range []string{"取消搁置", "已搁置卸载"} {
		if !strings.Contains(zh, word) {
			t.Errorf("the zh-CN page lacks %q", word)
		}
	}
	post("unshelve", url.Values{})
	await("ACTIVE")
	// A refused action (the state moved on) is a notice, not an error page.
	if p := b.Post("/project/instances/"+id+"/unshelve", url.Values{"_csrf": {tok}}); p.Status != http.StatusSeeOther {
		t.Errorf("unshelve of an active instance: %d, want a redirect with a notice", p.Status)
	}
}

// TestPortalLaunchIntoServerGroup: the launch page offers the project's
// server groups (with their policy) and a launch made there joins the
// chosen group.
func TestPortalLaunchIntoServerGroup(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "group-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	r := tc.Do(t, "POST", "/compute/v2.1/os-server-groups", demo,
		map[string]any{"server_group": map[string]any{"name": "web-tier", "policies": []string{"anti-affinity"}}})
	group := r.JSON(t)["server_group"].(map[string]any)["id"].(string)
	b := tc.NewFormClient(t)
	tok := controllertest.CSRFOf(t, b.Login("demo", tc.DemoPass))
	lp := b.Get("/project/instances/launch")
	if !strings.Contains(lp.Body, `data-testid="field-group"`) || !strings.Contains(lp.Body, "web-tier (anti-affinity: all different hosts)") {
		t.Fatalf("the launch page does not offer the group:\n%s", lp.Body)
	}
	p := b.Post("/project/instances", url.Values{"_csrf": {tok}, "name": {"grouped"}, "image": {img}, "flavor": {"1"},
		"count": {"1"}, "group": {group}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("launch: %d %s", p.Status, p.Body)
	}
	g := tc.Do(t, "GET", "/compute/v2.1/os-server-groups/"+group, demo, nil).JSON(t)["server_group"].(map[string]any)
	if len(g["members"].([]any)) != 1 {
		t.Errorf("group members after the launch: %v", g["members"])
	}
	// A group that is not there is an error next to the field.
	p = b.Post("/project/instances", url.Values{"_csrf": {tok}, "name": {"x"}, "image": {img}, "flavor": {"1"},
		"count": {"1"}, "group": {"6a3c0b6e-0000-4000-8000-000000000000"}})
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, `data-testid="error-group"`) {
		t.Errorf("launch into a missing group: %d", p.Status)
	}
}

// TestPortalResize: the Resize form compares the current flavor with the
// others and the project's RAM after each, with a choice over quota
// disabled; a resize from it reaches VERIFY_RESIZE, whose banner (in
// Chinese for a browser that asks) confirms it; Migrate is an admin's
// button only.
func TestPortalResize(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "portal-a")
	tc.StartAgent(t, "portal-b")
	tc.WaitHosts(t, 2)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "web", "flavorRef": "1", "imageRef": tc.ActiveImage(t)})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	s := tc.WaitStatus(t, admin, id, "ACTIVE", time.Minute)
	project := s["tenant_id"].(string)
	// RAM quota 3072 MB with 512 in use: m1.small (2048) fits, m1.medium (4096) does not.
	if q := tc.Do(t, "PUT", "/compute/v2.1/os-quota-sets/"+project, admin,
		map[string]any{"quota_set": map[string]any{"ram": 3072}}); q.Status != 200 {
		t.Fatalf("quota: %d %s", q.Status, q.Body)
	}
	b := tc.NewFormClient(t)
	tok := controllertest.CSRFOf(t, b.Login("demo", tc.DemoPass))
	d := b.Get("/project/instances/" + id).Body
	form := between(d, `data-testid="resize-form"`, `</details>`)
	if !strings.Contains(form, `data-testid="resize-current"`) || !strings.Contains(form, `data-testid="resize-to-2"`) {
		t.Fatalf("resize form without the current flavor and m1.small:\n%s", form)
	}
	if small := between(form, `data-testid="resize-to-2"`, `</tr>`); !strings.Contains(small, "2048 / 3072") || strings.Contains(small, "disabled") {
		t.Errorf("m1.small's row must show RAM 2048 / 3072 after, selectable:\n%s", small)
	}
	if medium := between(form, `data-testid="resize-to-3"`, `</tr>`); !strings.Contains(medium, "disabled") || !strings.Contains(medium, "resize-over") {
		t.Errorf("m1.medium's row must be over quota and disabled:\n%s", medium)
	}
	if strings.Contains(d, `data-testid="action-migrate"`) {
		t.Error("a member sees Migrate")
	}
	if p := b.Post("/project/instances/"+id+"/resize", url.Values{"_csrf": {tok}, "flavor": {"2"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("resize: %d %s", p.Status, p.Body)
	}
	tc.WaitStatus(t, demo, id, "VERIFY_RESIZE", time.Minute)
	req, _ := http.NewRequest("GET", tc.URL+"/project/instances/"+id, nil)
	req.Header.Set("Accept-Language", "zh-CN")
	zh := b.Do(req).Body
	banner := between(zh, `data-testid="verify-resize-banner"`, `</div>`)
	if !strings.Contains(banner, "m1.small") || !strings.Contains(banner, "m1.tiny") || !strings.Contains(banner, "确认调整大小") ||
		!strings.Contains(banner, "回滚调整大小") || !strings.Contains(zh, "待确认调整大小") {
		t.Errorf("the VERIFY_RESIZE banner in Chinese:\n%s", banner)
	}
	if p := b.Post("/project/instances/"+id+"/confirm-resize", url.Values{"_csrf": {tok}}); p.Status != http.StatusSeeOther {
		t.Fatalf("confirm: %d %s", p.Status, p.Body)
	}
	tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	if strings.Contains(b.Get("/project/instances/"+id).Body, `data-testid="verify-resize-banner"`) {
		t.Error("the banner outlives the confirm")
	}
	ab := tc.NewFormClient(t)
	controllertest.CSRFOf(t, ab.Login("admin", tc.AdminPass))
	if !strings.Contains(ab.Get("/project/instances/"+id).Body, `data-testid="action-migrate"`) {
		t.Error("an admin does not see Migrate")
	}
}

// between is the part of s from the first from to the next to after it.
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return s
}
