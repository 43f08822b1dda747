package compute_test

import (
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"golang.org/x/crypto/ssh"
)

func TestComputeVersionsAndMicroversions(t *testing.T) {
	tc := controllertest.New(t, nil)
	r := tc.Do(t, "GET", "/compute/v2.1/", "", nil)
	v := r.JSON(t)["version"].(map[string]any)
	if r.Status != 200 || v["version"] != "2.56" || v["min_version"] != "2.1" {
		t.Errorf("version document: %d %v", r.Status, v)
	}
	if r := tc.Do(t, "GET", "/compute", "", nil); r.Status != 200 || len(r.JSON(t)["versions"].([]any)) != 1 {
		t.Errorf("versions: %d %s", r.Status, r.Body)
	}
	demo := tc.DemoToken(t)
	cases := []struct {
		header, want string
		status       int
	}{
		{"", "compute 2.1", 200},
		{"compute 2.10", "compute 2.10", 200},
		{"compute latest", "compute 2.56", 200},
		{"compute 2.99", "", 406},
		{"compute 1.0", "", 406},
		{"compute two", "", 400},
	}
	for _, c := range cases {
		hdr := []string{}
		if c.header != "" {
			hdr = []string{"OpenStack-API-Version", c.header}
		}
		r := tc.Do(t, "GET", "/compute/v2.1/flavors", demo, nil, hdr...)
		if r.Status != c.status || (c.want != "" && r.Header.Get("OpenStack-API-Version") != c.want) {
			t.Errorf("%q: got %d %q, want %d %q", c.header, r.Status, r.Header.Get("OpenStack-API-Version"), c.status, c.want)
		}
	}
}

