package compute_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestServerGroups: os-server-groups CRUD in Nova's shape, the group quota,
// another project's group not found, and placement on two test-driver
// hosts: affinity members share a host, anti-affinity members never do
// (a third member with both hosts taken fails with the filter named in
// the fault), and a deleted member stops counting.
func TestServerGroups(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "sg-a")
	tc.StartAgent(t, "sg-b")
	tc.WaitHosts(t, 2)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	img := tc.ActiveImage(t)
	v := []string{"OpenStack-API-Version", "compute 2.15"}
	group := func(name, pol string) string {
		t.Helper()
		r := tc.Do(t, "POST", "/compute/v2.1/os-server-groups", demo,
			map[string]any{"server_group": map[string]any{"name": name, "policies": []string{pol}}}, v...)
		if r.Status != 200 {
			t.Fatalf("create group %s: %d %s", name, r.Status, r.Body)
		}
		g := r.JSON(t)["server_group"].(map[string]any)
		if g["policies"].([]any)[0] != pol || len(g["members"].([]any)) != 0 {
			t.Errorf("new group: %v", g)
		}
		return g["id"].(string)
	}
	for _, body := range []map[string]any{
		{"server_group": map[string]any{"policies": []string{"affinity"}}},
		{"server_group": map[string]any{"name": "x", "policies": []string{"sideways"}}},
		{"server_group": map[string]any{"name": "x", "policies": []string{"affinity", "anti-affinity"}}},
	} {
		if r := tc.Do(t, "POST", "/compute/v2.1/os-server-groups", demo, body, v...); r.Status != 400 {
			t.Errorf("%v: %d %s, want 400", body, r.Status, r.Body)
		}
	}
	if r := tc.Do(t, "POST", "/compute/v2.1/os-server-groups", demo,
		map[string]any{"server_group": map[string]any{"name": "old", "policies": []string{"soft-affinity"}}}); r.Status != 400 {
		t.Errorf("soft-affinity at 2.1: %d, want 400", r.Status)
	}
	aff, anti := group("together", "affinity"), group("apart", "anti-affinity")
	launch := func(name, g string) (string, map[string]any) {
		t.Helper()
		r := tc.Do(t, "POST", "/compute/v2.1/servers", demo, map[string]any{
			"server":             map[string]any{"name": name, "flavorRef": "1", "imageRef": img},
			"os:scheduler_hints": map[string]any{"group": g}})
		if r.Status != 202 {
			t.Fatalf("launch %s: %d %s", name, r.Status, r.Body)
		}
		id := r.JSON(t)["server"].(map[string]any)["id"].(string)
		var s map[string]any
		controllertest.WaitFor(t, time.Minute, name+" to be placed", func() bool {
			s = tc.Do(t, "GET", "/compute/v2.1/servers/"+id, admin, nil).JSON(t)["server"].(map[string]any)
			return s["status"] == "ACTIVE" || s["status"] == "ERROR"
		})
		return id, s
	}
	_, a1 := launch("a1", aff)
	_, a2 := launch("a2", aff)
	if a1["OS-EXT-SRV-ATTR:host"] != a2["OS-EXT-SRV-ATTR:host"] {
		t.Errorf("affinity members on %v and %v", a1["OS-EXT-SRV-ATTR:host"], a2["OS-EXT-SRV-ATTR:host"])
	}
	n1, s1 := launch("n1", anti)
	_, s2 := launch("n2", anti)
	if s1["OS-EXT-SRV-ATTR:host"] == s2["OS-EXT-SRV-ATTR:host"] {
		t.Errorf("anti-affinity members both on %v", s1["OS-EXT-SRV-ATTR:host"])
	}
	_, s3 := launch("n3", anti)
	if s3["status"] != "ERROR" || !strings.Contains(s3["fault"].(map[string]any)["details"].(string), "ServerGroupAntiAffinityFilter") {
		t.Errorf("a third anti-affinity member on two hosts: %v %v", s3["status"], s3["fault"])
	}
	g := tc.Do(t, "GET", "/compute/v2.1/os-server-groups/"+anti, demo, nil).JSON(t)["server_group"].(map[string]any)
	if len(g["members"].([]any)) != 3 {
		t.Errorf("anti-affinity members: %v", g["members"])
	}
	// A deleted member frees its host for the group.
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+n1, demo, nil); r.Status != 204 {
		t.Fatal(r.Status)
	}
	controllertest.WaitFor(t, time.Minute, "n1 to be gone", func() bool {
		return tc.Do(t, "GET", "/compute/v2.1/servers/"+n1, demo, nil).Status == 404
	})
	if _, s4 := launch("n4", anti); s4["status"] != "ACTIVE" || s4["OS-EXT-SRV-ATTR:host"] != s1["OS-EXT-SRV-ATTR:host"] {
		t.Errorf("n4 after n1's delete: %v on %v, want ACTIVE on %v", s4["status"], s4["OS-EXT-SRV-ATTR:host"], s1["OS-EXT-SRV-ATTR:host"])
	}
	// Unknown group hint: 400; another project's group: not found.
	r := tc.Do(t, "POST", "/compute/v2.1/servers", demo, map[string]any{
		"server":             map[string]any{"name": "x", "flavorRef": "1", "imageRef": img},
		"os:scheduler_hints": map[string]any{"group": "6a3c0b6e-0000-4000-8000-000000000000"}})
	if r.Status != 400 {
		t.Errorf("launch into an unknown group: %d %s", r.Status, r.Body)
	}
	adminGroup := tc.Do(t, "POST", "/compute/v2.1/os-server-groups", admin,
		map[string]any{"server_group": map[string]any{"name": "admins", "policies": []string{"affinity"}}}).JSON(t)["server_group"].(map[string]any)["id"].(string)
	if r := tc.Do(t, "GET", "/compute/v2.1/os-server-groups/"+adminGroup, demo, nil); r.Status != 404 {
		t.Errorf("another project's group: %d", r.Status)
	}
	if r := tc.Do(t, "DELETE", "/compute/v2.1/os-server-groups/"+adminGroup, demo, nil); r.Status != 404 {
		t.Errorf("delete another project's group: %d", r.Status)
	}
	if n := len(tc.Do(t, "GET", "/compute/v2.1/os-server-groups?all_projects=True", admin, nil).JSON(t)["server_groups"].([]any)); n != 3 {
		t.Errorf("all projects' groups: %d, want 3", n)
	}
	// The group quota.
	tc.Do(t, "PUT", "/compute/v2.1/os-quota-sets/"+a1["tenant_id"].(string), admin,
		map[string]any{"quota_set": map[string]any{"server_groups": 2}})
	if r := tc.Do(t, "POST", "/compute/v2.1/os-server-groups", demo,
		map[string]any{"server_group": map[string]any{"name": "third", "policies": []string{"affinity"}}}); r.Status != 403 {
		t.Errorf("a group over quota: %d %s", r.Status, r.Body)
	}
	if r := tc.Do(t, "DELETE", "/compute/v2.1/os-server-groups/"+aff, demo, nil); r.Status != 204 {
		t.Errorf("delete group: %d", r.Status)
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/os-server-groups/"+aff, demo, nil); r.Status != 404 {
		t.Errorf("deleted group: %d", r.Status)
	}
}
