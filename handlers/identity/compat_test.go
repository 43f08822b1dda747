package identity_test

import (
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestIdentityAndImageCompat: Keystone's and Glance's answers tempest
// expects where Nimbus differed.
func TestIdentityAndImageCompat(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	// A project-scoped token reads its own project's domain.
	if r := tc.Do(t, "GET", "/identity/v3/domains/default", demo, nil); r.Status != 200 {
		t.Errorf("member GET its project's domain: %d %s, want 200", r.Status, r.Body)
	}
	if r := tc.Do(t, "GET", "/identity/v3/domains/elsewhere", demo, nil); r.Status != 403 {
		t.Errorf("member GET another domain: %d, want 403", r.Status)
	}
	// A user or project in a domain that does not exist: 404.
	if r := tc.Do(t, "POST", "/identity/v3/users", admin, map[string]any{"user": map[string]any{"name": "nowhere", "domain_id": "no-such-domain"}}); r.Status != 404 {
		t.Errorf("user in a missing domain: %d %s, want 404", r.Status, r.Body)
	}
	if r := tc.Do(t, "POST", "/identity/v3/projects", admin, map[string]any{"project": map[string]any{"name": "nowhere", "domain_id": "no-such-domain"}}); r.Status != 404 {
		t.Errorf("project in a missing domain: %d %s, want 404", r.Status, r.Body)
	}
	// An empty image id is not found (not the list).
	if r := tc.Do(t, "GET", "/image/v2/images/", demo, nil); r.Status != 404 {
		t.Errorf("GET /image/v2/images/: %d, want 404", r.Status)
	}
	// Glance's older patch form, the operation as the key.
	id := tc.CreateImage(t, demo, map[string]any{"name": "before", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	r := tc.Do(t, "PATCH", "/image/v2/images/"+id, demo, `[{"replace": "/name", "value": "after"}, {"add": "/min_ram", "value": 64}]`,
		"Content-Type", "application/openstack-images-v2.0-json-patch")
	if r.Status != 200 || r.JSON(t)["name"] != "after" || r.JSON(t)["min_ram"] != 64.0 {
		t.Errorf("v2.0 json patch: %d %s", r.Status, r.Body)
	}
}
