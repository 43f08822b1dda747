package compute_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestPauseSuspendLockOnTheTestDriver walks one instance through pause,
// suspend and lock over the Nova API, on libvirt's test driver: each
// action reaches its status with the power state the host reports, a
// second request from the wrong state is Nova's 409, every action is in
// os-instance-actions with its finished event, and a locked instance
// refuses everyone but its locker and admins.
func TestPauseSuspendLockOnTheTestDriver(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "lifecycle-host")
	tc.WaitHosts(t, 1)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	img := tc.ActiveImage(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "vm1", "flavorRef": "1", "imageRef": img})
	if r.Status != 202 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	act := func(token string, body any) controllertest.Resp {
		t.Helper()
		return tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", token, body, "OpenStack-API-Version", "compute 2.9")
	}
	step := func(action, status string, power float64) {
		t.Helper()
		// {} as tempest sends it (null is the other form clients use).
		if r := act(demo, map[string]any{action: map[string]any{}}); r.Status != 202 {
			t.Fatalf("%s: %d %s", action, r.Status, r.Body)
		}
		s := tc.WaitStatus(t, demo, id, status, time.Minute)
		if s["OS-EXT-STS:power_state"] != power || s["OS-EXT-STS:task_state"] != nil {
			t.Errorf("after %s: power %v task %v, want power %v and no task", action, s["OS-EXT-STS:power_state"],
				s["OS-EXT-STS:task_state"], power)
		}
		// The same action again is refused by the state table.
		if r := act(demo, map[string]any{action: nil}); r.Status != 409 || !strings.Contains(string(r.Body), "conflictingRequest") {
			t.Errorf("%s twice: %d %s, want 409 conflictingRequest", action, r.Status, r.Body)
		}
	}
	step("pause", "PAUSED", 3)
	if r := act(demo, map[string]any{"suspend": nil}); r.Status != 409 {
		t.Errorf("suspend while paused: %d %s, want 409 (Nova suspends only ACTIVE)", r.Status, r.Body)
	}
	step("unpause", "ACTIVE", 1)
	step("suspend", "SUSPENDED", 7)
	if r := act(demo, map[string]any{"unpause": nil}); r.Status != 409 {
		t.Errorf("unpause while suspended: %d %s, want 409", r.Status, r.Body)
	}
	step("resume", "ACTIVE", 1)

	// Bad bodies and other projects' instances.
	if r := act(demo, map[string]any{"pause": "now"}); r.Status != 400 || !strings.Contains(string(r.Body), "badRequest") {
		t.Errorf("pause with a string body: %d %s, want 400 (null or an object only)", r.Status, r.Body)
	}
	other := tc.CreateServer(t, admin, map[string]any{"name": "admins", "flavorRef": "1", "imageRef": img})
	otherID := other.JSON(t)["server"].(map[string]any)["id"].(string)
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+otherID+"/action", demo, map[string]any{"pause": nil}); r.Status != 404 {
		t.Errorf("demo pauses the admin project's instance: %d %s, want 404", r.Status, r.Body)
	}

	// Lock: the owner's lock refuses nothing of admins, everything of
	// members but unlock by the locker.
	if r := act(demo, map[string]any{"lock": nil}); r.Status != 202 {
		t.Fatalf("lock: %d %s", r.Status, r.Body)
	}
	locked := func(want bool) {
		t.Helper()
		r := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil, "OpenStack-API-Version", "compute 2.9")
		if got := r.JSON(t)["server"].(map[string]any)["locked"]; got != want {
			t.Errorf("locked = %v, want %v", got, want)
		}
	}
	locked(true)
	for _, body := range []map[string]any{{"pause": nil}, {"os-stop": nil}, {"reboot": map[string]any{"type": "HARD"}}} {
		if r := act(demo, body); r.Status != 409 || !strings.Contains(string(r.Body), "is locked") {
			t.Errorf("%v while locked: %d %s, want 409 locked", body, r.Status, r.Body)
		}
	}
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 409 {
		t.Errorf("delete while locked: %d %s, want 409", r.Status, r.Body)
	}
	for i := 0; i < 2; i++ { // unlocking an unlocked instance is accepted, as Nova: it changes nothing
		if r := act(demo, map[string]any{"unlock": nil}); r.Status != 202 {
			t.Fatalf("unlock by the locker: %d %s", r.Status, r.Body)
		}
	}
	locked(false)
	// An admin's lock is the admin's to lift.
	if r := act(admin, map[string]any{"lock": nil}); r.Status != 202 {
		t.Fatalf("admin lock: %d %s", r.Status, r.Body)
	}
	if r := act(demo, map[string]any{"unlock": nil}); r.Status != 403 {
		t.Errorf("member unlocks an admin's lock: %d %s, want 403", r.Status, r.Body)
	}
	if r := act(admin, map[string]any{"pause": nil}); r.Status != 202 {
		t.Errorf("admin pauses a locked instance: %d %s", r.Status, r.Body)
	}
	tc.WaitStatus(t, demo, id, "PAUSED", time.Minute)
	if r := act(admin, map[string]any{"unlock": nil}); r.Status != 202 {
		t.Errorf("admin unlock: %d %s", r.Status, r.Body)
	}
	locked(false)

	// Every action is in the log, finished.
	r = tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/os-instance-actions", demo, nil)
	got := map[string]int{}
	for _, a := range r.JSON(t)["instanceActions"].([]any) {
		got[a.(map[string]any)["action"].(string)]++
	}
	want := map[string]int{"create": 1, "pause": 2, "unpause": 1, "suspend": 1, "resume": 1, "lock": 2, "unlock": 3}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("instance actions: %d %q, want %d (all: %v)", got[k], k, n, got)
		}
	}
	// Delete from PAUSED removes it (and, on the host, its domain).
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, time.Minute, "the instance to be gone", func() bool {
		return tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).Status == 404
	})
}

