package portal_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestPortalAggregates: an admin creates an aggregate in a zone from
// Admin > Host Aggregates, adds a host, sets and removes metadata, sees a
// refusal (a taken name) as a message, removes the host and deletes the
// aggregate; the API agrees at each step; the page and its nav entry
// speak Chinese when asked; a member is refused.
func TestPortalAggregates(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "pa-host")
	tc.WaitHosts(t, 1)
	admin := tc.AdminToken(t)
	b := tc.NewFormClient(t)
	tok := controllertest.CSRFOf(t, b.Login("admin", tc.AdminPass))
	post := func(path string, form url.Values) {
		t.Helper()
		form.Set("_csrf", tok)
		if p := b.Post(path, form); p.Status != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", path, p.Status, p.Body)
		}
	}
	api := func() map[string]any {
		t.Helper()
		as := tc.Do(t, "GET", "/compute/v2.1/os-aggregates", admin, nil).JSON(t)["aggregates"].([]any)
		if len(as) != 1 {
			return nil
		}
		return as[0].(map[string]any)
	}
	post("/admin/aggregates", url.Values{"name": {"gpu"}, "zone": {"zone-gpu"}})
	a := api()
	if a == nil || a["name"] != "gpu" || a["availability_zone"] != "zone-gpu" {
		t.Fatalf("after create: %v", a)
	}
	id := jsonID(a["id"])
	post("/admin/aggregates/"+id+"/hosts", url.Values{"host": {"pa-host"}})
	post("/admin/aggregates/"+id+"/metadata", url.Values{"key": {"cpu_allocation_ratio"}, "value": {"2.0"}})
	a = api()
	if hs := a["hosts"].([]any); len(hs) != 1 || hs[0] != "pa-host" || a["metadata"].(map[string]any)["cpu_allocation_ratio"] != "2.0" {
		t.Errorf("after add host and metadata: %v", a)
	}
	page := b.Get("/admin/aggregates").Body
	sec := between(page, `data-testid="aggregate-gpu"`, `</section>`)
	if !strings.Contains(sec, `data-testid="aggregate-host-pa-host"`) || !strings.Contains(sec, "cpu_allocation_ratio") ||
		strings.Contains(sec, `data-testid="aggregate-delete"`) {
		t.Errorf("the aggregate's section (no delete while it has a host):\n%s", sec)
	}
	post("/admin/aggregates", url.Values{"name": {"gpu"}})
	if p := b.Get("/admin/aggregates"); !strings.Contains(p.Body, "already exists") {
		t.Error("a taken name is not reported")
	}
	post("/admin/aggregates/"+id+"/metadata", url.Values{"key": {"cpu_allocation_ratio"}, "value": {""}})
	post("/admin/aggregates/"+id+"/hosts/pa-host/remove", url.Values{})
	if a = api(); len(a["hosts"].([]any)) != 0 || a["metadata"].(map[string]any)["cpu_allocation_ratio"] != nil {
		t.Errorf("after removing the host and the key: %v", a)
	}
	req, _ := http.NewRequest("GET", tc.URL+"/admin/aggregates", nil)
	req.Header.Set("Accept-Language", "zh-CN")
	if zh := b.Do(req).Body; !strings.Contains(zh, "主机聚合") || !strings.Contains(zh, "可用域") {
		t.Error("the page in Chinese lacks 主机聚合 / 可用域")
	}
	post("/admin/aggregates/"+id+"/delete", url.Values{})
	if as := tc.Do(t, "GET", "/compute/v2.1/os-aggregates", admin, nil).JSON(t)["aggregates"].([]any); len(as) != 0 {
		t.Errorf("after delete: %v", as)
	}
	m := tc.NewFormClient(t)
	controllertest.CSRFOf(t, m.Login("demo", tc.DemoPass))
	if p := m.Get("/admin/aggregates"); p.Status != http.StatusForbidden && p.Status != http.StatusNotFound {
		t.Errorf("a member's Admin > Host Aggregates: %d", p.Status)
	}
}

func jsonID(v any) string {
	f, _ := v.(float64)
	return strconv.Itoa(int(f))
}
