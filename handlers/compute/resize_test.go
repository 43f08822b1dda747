package compute_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestResizeAndMigrateOnTheTestDriver: two test-driver hosts. A resize
// to m1.small goes to the other host (RESIZE -> VERIFY_RESIZE), the
// flavor and quota usage are the new one's from the request on, both
// hosts hold a claim until confirm, after which only the destination
// does; a revert brings the server back to its host and flavor with the
// destination's claim gone; an admin's migrate moves it to the named host
// with the same flavor. Refusals: the same flavor, a smaller disk, over
// quota (403 before anything moves), confirm with nothing to confirm,
// migrate by a member. os-migrations lists each with its status.
func TestResizeAndMigrateOnTheTestDriver(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "host-a")
	tc.StartAgent(t, "host-b")
	tc.WaitHosts(t, 2)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "vm1", "flavorRef": "1", "imageRef": tc.ActiveImage(t)})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	s := tc.WaitStatus(t, admin, id, "ACTIVE", time.Minute)
	home := s["OS-EXT-SRV-ATTR:host"].(string)
	other := map[string]string{"host-a": "host-b", "host-b": "host-a"}[home]

	memUsed := func() map[string]float64 { return hostMemUsed(t, tc, admin) }
	ramUsed := func() float64 {
		t.Helper()
		return tc.Do(t, "GET", "/compute/v2.1/limits", demo, nil).JSON(t)["limits"].(map[string]any)["absolute"].(map[string]any)["totalRAMUsed"].(float64)
	}
	before := memUsed()

	// Refused before anything moves.
	act(t, tc, demo, id, map[string]any{"resize": map[string]any{"flavorRef": "1"}}, 400)
	act(t, tc, demo, id, map[string]any{"resize": map[string]any{"flavorRef": "nope"}}, 400)
	act(t, tc, demo, id, map[string]any{"resize": map[string]any{}}, 400)
	act(t, tc, demo, id, map[string]any{"confirmResize": nil}, 409)
	act(t, tc, demo, id, map[string]any{"migrate": nil}, 403)
	tiny := tc.Do(t, "POST", "/compute/v2.1/flavors", admin, map[string]any{"flavor": map[string]any{
		"name": "m1.nodisk", "ram": 256, "vcpus": 1, "disk": 0, "id": "tiny0"}})
	if tiny.Status != 200 {
		t.Fatalf("create flavor: %d %s", tiny.Status, tiny.Body)
	}
	act(t, tc, demo, id, map[string]any{"resize": map[string]any{"flavorRef": "tiny0"}}, 400) // the disk would shrink
	projectID := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, admin, nil).JSON(t)["server"].(map[string]any)["tenant_id"].(string)
	if q := tc.Do(t, "PUT", "/compute/v2.1/os-quota-sets/"+projectID, admin,
		map[string]any{"quota_set": map[string]any{"ram": 1024}}); q.Status != 200 {
		t.Fatalf("set quota: %d %s", q.Status, q.Body)
	}
	if r := act(t, tc, demo, id, map[string]any{"resize": map[string]any{"flavorRef": "2"}}, 403); r.Status == 403 {
		if got := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)["status"]; got != "ACTIVE" {
			t.Errorf("status after a refused resize: %v", got)
		}
	}
	tc.Do(t, "PUT", "/compute/v2.1/os-quota-sets/"+projectID, admin, map[string]any{"quota_set": map[string]any{"ram": -1}})

	// Resize, then revert.
	act(t, tc, demo, id, map[string]any{"resize": map[string]any{"flavorRef": "2"}}, 202)
	if got := ramUsed(); got != 2048 {
		t.Errorf("RAM used counted %v from the resize request on, want the new flavor's 2048", got)
	}
	s = tc.WaitStatus(t, admin, id, "VERIFY_RESIZE", time.Minute)
	if s["OS-EXT-SRV-ATTR:host"] != other || s["flavor"].(map[string]any)["id"] != "2" {
		t.Errorf("resized: host %v flavor %v, want %s flavor 2", s["OS-EXT-SRV-ATTR:host"], s["flavor"], other)
	}
	mid := memUsed()
	if mid[home] != before[home] || mid[other] != before[other]+2048 {
		t.Errorf("claims in VERIFY_RESIZE %v (before %v): the source keeps its 512, the destination holds 2048", mid, before)
	}
	migs := tc.Do(t, "GET", "/compute/v2.1/os-migrations?instance_uuid="+id, admin, nil, "OpenStack-API-Version", "compute 2.56").JSON(t)["migrations"].([]any)
	if len(migs) != 1 || migs[0].(map[string]any)["status"] != "finished" || migs[0].(map[string]any)["migration_type"] != "resize" ||
		migs[0].(map[string]any)["dest_compute"] != other || migs[0].(map[string]any)["old_instance_type_id"] != 1.0 ||
		migs[0].(map[string]any)["new_instance_type_id"] != 2.0 || migs[0].(map[string]any)["source_region"] != nil {
		t.Errorf("os-migrations (flavor ids as numbers, no regions, as tempest's schema wants): %v", migs)
	}
	if got := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/migrations", admin, nil).JSON(t)["migrations"].([]any); len(got) != 1 {
		t.Errorf("server migrations in progress: %v", got)
	}
	act(t, tc, demo, id, map[string]any{"os-stop": nil}, 409)
	act(t, tc, demo, id, map[string]any{"revertResize": nil}, 202)
	s = tc.WaitStatus(t, admin, id, "ACTIVE", time.Minute)
	if s["OS-EXT-SRV-ATTR:host"] != home || s["flavor"].(map[string]any)["id"] != "1" {
		t.Errorf("reverted: host %v flavor %v, want %s flavor 1", s["OS-EXT-SRV-ATTR:host"], s["flavor"], home)
	}
	controllertest.WaitFor(t, 10*time.Second, "claims back as before", func() bool {
		m := memUsed()
		return m[home] == before[home] && m[other] == before[other]
	})
	if got := ramUsed(); got != 512 {
		t.Errorf("RAM used %v after revert, want 512", got)
	}

	// Resize again and confirm.
	act(t, tc, demo, id, map[string]any{"resize": map[string]any{"flavorRef": "2"}}, 202)
	tc.WaitStatus(t, admin, id, "VERIFY_RESIZE", time.Minute)
	act(t, tc, demo, id, map[string]any{"confirmResize": nil}, 204)
	s = tc.WaitStatus(t, admin, id, "ACTIVE", time.Minute)
	if s["OS-EXT-SRV-ATTR:host"] != other {
		t.Errorf("confirmed on %v, want %s", s["OS-EXT-SRV-ATTR:host"], other)
	}
	controllertest.WaitFor(t, 10*time.Second, "the source's claim released", func() bool {
		m := memUsed()
		return m[home] == before[home]-512 && m[other] == before[other]+2048
	})

	// An admin migrates it back to the named host, stopped; it stays
	// stopped, and confirm ends it SHUTOFF.
	act(t, tc, demo, id, map[string]any{"os-stop": nil}, 202)
	tc.WaitStatus(t, admin, id, "SHUTOFF", time.Minute)
	r = tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", admin, map[string]any{"migrate": map[string]any{"host": home}},
		"OpenStack-API-Version", "compute 2.56")
	if r.Status != 202 {
		t.Fatalf("migrate: %d %s", r.Status, r.Body)
	}
	s = tc.WaitStatus(t, admin, id, "VERIFY_RESIZE", time.Minute)
	if s["OS-EXT-SRV-ATTR:host"] != home || s["OS-EXT-STS:power_state"] != 4.0 {
		t.Errorf("migrated: host %v power %v, want %s and off", s["OS-EXT-SRV-ATTR:host"], s["OS-EXT-STS:power_state"], home)
	}
	act(t, tc, demo, id, map[string]any{"confirmResize": nil}, 204)
	tc.WaitStatus(t, admin, id, "SHUTOFF", time.Minute)
	migs = tc.Do(t, "GET", "/compute/v2.1/os-migrations?instance_uuid="+id, admin, nil, "OpenStack-API-Version", "compute 2.56").JSON(t)["migrations"].([]any)
	statuses := []string{}
	for _, m := range migs {
		statuses = append(statuses, m.(map[string]any)["migration_type"].(string)+":"+m.(map[string]any)["status"].(string))
	}
	if len(statuses) != 3 || statuses[0] != "migration:confirmed" || statuses[1] != "resize:confirmed" || statuses[2] != "resize:reverted" {
		t.Errorf("os-migrations newest first: %v", statuses)
	}
	// Deleting it leaves no claim anywhere.
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d", r.Status)
	}
	controllertest.WaitFor(t, 30*time.Second, "no claims left", func() bool {
		m := memUsed()
		return m[home] == before[home]-512 && m[other] == before[other]
	})
}