// TestRebuildAndRescueOnTheTestDriver: rebuild keeps the server's id and
// host and takes the new image, name and metadata; a stopped server stays
// stopped; rescue answers an administrator password and shows RESCUE
// until unrescue; each refuses the states Nova refuses.
func TestRebuildAndRescueOnTheTestDriver(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "rebuild-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	other := tc.ActiveImage(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "vm1", "flavorRef": "1", "imageRef": img})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	act := func(body any) controllertest.Resp {
		t.Helper()
		return tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, body, "OpenStack-API-Version", "compute 2.54")
	}
	for _, c := range []struct {
		body any
		want int
	}{
		{map[string]any{"rebuild": map[string]any{}}, 400},
		{map[string]any{"rebuild": map[string]any{"imageRef": "9d2e8c7a-0000-4000-8000-000000000000"}}, 400},
		{map[string]any{"rebuild": map[string]any{"imageRef": img, "name": ""}}, 400},
		{map[string]any{"rebuild": map[string]any{"imageRef": img, "key_name": "no-such-key"}}, 400},
		{map[string]any{"rescue": map[string]any{"rescue_image_ref": "9d2e8c7a-0000-4000-8000-000000000000"}}, 400},
	} {
		if r := act(c.body); r.Status != c.want {
			t.Errorf("%v: %d %s, want %d", c.body, r.Status, r.Body, c.want)
		}
	}
	r = act(map[string]any{"rebuild": map[string]any{"imageRef": other, "name": "vm1-rebuilt",
		"metadata": map[string]string{"rebuilt": "yes"}}})
	if r.Status != 202 {
		t.Fatalf("rebuild: %d %s", r.Status, r.Body)
	}
	if s := r.JSON(t)["server"].(map[string]any); s["status"] != "REBUILD" || s["id"] != id || s["name"] != "vm1-rebuilt" {
		t.Errorf("rebuild answer: status %v id %v name %v, want REBUILD, the same id, the new name", s["status"], s["id"], s["name"])
	} else if s["OS-EXT-STS:vm_state"] != nil || s["key_name"] != nil || s["OS-EXT-AZ:availability_zone"] != nil {
		t.Errorf("rebuild answer has the extended attributes Nova adds only from 2.75 (tempest's schema refuses them): %v", s)
	}
	s := tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	if s["image"].(map[string]any)["id"] != other || s["metadata"].(map[string]any)["rebuilt"] != "yes" {
		t.Errorf("after rebuild: image %v metadata %v", s["image"], s["metadata"])
	}
	// A stopped server is rebuilt and stays stopped.
	if r := act(map[string]any{"os-stop": nil}); r.Status != 202 {
		t.Fatalf("stop: %d %s", r.Status, r.Body)
	}
	tc.WaitStatus(t, demo, id, "SHUTOFF", time.Minute)
	if r := act(map[string]any{"rebuild": map[string]any{"imageRef": img}}); r.Status != 202 {
		t.Fatalf("rebuild stopped: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, time.Minute, "the stopped rebuild to finish", func() bool {
		s = tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
		return s["status"] == "SHUTOFF" && s["OS-EXT-STS:task_state"] == nil
	})
	if s["image"].(map[string]any)["id"] != img || s["OS-EXT-STS:power_state"] != 4.0 {
		t.Errorf("after rebuilding a stopped server: image %v power %v", s["image"], s["OS-EXT-STS:power_state"])
	}
	// Rescue from SHUTOFF, with a password chosen by the caller.
	r = act(map[string]any{"rescue": map[string]any{"adminPass": "rescue-me-now"}})
	if r.Status != 200 || r.JSON(t)["adminPass"] != "rescue-me-now" {
		t.Fatalf("rescue: %d %s", r.Status, r.Body)
	}
	tc.WaitStatus(t, demo, id, "RESCUE", time.Minute)
	for _, body := range []map[string]any{{"rescue": nil}, {"os-stop": nil}, {"pause": nil}, {"rebuild": map[string]any{"imageRef": img}}} {
		if r := act(body); r.Status != 409 {
			t.Errorf("%v while rescued: %d %s, want 409", body, r.Status, r.Body)
		}
	}
	if r := act(map[string]any{"unrescue": nil}); r.Status != 202 {
		t.Fatalf("unrescue: %d %s", r.Status, r.Body)
	}
	tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	// Rescue without a body makes up a password.
	r = act(map[string]any{"rescue": nil})
	if r.Status != 200 || len(r.JSON(t)["adminPass"].(string)) < 8 {
		t.Fatalf("rescue without a password: %d %s", r.Status, r.Body)
	}
	tc.WaitStatus(t, demo, id, "RESCUE", time.Minute)
	if r := tc.Do(t, "GET", "/compute/v2.1/servers?status=RESCUE", demo, nil); len(r.JSON(t)["servers"].([]any)) != 1 {
		t.Errorf("status=RESCUE filter: %s", r.Body)
	}
}