func TestFlavorsAPI(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	r := tc.Do(t, "GET", "/compute/v2.1/flavors/detail", demo, nil)
	fs := r.JSON(t)["flavors"].([]any)
	if len(fs) != 5 {
		t.Fatalf("seeded flavors: got %d, want 5", len(fs))
	}
	tiny := fs[0].(map[string]any)
	if tiny["name"] != "m1.tiny" || tiny["ram"] != 512.0 || tiny["vcpus"] != 1.0 || tiny["disk"] != 1.0 || tiny["swap"] != "" {
		t.Errorf("m1.tiny: %v", tiny)
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/flavors?minRam=4096", demo, nil); len(r.JSON(t)["flavors"].([]any)) != 3 {
		t.Errorf("minRam filter: %s", r.Body)
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/flavors?sort_key=name&sort_dir=desc&limit=2&marker=4", demo, nil); r.Status != 200 {
		t.Errorf("sorted page: %d %s", r.Status, r.Body)
	}
	// Members cannot manage flavors.
	body := map[string]any{"flavor": map[string]any{"name": "m1.nano", "ram": 128, "vcpus": 1, "disk": 0, "id": "nano",
		"os-flavor-access:is_public": false}}
	if r := tc.Do(t, "POST", "/compute/v2.1/flavors", demo, body); r.Status != 403 || !strings.Contains(string(r.Body), `"forbidden"`) {
		t.Errorf("member creates flavor: %d %s", r.Status, r.Body)
	}
	if r := tc.Do(t, "POST", "/compute/v2.1/flavors", admin, body); r.Status != 200 {
		t.Fatalf("admin creates flavor: %d %s", r.Status, r.Body)
	}
	if r := tc.Do(t, "POST", "/compute/v2.1/flavors", admin, body); r.Status != 409 || !strings.Contains(string(r.Body), "conflictingRequest") {
		t.Errorf("duplicate flavor: %d %s", r.Status, r.Body)
	}
	// A private flavor is invisible to other projects until granted.
	if r := tc.Do(t, "GET", "/compute/v2.1/flavors/nano", demo, nil); r.Status != 404 || !strings.Contains(string(r.Body), "itemNotFound") {
		t.Errorf("private flavor as demo: %d %s", r.Status, r.Body)
	}
	pid := tc.Do(t, "GET", "/identity/v3/projects?name=demo", admin, nil).JSON(t)["projects"].([]any)[0].(map[string]any)["id"].(string)
	r = tc.Do(t, "POST", "/compute/v2.1/flavors/nano/action", admin, map[string]any{"addTenantAccess": map[string]any{"tenant": pid}})
	if r.Status != 200 || !strings.Contains(string(r.Body), pid) {
		t.Errorf("add access: %d %s", r.Status, r.Body)
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/flavors/nano", demo, nil); r.Status != 200 {
		t.Errorf("granted private flavor as demo: %d", r.Status)
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/flavors/1/os-flavor-access", admin, nil); r.Status != 404 {
		t.Errorf("access list of a public flavor: %d, want 404", r.Status)
	}
	// Extra specs.
	if r := tc.Do(t, "POST", "/compute/v2.1/flavors/nano/os-extra_specs", admin, map[string]any{"extra_specs": map[string]any{"hw:cpu_policy": "shared"}}); r.Status != 200 {
		t.Errorf("set extra specs: %d %s", r.Status, r.Body)
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/flavors/nano/os-extra_specs/hw:cpu_policy", demo, nil); r.JSON(t)["hw:cpu_policy"] != "shared" {
		t.Errorf("read extra spec: %s", r.Body)
	}
	if r := tc.Do(t, "POST", "/compute/v2.1/flavors/nano/os-extra_specs", demo, map[string]any{"extra_specs": map[string]any{"x": "y"}}); r.Status != 403 {
		t.Errorf("member sets extra specs: %d", r.Status)
	}
	// Bad input.
	for _, bad := range []map[string]any{
		{"name": "x", "ram": -1, "vcpus": 1, "disk": 1}, {"name": "x", "ram": 1, "vcpus": 0, "disk": 1},
		{"name": "", "ram": 1, "vcpus": 1, "disk": 1}, {"name": strings.Repeat("x", 256), "ram": 1, "vcpus": 1, "disk": 1},
		{"name": "x", "ram": "lots", "vcpus": 1, "disk": 1}, {"name": "x", "ram": 1, "vcpus": 1, "disk": 1, "id": "a/b"},
	} {
		if r := tc.Do(t, "POST", "/compute/v2.1/flavors", admin, map[string]any{"flavor": bad}); r.Status != 400 || !strings.Contains(string(r.Body), "badRequest") {
			t.Errorf("create %v: %d %s, want 400 badRequest", bad, r.Status, r.Body)
		}
	}
	// Description needs 2.55.
	desc := map[string]any{"flavor": map[string]any{"name": "d", "ram": 64, "vcpus": 1, "disk": 0, "description": "small"}}
	if r := tc.Do(t, "POST", "/compute/v2.1/flavors", admin, desc); r.Status != 400 {
		t.Errorf("description at 2.1: %d", r.Status)
	}
	if r := tc.Do(t, "POST", "/compute/v2.1/flavors", admin, desc, "OpenStack-API-Version", "compute 2.55"); r.JSON(t)["flavor"].(map[string]any)["description"] != "small" {
		t.Errorf("description at 2.55: %s", r.Body)
	}
	if r := tc.Do(t, "DELETE", "/compute/v2.1/flavors/nano", admin, nil); r.Status != 202 {
		t.Errorf("delete flavor: %d", r.Status)
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/flavors/nano", admin, nil); r.Status != 404 {
		t.Errorf("deleted flavor: %d", r.Status)
	}
}

