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

var (
	quotaEditRe  = regexp.MustCompile(`href="/admin/quotas/([^"]+)" data-testid="quota-edit-demo"`)
	quotaInputRe = regexp.MustCompile(`name="([a-z_]+)" type="number" value="(-?\d*)"`)
	typeDeleteRe = regexp.MustCompile(`/admin/volume_types/([0-9a-f-]{36})/delete`)
)

// chart is the Overview's usage chart of resource key ("" when none).
func chart(page, key string) string { return between(page, `data-testid="chart-`+key+`"`, `</figure>`) }

// TestVolumeQuotasPages: the Overview charts the volume quotas (volumes,
// gigabytes, snapshots) beside the compute ones, counting a volume made
// through the page (in error: no storage host is up); an admin changes
// the demo project's volumes limit from Admin > Quotas, the Cinder API
// and the Overview agree, and a bad limit is a message beside its field.
func TestVolumeQuotasPages(t *testing.T) {
	tc := controllertest.New(t, nil)
	demo := signIn(t, tc, "demo", tc.DemoPass)
	demo.done("/project/volumes", url.Values{"name": {"counted"}, "size": {"2"}}, "/project/volumes")

	over := demo.b.Get("/project/").Body
	for key, want := range map[string]string{"instances": "0 of 10", "volumes": "1 of 10", "gigabytes": "2 of 1,000", "snapshots": "0 of 10"} {
		if c := chart(over, key); !strings.Contains(c, want) {
			t.Errorf("the Overview's %s chart lacks %q:\n%s", key, want, c)
		}
	}
	if !strings.Contains(chart(over, "gigabytes"), "Volume storage (GiB)") {
		t.Error("the gigabytes chart is not labelled Volume storage (GiB)")
	}
	if lim := between(over, `data-testid="limits"`, `</table>`); !strings.Contains(lim, "Volume snapshots") {
		t.Errorf("the limits table lacks the volume limits:\n%s", lim)
	}

	admin := signIn(t, tc, "admin", tc.AdminPass)
	m := quotaEditRe.FindStringSubmatch(admin.b.Get("/admin/quotas").Body)
	if m == nil {
		t.Fatal("Admin > Quotas has no edit link for demo")
	}
	project := m[1]
	form := admin.b.Get("/admin/quotas/" + project).Body
	values := url.Values{}
	for _, in := range quotaInputRe.FindAllStringSubmatch(between(form, `data-testid="quota-form"`, `</form>`), -1) {
		values.Set(in[1], in[2])
	}
	for _, r := range []string{"instances", "volumes", "gigabytes", "snapshots"} {
		if values.Get(r) == "" {
			t.Fatalf("the quota form lacks %s: %v", r, values)
		}
	}
	if !strings.Contains(form, "In use: 1") {
		t.Error("the quota form does not show the volume in use")
	}

	bad := url.Values{}
	for k, v := range values {
		bad[k] = v
	}
	bad.Set("gigabytes", "-2")
	if p := admin.post("/admin/quotas/"+project, bad); p.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.Body, `data-testid="error-gigabytes"`) {
		t.Errorf("a gigabytes limit of -2: %d, want 422 with the message beside the field", p.Status)
	}

	values.Set("volumes", "4")
	values.Set("snapshots", "-1")
	admin.done("/admin/quotas/"+project, values, "/admin/quotas")
	q := tc.Do(t, "GET", "/volume/v3/os-quota-sets/"+project, tc.AdminToken(t), nil).JSON(t)["quota_set"].(map[string]any)
	if q["volumes"] != 4.0 || q["snapshots"] != -1.0 || q["gigabytes"] != 1000.0 {
		t.Errorf("the Cinder API's quota set after the form: %v", q)
	}
	over = demo.b.Get("/project/").Body
	if c := chart(over, "volumes"); !strings.Contains(c, "1 of 4") {
		t.Errorf("the Overview's volumes chart after the new limit:\n%s", c)
	}
	if c := chart(over, "snapshots"); !strings.Contains(c, "0 (no limit)") {
		t.Errorf("the Overview's snapshots chart, unlimited:\n%s", c)
	}

	req, _ := http.NewRequest("GET", tc.URL+"/project/", nil)
	req.Header.Set("Accept-Language", "zh-CN")
	if zh := demo.b.Do(req).Body; !strings.Contains(chart(zh, "gigabytes"), "卷存储 (GiB)") || !strings.Contains(chart(zh, "snapshots"), "卷快照") {
		t.Error("the volume charts in zh-CN are not Chinese")
	}
}