// TestResizeSurvivesAgentRestart: the source's agent dies after parking
// the instance, before sending its disk. Started again, it finds the
// instance parked, sends the disk, and the resize reaches VERIFY_RESIZE
// on the other host; a revert then brings it back, the claims as they
// were before.
func TestResizeSurvivesAgentRestart(t *testing.T) {
	tc := controllertest.New(t, nil)
	dir := t.TempDir()
	agent := tc.StartAgentOn(t, "rz-a", "test:///default", dir, "NIMBUS_FAILPOINTS=agent.resize.parked")
	tc.WaitHosts(t, 1)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "vm1", "flavorRef": "1", "imageRef": tc.ActiveImage(t)})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	tc.StartAgent(t, "rz-b")
	tc.WaitHosts(t, 2)
	used := func() map[string]float64 { return hostMemUsed(t, tc, admin) }
	before := used()
	act(t, tc, demo, id, map[string]any{"resize": map[string]any{"flavorRef": "2"}}, 202)
	if err := agent.Cmd.Wait(); err == nil {
		t.Fatal("the agent exited cleanly; it should have died at its failpoint")
	}
	if s := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any); s["OS-EXT-STS:task_state"] != "resize_migrating" {
		t.Fatalf("with the source's agent dead: task %v, want resize_migrating", s["OS-EXT-STS:task_state"])
	}
	tc.StartAgentOn(t, "rz-a", "test:///default", dir)
	s := tc.WaitStatus(t, admin, id, "VERIFY_RESIZE", 3*time.Minute)
	if s["OS-EXT-SRV-ATTR:host"] != "rz-b" {
		t.Errorf("resized onto %v, want rz-b", s["OS-EXT-SRV-ATTR:host"])
	}
	act(t, tc, demo, id, map[string]any{"revertResize": nil}, 202)
	s = tc.WaitStatus(t, admin, id, "ACTIVE", time.Minute)
	if s["OS-EXT-SRV-ATTR:host"] != "rz-a" {
		t.Errorf("reverted onto %v, want rz-a", s["OS-EXT-SRV-ATTR:host"])
	}
	controllertest.WaitFor(t, 10*time.Second, "the claims as before", func() bool {
		u := used()
		return u["rz-a"] == before["rz-a"] && u["rz-b"] == before["rz-b"]
	})
}

