package compute_test

import (
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestSoftDeleteAndResetState: with NIMBUS_RECLAIM_INSTANCE_INTERVAL set,
// DELETE soft-deletes (SOFT_DELETED, restorable, still on its host),
// restore brings the server back ACTIVE, forceDelete deletes it at once
// and the reclaimer deletes what nobody restored; an admin's os-resetState
// sets any server ACTIVE or ERROR with no task, members may not.
func TestSoftDeleteAndResetState(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_RECLAIM_INSTANCE_INTERVAL": "3"})
	tc.StartAgent(t, "reclaim-host")
	tc.WaitHosts(t, 1)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	img := tc.ActiveImage(t)
	launch := func(name string) string {
		t.Helper()
		r := tc.CreateServer(t, demo, map[string]any{"name": name, "flavorRef": "1", "imageRef": img})
		id := r.JSON(t)["server"].(map[string]any)["id"].(string)
		tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
		return id
	}
	del := func(id string) {
		t.Helper()
		if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
	}
	gone := func(id string) {
		t.Helper()
		controllertest.WaitFor(t, 30*time.Second, "server "+id+" to be gone", func() bool {
			return tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).Status == 404
		})
	}
	// Restore.
	a := launch("a")
	del(a)
	s := tc.WaitStatus(t, admin, a, "SOFT_DELETED", time.Minute)
	if s["OS-EXT-SRV-ATTR:host"] != "reclaim-host" || s["OS-EXT-STS:power_state"] != 4.0 {
		t.Errorf("soft-deleted: host %v power %v, want its host, shut down", s["OS-EXT-SRV-ATTR:host"], s["OS-EXT-STS:power_state"])
	}
	act(t, tc, demo, a, map[string]any{"os-start": nil}, 409)
	act(t, tc, demo, a, map[string]any{"restore": nil}, 202)
	tc.WaitStatus(t, demo, a, "ACTIVE", time.Minute)
	time.Sleep(4 * time.Second) // past the reclaim interval: a restored server is not reclaimed
	if r := tc.Do(t, "GET", "/compute/v2.1/servers/"+a, demo, nil); r.Status != 200 {
		t.Errorf("a restored server was reclaimed: %d", r.Status)
	}
	// forceDelete.
	del(a)
	tc.WaitStatus(t, demo, a, "SOFT_DELETED", time.Minute)
	act(t, tc, demo, a, map[string]any{"forceDelete": nil}, 202)
	gone(a)
	// Reclaimed when nobody restores it.
	b := launch("b")
	del(b)
	tc.WaitStatus(t, demo, b, "SOFT_DELETED", time.Minute)
	gone(b)

	// os-resetState.
	c := launch("c")
	act(t, tc, demo, c, map[string]any{"os-resetState": map[string]any{"state": "error"}}, 403)
	act(t, tc, admin, c, map[string]any{"os-resetState": map[string]any{"state": "bogus"}}, 400)
	act(t, tc, admin, c, map[string]any{"os-resetState": map[string]any{"state": "error"}}, 202)
	if s := tc.WaitStatus(t, demo, c, "ERROR", 10*time.Second); s["OS-EXT-STS:task_state"] != nil {
		t.Errorf("reset to error left task %v", s["OS-EXT-STS:task_state"])
	}
	act(t, tc, admin, c, map[string]any{"os-resetState": map[string]any{"state": "active"}}, 202)
	tc.WaitStatus(t, demo, c, "ACTIVE", 10*time.Second)
	act(t, tc, demo, c, map[string]any{"pause": nil}, 202)
	tc.WaitStatus(t, demo, c, "PAUSED", time.Minute)
}