// TestAdminVolumeTypes: an admin creates volume types from Admin > Volume
// Types (private, with a backend name; public without), sees them listed
// with their extra specs as the Cinder API does, has a missing or taken
// name shown beside the field, is refused (a flash) the default type and
// a type a volume uses, deletes a free one; a member is refused.
func TestAdminVolumeTypes(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin := signIn(t, tc, "admin", tc.AdminPass)
	list := admin.b.Get("/admin/volume_types")
	if list.Status != 200 || !strings.Contains(list.Body, `data-testid="nav-admin-volume-types"`) ||
		!strings.Contains(row(list.Body, "volume-type-row-__DEFAULT__"), `data-testid="volume-type-default"`) {
		t.Fatalf("Admin > Volume Types: %d, the menu entry or the default type missing\n%s", list.Status, list.Body)
	}
	if p := admin.b.Get("/admin/volume_types/new"); p.Status != 200 || !strings.Contains(p.Body, `data-testid="field-volume_backend_name"`) {
		t.Fatalf("the create form: %d", p.Status)
	}

	admin.done("/admin/volume_types", url.Values{"name": {"fast"}, "description": {"SSD pool"}, "volume_backend_name": {"lvm-fast"}},
		"/admin/volume_types")
	admin.done("/admin/volume_types", url.Values{"name": {"used"}, "is_public": {"on"}}, "/admin/volume_types")
	list = admin.b.Get("/admin/volume_types")
	if !strings.Contains(list.Body, "Volume type used created.") {
		t.Error("no flash after creating")
	}
	fast := row(list.Body, "volume-type-row-fast")
	if !strings.Contains(fast, "SSD pool") || !strings.Contains(fast, "volume_backend_name=lvm-fast") || !strings.Contains(fast, "<td>No</td>") {
		t.Errorf("the row of fast (private, with its backend):\n%s", fast)
	}
	if used := row(list.Body, "volume-type-row-used"); !strings.Contains(used, "<td>Yes</td>") {
		t.Errorf("the row of used (public):\n%s", used)
	}
	adminTok := tc.AdminToken(t)
	found := false
	for _, x := range tc.Do(t, "GET", "/volume/v3/types", adminTok, nil).JSON(t)["volume_types"].([]any) {
		ty := x.(map[string]any)
		if ty["name"] == "fast" {
			found = ty["is_public"] == false && ty["description"] == "SSD pool" &&
				ty["extra_specs"].(map[string]any)["volume_backend_name"] == "lvm-fast"
		}
	}
	if !found {
		t.Error("the Cinder API does not list fast as made by the form")
	}

	for _, c := range []struct{ name, why string }{{"", "a missing name"}, {"fast", "a taken name"}} {
		if p := admin.post("/admin/volume_types", url.Values{"name": {c.name}}); p.Status != http.StatusUnprocessableEntity ||
			!strings.Contains(p.Body, `data-testid="error-name"`) {
			t.Errorf("%s: %d, want 422 with the message beside the field", c.why, p.Status)
		}
	}

	// A volume of type used (in error: no storage host) keeps it.
	if r := tc.Do(t, "POST", "/volume/v3/volumes", tc.DemoToken(t), map[string]any{"volume": map[string]any{"size": 1, "volume_type": "used"}}); r.Status != 202 {
		t.Fatalf("create a volume of type used: %d %s", r.Status, r.Body)
	}
	ids := map[string]string{}
	for _, name := range []string{"fast", "used", "__DEFAULT__"} {
		r := row(list.Body, "volume-type-row-"+name)
		if m := typeDeleteRe.FindStringSubmatch(r); m != nil {
			ids[name] = m[1]
		}
	}
	if ids["__DEFAULT__"] != "" || ids["fast"] == "" || ids["used"] == "" {
		t.Fatalf("delete buttons (none for the default type): %v", ids)
	}
	var def string
	for _, x := range tc.Do(t, "GET", "/volume/v3/types", adminTok, nil).JSON(t)["volume_types"].([]any) {
		if ty := x.(map[string]any); ty["name"] == "__DEFAULT__" {
			def = ty["id"].(string)
		}
	}
	admin.done("/admin/volume_types/"+def+"/delete", nil, "/admin/volume_types")
	if p := admin.b.Get("/admin/volume_types").Body; !strings.Contains(p, "Volume type __DEFAULT__ is the default type: it cannot be deleted.") {
		t.Error("deleting the default type is not refused with a flash")
	}
	admin.done("/admin/volume_types/"+ids["used"]+"/delete", nil, "/admin/volume_types")
	if p := admin.b.Get("/admin/volume_types").Body; !strings.Contains(p, "Volume type used is still used by volumes: it cannot be deleted.") ||
		row(p, "volume-type-row-used") == "" {
		t.Error("deleting a type in use is not refused with a flash")
	}
	admin.done("/admin/volume_types/"+ids["fast"]+"/delete", nil, "/admin/volume_types")
	if p := admin.b.Get("/admin/volume_types").Body; !strings.Contains(p, "Volume type fast deleted.") || row(p, "volume-type-row-fast") != "" {
		t.Error("fast is not deleted")
	}
	if r := tc.Do(t, "GET", "/volume/v3/types/"+ids["fast"], adminTok, nil); r.Status != http.StatusNotFound {
		t.Errorf("the Cinder API still shows fast: %d", r.Status)
	}

	req, _ := http.NewRequest("GET", tc.URL+"/admin/volume_types", nil)
	req.Header.Set("Accept-Language", "zh-CN")
	if zh := admin.b.Do(req).Body; !strings.Contains(zh, `data-testid="page-title">卷类型</h1>`) || !strings.Contains(zh, "额外规格") {
		t.Error("Admin > Volume Types in zh-CN is not Chinese")
	}

	member := signIn(t, tc, "demo", tc.DemoPass)
	if p := member.b.Get("/admin/volume_types"); p.Status != http.StatusForbidden {
		t.Errorf("a member's Admin > Volume Types: %d, want 403", p.Status)
	}
	for _, path := range []string{"/admin/volume_types", "/admin/volume_types/" + ids["used"] + "/delete"} {
		if p := member.post(path, url.Values{"name": {"mine"}}); p.Status != http.StatusForbidden {
			t.Errorf("a member's POST %s: %d, want 403", path, p.Status)
		}
	}
}