// TestResizeAutoConfirmAndDelete: with NIMBUS_RESIZE_CONFIRM_WINDOW a
// resize left in VERIFY_RESIZE confirms itself (the source's parked copy
// goes); a server deleted while in VERIFY_RESIZE leaves no claim on
// either host and no parked copy.
func TestResizeAutoConfirmAndDelete(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_RESIZE_CONFIRM_WINDOW": "1"})
	dirA, dirB := t.TempDir(), t.TempDir()
	tc.StartAgentOn(t, "ac-a", "test:///default", dirA)
	tc.WaitHosts(t, 1)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	launch := func(name string) string {
		r := tc.CreateServer(t, demo, map[string]any{"name": name, "flavorRef": "1", "imageRef": tc.ActiveImage(t)})
		id := r.JSON(t)["server"].(map[string]any)["id"].(string)
		tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
		return id
	}
	id1, id2 := launch("vm1"), launch("vm2")
	tc.StartAgentOn(t, "ac-b", "test:///default", dirB)
	tc.WaitHosts(t, 2)
	parked := func(id string) bool {
		_, err := os.Stat(filepath.Join(dirA, "parked", id))
		return err == nil
	}
	act(t, tc, demo, id1, map[string]any{"resize": map[string]any{"flavorRef": "2"}}, 202)
	tc.WaitStatus(t, admin, id1, "VERIFY_RESIZE", time.Minute)
	if !parked(id1) {
		t.Error("no parked copy on the source in VERIFY_RESIZE")
	}
	s := tc.WaitStatus(t, admin, id1, "ACTIVE", time.Minute) // confirmed by the worker
	if s["OS-EXT-SRV-ATTR:host"] != "ac-b" {
		t.Errorf("auto-confirmed on %v, want ac-b", s["OS-EXT-SRV-ATTR:host"])
	}
	controllertest.WaitFor(t, 10*time.Second, "the parked copy removed", func() bool { return !parked(id1) })
	acts := tc.Do(t, "GET", "/compute/v2.1/servers/"+id1+"/os-instance-actions", demo, nil).JSON(t)["instanceActions"].([]any)
	if len(acts) == 0 || acts[0].(map[string]any)["action"] != "confirmResize" {
		t.Errorf("newest action %v, want confirmResize", acts)
	}

	// Delete in VERIFY_RESIZE (the window is one second: delete as soon
	// as it gets there, racing the worker; either way nothing is left).
	act(t, tc, demo, id2, map[string]any{"resize": map[string]any{"flavorRef": "2"}}, 202)
	tc.WaitStatus(t, admin, id2, "VERIFY_RESIZE", time.Minute)
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id2, demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, 30*time.Second, "vm2 gone, its parked copy with it", func() bool {
		return tc.Do(t, "GET", "/compute/v2.1/servers/"+id2, demo, nil).Status == 404 && !parked(id2)
	})
	if got := hostMemUsed(t, tc, admin); got["ac-a"] != 0 || got["ac-b"] != 2048 {
		t.Errorf("claims %v MB, want ac-a 0 and ac-b 2048 (vm1, resized)", got)
	}
}