func TestKeyPairsAPI(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	v22 := []string{"OpenStack-API-Version", "compute 2.2"}
	r := tc.Do(t, "POST", "/compute/v2.1/os-keypairs", demo, map[string]any{"keypair": map[string]any{"name": "gen"}}, v22...)
	if r.Status != 201 {
		t.Fatalf("generate: %d %s", r.Status, r.Body)
	}
	kp := r.JSON(t)["keypair"].(map[string]any)
	priv, ok := kp["private_key"].(string)
	if !ok || !strings.Contains(priv, "OPENSSH PRIVATE KEY") || kp["type"] != "ssh" {
		t.Fatalf("generated key pair: %v", kp)
	}
	signer, err := ssh.ParsePrivateKey([]byte(priv))
	if err != nil {
		t.Fatalf("private key does not parse: %v", err)
	}
	if got := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))); !strings.HasPrefix(kp["public_key"].(string), got) {
		t.Errorf("private and public halves do not match")
	}
	// The private key is returned once: show does not have it.
	show := tc.Do(t, "GET", "/compute/v2.1/os-keypairs/gen", demo, nil).JSON(t)["keypair"].(map[string]any)
	if _, has := show["private_key"]; has || show["fingerprint"] != kp["fingerprint"] {
		t.Errorf("show: %v", show)
	}
	// Import.
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " me@laptop"
	r = tc.Do(t, "POST", "/compute/v2.1/os-keypairs", demo, map[string]any{"keypair": map[string]any{"name": "imported", "public_key": pub}})
	if r.Status != 200 || r.JSON(t)["keypair"].(map[string]any)["private_key"] != nil {
		t.Errorf("import at 2.1: %d %s", r.Status, r.Body)
	}
	for _, bad := range []map[string]any{{"name": "bad", "public_key": "ssh-rsa notbase64"}, {"name": "a/b"}, {"name": ""},
		{"name": strings.Repeat("k", 256)}, {"name": "<x>"}} {
		if r := tc.Do(t, "POST", "/compute/v2.1/os-keypairs", demo, map[string]any{"keypair": bad}); r.Status != 400 {
			t.Errorf("create %v: %d, want 400", bad, r.Status)
		}
	}
	if r := tc.Do(t, "POST", "/compute/v2.1/os-keypairs", demo, map[string]any{"keypair": map[string]any{"name": "gen"}}); r.Status != 409 {
		t.Errorf("duplicate name: %d", r.Status)
	}
	// Key pairs are per user: admin does not see demo's, and cannot
	// delete them by name.
	if r := tc.Do(t, "GET", "/compute/v2.1/os-keypairs", admin, nil); len(r.JSON(t)["keypairs"].([]any)) != 0 {
		t.Errorf("admin's own list shows others' keys: %s", r.Body)
	}
	if r := tc.Do(t, "DELETE", "/compute/v2.1/os-keypairs/gen", admin, nil); r.Status != 404 {
		t.Errorf("admin deletes demo's key by name: %d", r.Status)
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/os-keypairs", demo, nil); len(r.JSON(t)["keypairs"].([]any)) != 2 {
		t.Errorf("demo's list: %s", r.Body)
	}
	// With 2.10 an admin acts for another user; a member may not.
	uid := tc.Do(t, "GET", "/identity/v3/users?name=demo", admin, nil).JSON(t)["users"].([]any)[0].(map[string]any)["id"].(string)
	v210 := []string{"OpenStack-API-Version", "compute 2.10"}
	if r := tc.Do(t, "GET", "/compute/v2.1/os-keypairs?user_id="+uid, admin, nil, v210...); len(r.JSON(t)["keypairs"].([]any)) != 2 {
		t.Errorf("admin lists demo's keys: %s", r.Body)
	}
	adminID := tc.Do(t, "GET", "/identity/v3/users?name=admin", admin, nil).JSON(t)["users"].([]any)[0].(map[string]any)["id"].(string)
	if r := tc.Do(t, "GET", "/compute/v2.1/os-keypairs?user_id="+adminID, demo, nil, v210...); r.Status != 403 {
		t.Errorf("member lists admin's keys: %d", r.Status)
	}
	if r := tc.Do(t, "DELETE", "/compute/v2.1/os-keypairs/gen", demo, nil, v22...); r.Status != 204 {
		t.Errorf("delete at 2.2: %d", r.Status)
	}
}