// TestLaunchBootFromVolume: the launch form offers a new volume from the
// image as the boot disk; a size under 1 and a count above 1 are refused
// beside their fields; a launch boots an instance from a volume of the
// size asked, which goes with it when asked to.
func TestLaunchBootFromVolume(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "bfv-portal")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	demo := signIn(t, tc, "demo", tc.DemoPass)
	if p := demo.b.Get("/project/instances/launch"); !strings.Contains(p.Body, `data-testid="field-boot_source"`) ||
		!strings.Contains(p.Body, `data-testid="field-volume_size"`) || !strings.Contains(p.Body, `data-testid="field-delete_on_termination"`) {
		t.Fatal("the launch form does not offer booting from a volume")
	}
	launch := func(name, size, count string) controllertest.Page {
		return demo.post("/project/instances", url.Values{"name": {name}, "image": {img}, "flavor": {"1"}, "count": {count},
			"boot_source": {"volume"}, "volume_size": {size}, "delete_on_termination": {"on"}})
	}
	if p := launch("bfv", "0", "1"); p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, `data-testid="error-volume_size"`) {
		t.Errorf("a volume size of 0: %d, want 422 with the message beside the field", p.Status)
	}
	if p := launch("bfv", "1", "2"); p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, `data-testid="error-count"`) ||
		!strings.Contains(p.Body, "set Count to 1") {
		t.Errorf("two instances from a new volume: %d, want 422 with the message beside Count", p.Status)
	}

	p := launch("bfv", "2", "1")
	if p.Status != http.StatusSeeOther {
		t.Fatalf("launch from a volume: %d\n%s", p.Status, between(p.Body, `data-testid="launch-form"`, `</form>`))
	}
	demoTok := tc.DemoToken(t)
	id := tc.Do(t, "GET", "/compute/v2.1/servers?name=bfv", demoTok, nil).JSON(t)["servers"].([]any)[0].(map[string]any)["id"].(string)
	srv := tc.WaitStatus(t, demoTok, id, "ACTIVE", 120*time.Second)
	att, _ := srv["os-extended-volumes:volumes_attached"].([]any)
	if len(att) != 1 {
		t.Fatalf("the instance's volumes: %v", srv["os-extended-volumes:volumes_attached"])
	}
	vid := att[0].(map[string]any)["id"].(string)
	v := tc.Do(t, "GET", "/volume/v3/volumes/"+vid, demoTok, nil).JSON(t)["volume"].(map[string]any)
	if v["size"] != 2.0 || v["status"] != "in-use" || v["bootable"] != "true" {
		t.Errorf("the boot volume: size %v, status %v, bootable %v", v["size"], v["status"], v["bootable"])
	}
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demoTok, nil); r.Status != 204 {
		t.Fatalf("delete the instance: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, 60*time.Second, "the boot volume deleted with its instance", func() bool {
		return tc.Do(t, "GET", "/volume/v3/volumes/"+vid, demoTok, nil).Status == http.StatusNotFound
	})
}
