package compute_test

import (
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestDeleteProjectThatHadInstances: a project whose instances were all
// deleted can be deleted (its deleted instances' records go with it); one
// with a live instance is refused with 409, never a 500, and keeps it.
func TestDeleteProjectThatHadInstances(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "sim-proj")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	admin := tc.AdminToken(t)
	r := tc.Do(t, "POST", "/identity/v3/projects", admin, map[string]any{"project": map[string]any{"name": "shortlived"}})
	if r.Status != 201 {
		t.Fatalf("create project: %d %s", r.Status, r.Body)
	}
	pid := r.JSON(t)["project"].(map[string]any)["id"].(string)
	var adminID, roleID string
	users := tc.Do(t, "GET", "/identity/v3/users?name=admin", admin, nil).JSON(t)["users"].([]any)
	adminID = users[0].(map[string]any)["id"].(string)
	for _, x := range tc.Do(t, "GET", "/identity/v3/roles?name=member", admin, nil).JSON(t)["roles"].([]any) {
		roleID = x.(map[string]any)["id"].(string)
	}
	if r := tc.Do(t, "PUT", "/identity/v3/projects/"+pid+"/users/"+adminID+"/roles/"+roleID, admin, nil); r.Status != 204 {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	tok := tc.Token(t, "admin", tc.AdminPass, "shortlived")
	live := launch(t, tc, tok, img, "live")
	gone := launch(t, tc, tok, img, "gone")
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+gone, tok, nil); r.Status != 204 {
		t.Fatalf("delete server: %d", r.Status)
	}
	controllertest.WaitFor(t, 20*time.Second, "the server to be deleted", func() bool {
		return tc.Do(t, "GET", "/compute/v2.1/servers/"+gone, tok, nil).Status == 404
	})
	if r := tc.Do(t, "DELETE", "/identity/v3/projects/"+pid, admin, nil); r.Status != 409 {
		t.Fatalf("delete a project with a live instance: %d %s, want 409", r.Status, r.Body)
	}
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+live, tok, nil); r.Status != 204 {
		t.Fatalf("delete server: %d", r.Status)
	}
	controllertest.WaitFor(t, 20*time.Second, "the last server to be deleted", func() bool {
		vm, _, _, _ := tc.InstanceRow(t, live)
		return vm == "deleted"
	})
	if r := tc.Do(t, "DELETE", "/identity/v3/projects/"+pid, admin, nil); r.Status != 204 {
		t.Fatalf("delete a project whose instances are all deleted: %d %s, want 204", r.Status, r.Body)
	}
}
