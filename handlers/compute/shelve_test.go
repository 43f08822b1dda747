package compute_test

import (
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestShelveOnTheTestDriver: shelve snapshots the server into
// "<name>-shelved" and, with Nova's default shelved_offload_time of 0,
// offloads it at once (no host, its claim freed); unshelve schedules it
// again from the snapshot, which is then deleted. With offloading off
// (-1) the server keeps its host until an admin offloads it; deleting an
// offloaded server deletes its snapshot.
func TestShelveOnTheTestDriver(t *testing.T) {
	t.Run("offload at once", func(t *testing.T) {
		tc, id := shelveCloud(t, nil)
		admin, demo := tc.AdminToken(t), tc.DemoToken(t)
		used := func() float64 {
			t.Helper()
			hs := tc.Do(t, "GET", "/compute/v2.1/os-hypervisors/detail", admin, nil).JSON(t)["hypervisors"].([]any)
			return hs[0].(map[string]any)["memory_mb_used"].(float64)
		}
		before := used()
		act(t, tc, demo, id, map[string]any{"shelve": nil}, 202)
		s := tc.WaitStatus(t, admin, id, "SHELVED_OFFLOADED", time.Minute)
		if s["OS-EXT-SRV-ATTR:host"] != nil || s["OS-EXT-STS:task_state"] != nil {
			t.Errorf("offloaded: host %v task %v, want none", s["OS-EXT-SRV-ATTR:host"], s["OS-EXT-STS:task_state"])
		}
		if got := used(); got >= before {
			t.Errorf("hypervisor memory used %v after offload, was %v: the claim must be freed", got, before)
		}
		snap := shelvedImage(t, tc, demo, "vm1-shelved")
		if snap == "" {
			t.Fatal("no vm1-shelved image")
		}
		for _, body := range []map[string]any{{"shelve": nil}, {"os-start": nil}, {"pause": nil}} {
			act(t, tc, demo, id, body, 409)
		}
		act(t, tc, demo, id, map[string]any{"unshelve": nil}, 202)
		s = tc.WaitStatus(t, admin, id, "ACTIVE", time.Minute)
		if s["OS-EXT-SRV-ATTR:host"] != "shelve-host" {
			t.Errorf("unshelved onto %v", s["OS-EXT-SRV-ATTR:host"])
		}
		controllertest.WaitFor(t, 30*time.Second, "the shelved snapshot to be deleted", func() bool {
			return tc.Do(t, "GET", "/image/v2/images/"+snap, demo, nil).Status == 404
		})
		if got := used(); got != before {
			t.Errorf("hypervisor memory used %v after unshelve, want %v", got, before)
		}
		// Shelved a second time, offloaded again (Nimbus's own offload
		// action once reused the first one's request id and rolled back).
		act(t, tc, demo, id, map[string]any{"shelve": nil}, 202)
		tc.WaitStatus(t, admin, id, "SHELVED_OFFLOADED", time.Minute)
	})
	t.Run("offload by an admin", func(t *testing.T) {
		tc, id := shelveCloud(t, map[string]string{"NIMBUS_SHELVED_OFFLOAD_TIME": "-1"})
		admin, demo := tc.AdminToken(t), tc.DemoToken(t)
		act(t, tc, demo, id, map[string]any{"shelve": nil}, 202)
		s := tc.WaitStatus(t, admin, id, "SHELVED", time.Minute)
		if s["OS-EXT-SRV-ATTR:host"] != "shelve-host" || s["OS-EXT-STS:power_state"] != 4.0 {
			t.Errorf("shelved: host %v power %v, want its host and shut down", s["OS-EXT-SRV-ATTR:host"], s["OS-EXT-STS:power_state"])
		}
		act(t, tc, demo, id, map[string]any{"shelveOffload": nil}, 403)
		act(t, tc, admin, id, map[string]any{"shelveOffload": nil}, 202)
		tc.WaitStatus(t, admin, id, "SHELVED_OFFLOADED", time.Minute)
		snap := shelvedImage(t, tc, demo, "vm1-shelved")
		if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
			t.Fatalf("delete offloaded: %d %s", r.Status, r.Body)
		}
		controllertest.WaitFor(t, 30*time.Second, "the server and its snapshot to be gone", func() bool {
			return tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).Status == 404 &&
				tc.Do(t, "GET", "/image/v2/images/"+snap, demo, nil).Status == 404
		})
	})
	t.Run("unshelve where it is", func(t *testing.T) {
		tc, id := shelveCloud(t, map[string]string{"NIMBUS_SHELVED_OFFLOAD_TIME": "-1"})
		demo := tc.DemoToken(t)
		act(t, tc, demo, id, map[string]any{"shelve": nil}, 202)
		tc.WaitStatus(t, demo, id, "SHELVED", time.Minute)
		snap := shelvedImage(t, tc, demo, "vm1-shelved")
		act(t, tc, demo, id, map[string]any{"unshelve": nil}, 202)
		tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
		controllertest.WaitFor(t, 30*time.Second, "the shelved snapshot to be deleted", func() bool {
			return tc.Do(t, "GET", "/image/v2/images/"+snap, demo, nil).Status == 404
		})
	})
}

// shelveCloud starts a cloud with one test-driver host and an ACTIVE
// server "vm1" of demo's.
func shelveCloud(t *testing.T, env map[string]string) (*controllertest.Cloud, string) {
	t.Helper()
	tc := controllertest.New(t, env)
	tc.StartAgent(t, "shelve-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "vm1", "flavorRef": "1", "imageRef": tc.ActiveImage(t)})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	return tc, id
}

// act posts a server action and checks its status code.
func act(t *testing.T, tc *controllertest.Cloud, token, id string, body map[string]any, want int) controllertest.Resp {
	t.Helper()
	r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", token, body)
	if r.Status != want {
		t.Errorf("%v: %d %s, want %d", body, r.Status, r.Body, want)
	}
	return r
}

// shelvedImage returns the id of the active image named name, "" if none.
func shelvedImage(t *testing.T, tc *controllertest.Cloud, token, name string) string {
	t.Helper()
	for _, im := range tc.Do(t, "GET", "/image/v2/images?name="+name, token, nil).JSON(t)["images"].([]any) {
		if m := im.(map[string]any); m["status"] == "active" {
			return m["id"].(string)
		}
	}
	return ""
}
