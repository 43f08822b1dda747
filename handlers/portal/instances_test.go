package portal_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

var versionRe = regexp.MustCompile(`data-version="([0-9a-f]+)"`)

func TestPortalInstances(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "sim-p")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	b := tc.NewFormClient(t)
	over := b.Login("demo", tc.DemoPass)
	tok := controllertest.CSRFOf(t, over)
	if !strings.Contains(over.Body, `data-testid="chart-instances"`) || !strings.Contains(over.Body, "<svg") {
		t.Error("overview has no usage charts")
	}
	lp := b.Get("/project/instances/launch")
	if lp.Status != 200 || !strings.Contains(lp.Body, `data-quota="instances"`) || !strings.Contains(lp.Body, "m1.tiny (1 VCPU, 512 MB RAM, 1 GB disk)") {
		t.Fatalf("launch page: %d", lp.Status)
	}
	// Missing fields are shown next to their inputs.
	p := b.Post("/project/instances", url.Values{"_csrf": {tok}, "name": {""}, "count": {"1"}})
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, `data-testid="error-name"`) || !strings.Contains(p.Body, `data-testid="error-flavor"`) {
		t.Errorf("empty launch: %d", p.Status)
	}
	// Over quota: refused by the server with the resource named.
	p = b.Post("/project/instances", url.Values{"_csrf": {tok}, "name": {"many"}, "image": {img}, "flavor": {"1"}, "count": {"11"}})
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "Quota exceeded for Instances") {
		t.Errorf("over-quota launch: %d", p.Status)
	}
	p = b.Post("/project/instances", url.Values{"_csrf": {tok}, "name": {"web"}, "image": {img}, "flavor": {"1"}, "count": {"1"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("launch: %d %s", p.Status, p.Body)
	}
	list := b.Get("/project/instances")
	if !strings.Contains(list.Body, `data-testid="instance-row-web"`) {
		t.Fatal("the launched instance is not listed")
	}
	// The rows fragment answers 204 while nothing changes, and new rows
	// once something does: the page updates without a reload.
	ver := versionRe.FindStringSubmatch(list.Body)[1]
	// 60 s: a test-driver build takes a second alone, but CI runs this
	// beside the QEMU suites on two cores (it once took over 20 s there).
	controllertest.WaitFor(t, 60*time.Second, "the row to turn Active", func() bool {
		r := b.Get("/project/instances/rows?v=" + ver)
		if r.Status == http.StatusOK {
			ver = versionRe.FindStringSubmatch(r.Body)[1]
			return strings.Contains(r.Body, ">Active<")
		}
		return false
	})
	if r := b.Get("/project/instances/rows?v=" + ver); r.Status != http.StatusNoContent {
		t.Errorf("rows with the current version: %d, want 204", r.Status)
	}
	id := tc.Do(t, "GET", "/compute/v2.1/servers?name=web", tc.DemoToken(t), nil).JSON(t)["servers"].([]any)[0].(map[string]any)["id"].(string)
	d := b.Get("/project/instances/" + id)
	if !strings.Contains(d.Body, `data-testid="action-stop"`) || strings.Contains(d.Body, `data-testid="action-start"`) {
		t.Error("an active instance must offer stop and not start")
	}
	if p := b.Post("/project/instances/"+id+"/stop", url.Values{"_csrf": {tok}}); p.Status != http.StatusSeeOther {
		t.Fatalf("stop: %d", p.Status)
	}
	controllertest.WaitFor(t, 20*time.Second, "Shutoff", func() bool {
		return strings.Contains(b.Get("/project/instances/"+id).Body, ">Shutoff<")
	})
	if d := b.Get("/project/instances/" + id); !strings.Contains(d.Body, `data-testid="action-start"`) || !strings.Contains(d.Body, "<td>Stop</td>") {
		t.Error("a stopped instance must offer start and log the stop")
	}
	if p := b.Post("/project/instances/"+id+"/stop", url.Values{"_csrf": {tok}}); p.Status != http.StatusSeeOther {
		t.Errorf("stop while stopped: %d (want a redirect with a notice)", p.Status)
	}
	if p := b.Post("/project/instances/"+id+"/delete", url.Values{}); p.Status != http.StatusForbidden {
		t.Errorf("delete without CSRF: %d", p.Status)
	}
	if p := b.Post("/project/instances/"+id+"/delete", url.Values{"_csrf": {tok}}); p.Status != http.StatusSeeOther {
		t.Errorf("delete: %d", p.Status)
	}
	controllertest.WaitFor(t, 20*time.Second, "the row to go", func() bool {
		return !strings.Contains(b.Get("/project/instances").Body, "instance-row-web")
	})
}

func TestPortalQuotas(t *testing.T) {
	tc := controllertest.New(t, nil)
	img := tc.ActiveImage(t)
	demo := tc.DemoToken(t)
	tc.CreateServer(t, demo, map[string]any{"name": "q1", "flavorRef": "1", "imageRef": img, "min_count": 3, "max_count": 3})
	a := tc.NewFormClient(t)
	over := a.Login("admin", tc.AdminPass)
	tok := controllertest.CSRFOf(t, over)
	list := a.Get("/admin/quotas")
	if !strings.Contains(list.Body, `data-testid="quota-row-demo"`) || !strings.Contains(list.Body, "3 of 10") {
		t.Fatalf("quotas page does not show demo's use: %d", list.Status)
	}
	pid := tc.Do(t, "GET", "/identity/v3/projects?name=demo", tc.AdminToken(t), nil).JSON(t)["projects"].([]any)[0].(map[string]any)["id"].(string)
	form := url.Values{"_csrf": {tok}, "instances": {"2"}, "cores": {"20"}, "ram": {"51200"}, "key_pairs": {"100"},
		"metadata_items": {"128"}, "server_groups": {"10"}, "server_group_members": {"10"}}
	p := a.Post("/admin/quotas/"+pid, form)
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, `data-testid="error-instances"`) {
		t.Errorf("lowering below use without force: %d", p.Status)
	}
	form.Set("force", "on")
	if p := a.Post("/admin/quotas/"+pid, form); p.Status != http.StatusSeeOther {
		t.Errorf("with force: %d", p.Status)
	}
	q := tc.Do(t, "GET", "/compute/v2.1/os-quota-sets/"+pid, demo, nil).JSON(t)["quota_set"].(map[string]any)
	if q["instances"] != 2.0 {
		t.Errorf("quota after forced save: %v", q)
	}
	d := tc.NewFormClient(t)
	d.Login("demo", tc.DemoPass)
	if p := d.Get("/admin/quotas"); p.Status != http.StatusForbidden {
		t.Errorf("member on the quotas page: %d", p.Status)
	}
}
