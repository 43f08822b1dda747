package compute_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestAggregates: os-aggregates end to end on two test-driver hosts. An
// admin makes an aggregate in zone "fast" with one host: that host is in
// zone "fast" for os-availability-zone and for launches; a flavor whose
// extra spec asks for the aggregate's metadata lands only there; an
// aggregate's cpu_allocation_ratio too small for the flavor sends the
// launch to ERROR with AggregateCoreFilter named to admins. Nova's
// refusals: members 403, a taken name 409, an unknown host 404, a host
// already in another zone 400, deleting an aggregate with hosts 400.
func TestAggregates(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "ag-a")
	tc.StartAgent(t, "ag-b")
	tc.WaitHosts(t, 2)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	do := func(method, path, token string, body any, want int) map[string]any {
		t.Helper()
		r := tc.Do(t, method, "/compute/v2.1"+path, token, body)
		if r.Status != want {
			t.Fatalf("%s %s %v: %d %s, want %d", method, path, body, r.Status, r.Body, want)
		}
		if len(r.Body) == 0 || r.Body[0] != '{' {
			return nil
		}
		return r.JSON(t)
	}
	do("POST", "/os-aggregates", demo, map[string]any{"aggregate": map[string]any{"name": "fast"}}, 403)
	a := do("POST", "/os-aggregates", admin, map[string]any{"aggregate": map[string]any{"name": "fast", "availability_zone": "fast"}}, 200)["aggregate"].(map[string]any)
	id := jsonNumber(a["id"])
	if a["availability_zone"] != "fast" || a["hosts"] != nil {
		t.Errorf("created: %v", a)
	}
	do("POST", "/os-aggregates", admin, map[string]any{"aggregate": map[string]any{"name": "fast"}}, 409)
	do("POST", "/os-aggregates", admin, map[string]any{"aggregate": map[string]any{}}, 400)
	do("POST", "/os-aggregates/"+id+"/action", admin, map[string]any{"add_host": map[string]any{"host": "nope"}}, 404)
	a = do("POST", "/os-aggregates/"+id+"/action", admin, map[string]any{"add_host": map[string]any{"host": "ag-a"}}, 200)["aggregate"].(map[string]any)
	if hs := a["hosts"].([]any); len(hs) != 1 || hs[0] != "ag-a" {
		t.Errorf("hosts after add_host: %v", a["hosts"])
	}
	do("POST", "/os-aggregates/"+id+"/action", admin, map[string]any{"add_host": map[string]any{"host": "ag-a"}}, 409)
	other := do("POST", "/os-aggregates", admin, map[string]any{"aggregate": map[string]any{"name": "slow", "availability_zone": "slow"}}, 200)["aggregate"].(map[string]any)
	otherID := jsonNumber(other["id"])
	do("POST", "/os-aggregates/"+otherID+"/action", admin, map[string]any{"add_host": map[string]any{"host": "ag-a"}}, 400)

	zones := tc.Do(t, "GET", "/compute/v2.1/os-availability-zone", demo, nil).JSON(t)["availabilityZoneInfo"].([]any)
	names := []string{}
	for _, z := range zones {
		names = append(names, z.(map[string]any)["zoneName"].(string))
	}
	if strings.Join(names, ",") != "fast,nova" {
		t.Errorf("zones %v, want fast (ag-a by its aggregate) and nova (ag-b)", names)
	}
	launch := func(name string, body map[string]any) map[string]any {
		t.Helper()
		body["name"], body["imageRef"] = name, tc.ActiveImage(t)
		if body["flavorRef"] == nil {
			body["flavorRef"] = "1"
		}
		r := tc.CreateServer(t, demo, body)
		if r.Status != 202 {
			t.Fatalf("launch %s: %d %s", name, r.Status, r.Body)
		}
		id := r.JSON(t)["server"].(map[string]any)["id"].(string)
		var s map[string]any
		controllertest.WaitFor(t, time.Minute, name+" settled", func() bool {
			s = tc.Do(t, "GET", "/compute/v2.1/servers/"+id, admin, nil).JSON(t)["server"].(map[string]any)
			return s["status"] == "ACTIVE" || s["status"] == "ERROR"
		})
		return s
	}
	if s := launch("in-fast", map[string]any{"availability_zone": "fast"}); s["OS-EXT-SRV-ATTR:host"] != "ag-a" {
		t.Errorf("a launch into zone fast went to %v", s["OS-EXT-SRV-ATTR:host"])
	}

	// Extra specs matched against the aggregate's metadata.
	do("POST", "/os-aggregates/"+id+"/action", admin, map[string]any{"set_metadata": map[string]any{"metadata": map[string]any{"disk": "ssd"}}}, 200)
	do("POST", "/flavors", admin, map[string]any{"flavor": map[string]any{"name": "ssd", "id": "ssd", "ram": 256, "vcpus": 1, "disk": 1}}, 200)
	do("POST", "/flavors/ssd/os-extra_specs", admin, map[string]any{"extra_specs": map[string]any{"aggregate_instance_extra_specs:disk": "ssd"}}, 200)
	for i := 0; i < 3; i++ {
		if s := launch("ssd", map[string]any{"flavorRef": "ssd"}); s["OS-EXT-SRV-ATTR:host"] != "ag-a" {
			t.Errorf("an ssd flavor's server went to %v, want ag-a (the aggregate with disk=ssd)", s["OS-EXT-SRV-ATTR:host"])
		}
	}

	// An aggregate's allocation ratio: ag-a cannot take even one vCPU, and
	// ag-b is not in the aggregate the flavor asks for.
	a = do("POST", "/os-aggregates/"+id+"/action", admin, map[string]any{"set_metadata": map[string]any{"metadata": map[string]any{
		"cpu_allocation_ratio": "0.001", "disk": nil, "flavor": "ratio"}}}, 200)["aggregate"].(map[string]any)
	if md := a["metadata"].(map[string]any); md["disk"] != nil || md["cpu_allocation_ratio"] != "0.001" || md["availability_zone"] != "fast" {
		t.Errorf("metadata after set_metadata: %v", md)
	}
	do("DELETE", "/flavors/ssd/os-extra_specs/aggregate_instance_extra_specs:disk", admin, nil, 200)
	do("POST", "/flavors/ssd/os-extra_specs", admin, map[string]any{"extra_specs": map[string]any{"flavor": "ratio"}}, 200)
	s := launch("squeezed", map[string]any{"flavorRef": "ssd"})
	fault, _ := s["fault"].(map[string]any)
	if s["status"] != "ERROR" || !strings.Contains(fault["details"].(string), "AggregateCoreFilter") ||
		!strings.Contains(fault["details"].(string), "AggregateInstanceExtraSpecsFilter") {
		t.Errorf("a launch no host may take: %v %v", s["status"], fault)
	}

	do("DELETE", "/os-aggregates/"+id, admin, nil, 400)
	do("POST", "/os-aggregates/"+id+"/action", admin, map[string]any{"remove_host": map[string]any{"host": "ag-a"}}, 200)
	do("POST", "/os-aggregates/"+id+"/action", admin, map[string]any{"remove_host": map[string]any{"host": "ag-a"}}, 404)
	do("DELETE", "/os-aggregates/"+id, admin, nil, 200)
	do("GET", "/os-aggregates/"+id, admin, nil, 404)
	if got := do("GET", "/os-aggregates", admin, nil, 200)["aggregates"].([]any); len(got) != 1 {
		t.Errorf("aggregates left: %v", got)
	}
}

// jsonNumber is a JSON integer's text.
func jsonNumber(v any) string {
	f, _ := v.(float64)
	return strconv.Itoa(int(f))
}
