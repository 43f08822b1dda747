package compute_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestComputeCompat: what Nova answers and Nimbus did not, each found by
// tempest or a real client.
func TestComputeCompat(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "compat-1")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	demo, admin := tc.DemoToken(t), tc.AdminToken(t)
	mv := func(v string) []string { return []string{"OpenStack-API-Version", "compute " + v} }

	// min_count / max_count of 0 are refused.
	for _, k := range []string{"min_count", "max_count"} {
		r := tc.CreateServer(t, demo, map[string]any{"name": "zero", "flavorRef": "1", "imageRef": img, k: 0})
		if r.Status != 400 {
			t.Errorf("%s 0: got %d %s, want 400", k, r.Status, r.Body)
		}
	}

	r := tc.CreateServer(t, demo, map[string]any{"name": "vm a&b", "flavorRef": "1", "imageRef": img})
	if r.Status != 202 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("X-Compute-Request-Id") == "" || r.Header.Get("X-Compute-Request-Id") != r.Header.Get("X-Openstack-Request-Id") {
		t.Errorf("x-compute-request-id %q, x-openstack-request-id %q", r.Header.Get("X-Compute-Request-Id"), r.Header.Get("X-Openstack-Request-Id"))
	}
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", 20*time.Second)

	// Actions answer 202 with no body (not "Accepted", which clients
	// try to decode).
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-stop": nil}); r.Status != 202 || len(r.Body) != 0 {
		t.Errorf("os-stop: %d %q, want 202 with no body", r.Status, r.Body)
	}
	tc.WaitStatus(t, demo, id, "SHUTOFF", 20*time.Second)

	// progress is shown only while ACTIVE or BUILD, as Nova does.
	if _, ok := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)["progress"]; ok {
		t.Error("a SHUTOFF server shows progress")
	}
	// PUT answers the server without the extended attributes, as Nova does.
	r = tc.Do(t, "PUT", "/compute/v2.1/servers/"+id, demo, map[string]any{"server": map[string]any{"name": "vm a&b"}})
	if up := r.JSON(t)["server"].(map[string]any); r.Status != 200 || up["name"] != "vm a&b" || up["OS-EXT-STS:vm_state"] != nil ||
		up["OS-EXT-AZ:availability_zone"] != nil || up["key_name"] != nil || up["OS-DCF:diskConfig"] != "MANUAL" {
		t.Errorf("PUT server answer: %d %v", r.Status, up)
	}

	// List filters: image, flavor, ip; limit 0; next links keep filters.
	ids := func(path, token string) []string {
		t.Helper()
		r := tc.Do(t, "GET", path, token, nil)
		if r.Status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		var out []string
		for _, s := range r.JSON(t)["servers"].([]any) {
			out = append(out, s.(map[string]any)["id"].(string))
		}
		return out
	}
	for _, c := range []struct {
		query string
		want  int
	}{
		{"image=" + img, 1}, {"image=" + tc.URL + "/compute/images/" + img, 1}, {"image=00000000-0000-0000-0000-000000000000", 0},
		{"flavor=1", 1}, {"flavor=2", 0}, {"ip=10.0.0.1", 0}, {"limit=0", 0},
		{"changes-since=2000-01-01T00:00:00", 1}, {"changes-since=2000-01-01T00:00:00Z", 1}, {"changes-since=2000-01-01T00:00:00+00:00", 1},
	} {
		for _, list := range []string{"/compute/v2.1/servers?", "/compute/v2.1/servers/detail?"} {
			if got := ids(list+c.query, demo); len(got) != c.want {
				t.Errorf("%s%s: %d servers, want %d", list, c.query, len(got), c.want)
			}
		}
	}
	r = tc.Do(t, "GET", "/compute/v2.1/servers/detail?limit=1&name="+url.QueryEscape("vm a&b")+"&flavor=1&status=SHUTOFF", demo, nil)
	links, _ := r.JSON(t)["servers_links"].([]any)
	if len(links) != 1 {
		t.Fatalf("servers_links: %s", r.Body)
	}
	next, err := url.Parse(links[0].(map[string]any)["href"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if q := next.Query(); q.Get("name") != "vm a&b" || q.Get("flavor") != "1" || q.Get("status") != "SHUTOFF" || q.Get("marker") != id || q.Get("limit") != "1" {
		t.Errorf("next link %s lost or garbled filters: %v", next, q)
	}

	// An admin deleting with --wait sees the deleted server go away (404),
	// as in Nova; deleted servers appear only in lists asking for them.
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, admin, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, 20*time.Second, "the deleted server to be 404 for its owner", func() bool {
		return tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).Status == 404
	})
	if r := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, admin, nil); r.Status != 404 {
		t.Errorf("admin GET of a deleted server: %d %s, want 404", r.Status, r.Body)
	}
	if got := ids("/compute/v2.1/servers/detail?all_tenants=1", admin); len(got) != 0 {
		t.Errorf("admin list shows deleted servers: %v", got)
	}
	if got := ids("/compute/v2.1/servers/detail?all_tenants&deleted=true", admin); len(got) != 1 || got[0] != id {
		t.Errorf("admin list deleted=true: %v, want [%s]", got, id)
	}
	if got := ids("/compute/v2.1/servers?deleted=true", demo); len(got) != 0 {
		t.Errorf("member list deleted=true: %v, want none (ignored)", got)
	}
	if got := ids("/compute/v2.1/servers?changes-since=2000-01-01T00:00:00", demo); len(got) != 1 {
		t.Errorf("changes-since after delete: %v, want the deleted server", got)
	}
	// Its action log stays readable by its owner from 2.21.
	if r := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/os-instance-actions", demo, nil, mv("2.21")...); r.Status != 200 ||
		len(r.JSON(t)["instanceActions"].([]any)) != 3 {
		t.Errorf("deleted server's actions at 2.21: %d %s", r.Status, r.Body)
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/os-instance-actions", demo, nil, mv("2.20")...); r.Status != 404 {
		t.Errorf("deleted server's actions at 2.20: %d, want 404", r.Status)
	}

	// Limits and quota sets carry Nova's keys for each microversion.
	abs := func(v string) map[string]any {
		return tc.Do(t, "GET", "/compute/v2.1/limits", demo, nil, mv(v)...).JSON(t)["limits"].(map[string]any)["absolute"].(map[string]any)
	}
	legacy := []string{"maxSecurityGroups", "maxSecurityGroupRules", "maxTotalFloatingIps", "totalFloatingIpsUsed", "totalSecurityGroupsUsed"}
	personality := []string{"maxPersonality", "maxPersonalitySize", "maxServerGroups", "maxServerGroupMembers", "totalServerGroupsUsed"}
	for _, c := range []struct {
		v          string
		has, lacks []string
	}{
		{"2.1", append(append([]string{"maxImageMeta"}, legacy...), personality...), nil},
		{"2.36", append([]string{"maxImageMeta"}, personality...), legacy},
		{"2.39", personality, append([]string{"maxImageMeta"}, legacy...)},
	} {
		a := abs(c.v)
		for _, k := range c.has {
			if _, ok := a[k]; !ok {
				t.Errorf("limits at %s lack %s: %v", c.v, k, a)
			}
		}
		for _, k := range c.lacks {
			if _, ok := a[k]; ok {
				t.Errorf("limits at %s show %s", c.v, k)
			}
		}
	}
	if a := abs("2.1"); a["maxPersonality"] != 5.0 || a["maxPersonalitySize"] != 10240.0 || a["maxSecurityGroups"] != 10.0 {
		t.Errorf("limits at 2.1: %v", a)
	}
	pid := tc.Do(t, "GET", "/identity/v3/projects?name=demo", admin, nil).JSON(t)["projects"].([]any)[0].(map[string]any)["id"].(string)
	qpath := "/compute/v2.1/os-quota-sets/" + pid
	r = tc.Do(t, "PUT", qpath, admin, map[string]any{"quota_set": map[string]any{"floating_ips": 20, "injected_files": "7", "networks": 3,
		"security_group_rules": 30}}, mv("2.1")...)
	if r.Status != 200 {
		t.Fatalf("quota update at 2.1 with the legacy keys: %d %s", r.Status, r.Body)
	}
	qs := tc.Do(t, "GET", qpath, demo, nil, mv("2.1")...).JSON(t)["quota_set"].(map[string]any)
	for k, want := range map[string]float64{"floating_ips": 20, "injected_files": 7, "security_group_rules": 30, "fixed_ips": -1,
		"security_groups": 10, "injected_file_content_bytes": 10240, "injected_file_path_bytes": 255, "instances": 10} {
		if qs[k] != want {
			t.Errorf("quota set at 2.1: %s = %v, want %v", k, qs[k], want)
		}
	}
	if _, ok := qs["networks"]; ok {
		t.Errorf("quota set shows networks: %v", qs)
	}
	qs = tc.Do(t, "GET", qpath, demo, nil, mv("2.36")...).JSON(t)["quota_set"].(map[string]any)
	if _, ok := qs["floating_ips"]; ok || qs["injected_files"] != 7.0 {
		t.Errorf("quota set at 2.36: %v", qs)
	}
	if d := tc.Do(t, "GET", qpath+"/defaults", demo, nil, mv("2.1")...).JSON(t)["quota_set"].(map[string]any); d["security_groups"] != 10.0 {
		t.Errorf("default quota set at 2.1: %v", d)
	}
	for _, k := range []string{"floating_ips", "networks", "security_groups"} {
		if r := tc.Do(t, "PUT", qpath, admin, map[string]any{"quota_set": map[string]any{k: 1}}, mv("2.36")...); r.Status != 400 {
			t.Errorf("quota update at 2.36 with %s: %d, want 400", k, r.Status)
		}
	}

	// Flavors: numbers as strings, is_public as a string; an extra spec's
	// delete is 200 with no body.
	r = tc.Do(t, "POST", "/compute/v2.1/flavors", admin, map[string]any{"flavor": map[string]any{"name": "strings", "ram": "512",
		"vcpus": "1", "disk": "1", "OS-FLV-EXT-DATA:ephemeral": "0", "swap": "", "rxtx_factor": "1.0", "os-flavor-access:is_public": "False"}})
	if r.Status != 200 {
		t.Fatalf("flavor create with strings: %d %s", r.Status, r.Body)
	}
	fl := r.JSON(t)["flavor"].(map[string]any)
	if fl["ram"] != 512.0 || fl["vcpus"] != 1.0 || fl["os-flavor-access:is_public"] != false {
		t.Errorf("flavor from strings: %v", fl)
	}
	for _, bad := range []any{"-1", "12ab", "", true} {
		if r := tc.Do(t, "POST", "/compute/v2.1/flavors", admin, map[string]any{"flavor": map[string]any{"name": "bad", "ram": bad,
			"vcpus": 1, "disk": 1}}); r.Status != 400 {
			t.Errorf("flavor ram %v: %d, want 400", bad, r.Status)
		}
	}
	fid := fl["id"].(string)
	tc.Do(t, "POST", "/compute/v2.1/flavors/"+fid+"/os-extra_specs", admin, map[string]any{"extra_specs": map[string]string{"k": "v"}})
	if r := tc.Do(t, "DELETE", "/compute/v2.1/flavors/"+fid+"/os-extra_specs/k", admin, nil); r.Status != 200 || len(r.Body) != 0 {
		t.Errorf("extra spec delete: %d %q, want 200 with no body", r.Status, r.Body)
	}
	if r := tc.Do(t, "DELETE", "/compute/v2.1/flavors/"+fid, admin, nil); r.Status != 202 || len(r.Body) != 0 {
		t.Errorf("flavor delete: %d %q, want 202 with no body", r.Status, r.Body)
	}

	// Hypervisors' cpu_info: a string before 2.28, an object after;
	// services' forced_down only from 2.11.
	hv := func(v string) map[string]any {
		return tc.Do(t, "GET", "/compute/v2.1/os-hypervisors/detail", admin, nil, mv(v)...).JSON(t)["hypervisors"].([]any)[0].(map[string]any)
	}
	if s, ok := hv("2.27")["cpu_info"].(string); !ok || !strings.Contains(s, `"arch"`) {
		t.Errorf("cpu_info at 2.27: %#v, want a JSON string", hv("2.27")["cpu_info"])
	}
	if _, ok := hv("2.28")["cpu_info"].(map[string]any); !ok {
		t.Errorf("cpu_info at 2.28: %#v, want an object", hv("2.28")["cpu_info"])
	}
	svc := func(v string) map[string]any {
		return tc.Do(t, "GET", "/compute/v2.1/os-services", admin, nil, mv(v)...).JSON(t)["services"].([]any)[0].(map[string]any)
	}
	if _, ok := svc("2.10")["forced_down"]; ok {
		t.Error("forced_down shown at 2.10")
	}
	if svc("2.11")["forced_down"] != false {
		t.Error("forced_down missing at 2.11")
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/os-hypervisors/compat/search", admin, nil); r.Status != 200 ||
		len(r.JSON(t)["hypervisors"].([]any)) != 1 {
		t.Errorf("hypervisor search: %d %s", r.Status, r.Body)
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/os-hypervisors/nothing-like-it/servers", admin, nil); r.Status != 404 {
		t.Errorf("hypervisor servers, no match: %d, want 404", r.Status)
	}
}