// hostMemUsed is each host's claimed memory (MB), as os-hypervisors says.
func hostMemUsed(t *testing.T, tc *controllertest.Cloud, admin string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, h := range tc.Do(t, "GET", "/compute/v2.1/os-hypervisors/detail", admin, nil).JSON(t)["hypervisors"].([]any) {
		m := h.(map[string]any)
		out[m["hypervisor_hostname"].(string)] = m["memory_mb_used"].(float64)
	}
	return out
}

// TestResizeToTheSameHost: with NIMBUS_ALLOW_RESIZE_TO_SAME_HOST and one
// host, a resize stays on it (its parked copy and its new domain side by
// side), revert and confirm work there, and the host's claim ends as the
// flavor the server has.
func TestResizeToTheSameHost(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_ALLOW_RESIZE_TO_SAME_HOST": "true"})
	tc.StartAgent(t, "same")
	tc.WaitHosts(t, 1)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "vm1", "flavorRef": "1", "imageRef": tc.ActiveImage(t)})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	act(t, tc, demo, id, map[string]any{"resize": map[string]any{"flavorRef": "2"}}, 202)
	s := tc.WaitStatus(t, admin, id, "VERIFY_RESIZE", time.Minute)
	if s["OS-EXT-SRV-ATTR:host"] != "same" {
		t.Errorf("resized onto %v", s["OS-EXT-SRV-ATTR:host"])
	}
	if got := hostMemUsed(t, tc, admin)["same"]; got != 512+2048 {
		t.Errorf("claims in VERIFY_RESIZE: %v MB, want both flavors' 2560", got)
	}
	act(t, tc, demo, id, map[string]any{"revertResize": nil}, 202)
	tc.WaitStatus(t, admin, id, "ACTIVE", time.Minute)
	act(t, tc, demo, id, map[string]any{"resize": map[string]any{"flavorRef": "2"}}, 202)
	tc.WaitStatus(t, admin, id, "VERIFY_RESIZE", time.Minute)
	act(t, tc, demo, id, map[string]any{"confirmResize": nil}, 204)
	tc.WaitStatus(t, admin, id, "ACTIVE", time.Minute)
	controllertest.WaitFor(t, 10*time.Second, "the claim of m1.small only", func() bool { return hostMemUsed(t, tc, admin)["same"] == 2048 })
	// A migration never stays: with one host there is none to go to.
	act(t, tc, admin, id, map[string]any{"migrate": nil}, 202)
	controllertest.WaitFor(t, time.Minute, "the migration given up", func() bool {
		ms := tc.Do(t, "GET", "/compute/v2.1/os-migrations?instance_uuid="+id, admin, nil).JSON(t)["migrations"].([]any)
		return len(ms) == 3 && ms[0].(map[string]any)["status"] == "error"
	})
	s = tc.WaitStatus(t, admin, id, "ACTIVE", time.Minute)
	if s["flavor"].(map[string]any)["id"] != "2" || s["OS-EXT-SRV-ATTR:host"] != "same" {
		t.Errorf("after a migration nowhere to go: flavor %v host %v", s["flavor"], s["OS-EXT-SRV-ATTR:host"])
	}
	if got := hostMemUsed(t, tc, admin)["same"]; got != 2048 {
		t.Errorf("claims after a migration nowhere to go: %v MB, want 2048", got)
	}
	acts := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/os-instance-actions", admin, nil).JSON(t)["instanceActions"].([]any)
	req := acts[0].(map[string]any)["request_id"].(string)
	ev := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/os-instance-actions/"+req, admin, nil).JSON(t)["instanceAction"].(map[string]any)["events"].([]any)
	if len(ev) == 0 || ev[0].(map[string]any)["result"] != "Error" || !strings.Contains(ev[0].(map[string]any)["traceback"].(string), "IgnoreHostsFilter") {
		t.Errorf("the migrate action's events: %v", ev)
	}
}
