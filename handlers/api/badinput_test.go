package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/ssh"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// dbSnapshot fingerprints every table an API request could write, so a
// test can check that refused requests left nothing behind. Instances are
// fingerprinted by what a request could change, not by their bookkeeping
// columns, which the workers touch.
func dbSnapshot(t *testing.T, tc *controllertest.Cloud) map[string]string {
	t.Helper()
	out := map[string]string{}
	queries := map[string]string{"instances": `SELECT md5(coalesce(string_agg(row(id, name, metadata, vm_state, task_state, deleted_at)::text, ',' ORDER BY id), '')) FROM instances`}
	for _, table := range []string{"domains", "projects", "users", "roles", "role_assignments", "flavors", "flavor_extra_specs",
		"flavor_access", "quotas", "quota_defaults", "images", "keypairs", "instance_actions"} {
		queries[table] = `SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM ` + table + ` t`
	}
	for table, q := range queries {
		var sum string
		if err := tc.Server.Pool().QueryRow(context.Background(), q).Scan(&sum); err != nil {
			t.Fatalf("snapshot %s: %v", table, err)
		}
		out[table] = sum
	}
	return out
}

// imageFiles lists the files in the controller's image directory.
func imageFiles(t *testing.T, tc *controllertest.Cloud) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(tc.DataDir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// doRaw is do for a path sent exactly as written (braces unescaped), as
// curl sends it; body is a string.
func doRaw(t *testing.T, tc *controllertest.Cloud, method, path, token string, body any) controllertest.Resp {
	t.Helper()
	var rd io.Reader
	if b, ok := body.(string); ok {
		rd = strings.NewReader(b)
	}
	req, err := http.NewRequest(method, tc.URL+"/", rd)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path
	req.Header.Set("X-Auth-Token", token)
	return controllertest.Send(t, req)
}

// leaks are words that must never reach a client: SQL, driver and
// network internals, paths.
var leaks = []string{"SQLSTATE", "pgx", "pgconn", "postgres", "syntax error", "ERROR:", "dial tcp", "127.0.0.1:",
	"connection refused", "redis", "/tmp/", "goroutine", ".go:"}

// checkErrorShape checks r is an error answer in the API's own shape
// ("keystone" for identity and image, "nova" for compute) and carries
// nothing internal.
func checkErrorShape(t *testing.T, shape string, r controllertest.Resp) {
	t.Helper()
	for _, w := range leaks {
		if bytes.Contains(bytes.ToLower(r.Body), bytes.ToLower([]byte(w))) {
			t.Errorf("answer leaks %q: %s", w, r.Body)
		}
	}
	var body map[string]map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil || len(body) != 1 {
		t.Errorf("error body is not one JSON object of one key: %s", r.Body)
		return
	}
	novaKeys := map[int]string{400: "badRequest", 403: "forbidden", 404: "itemNotFound", 409: "conflictingRequest", 503: "serviceUnavailable"}
	for k, v := range body {
		switch shape {
		case "keystone":
			if k != "error" || v["code"] != float64(r.Status) || v["title"] == nil || v["message"] == nil {
				t.Errorf("not Keystone's error shape for %d: %s", r.Status, r.Body)
			}
		case "nova":
			if k != novaKeys[r.Status] || v["code"] != float64(r.Status) || v["message"] == nil {
				t.Errorf("not Nova's error shape for %d: %s", r.Status, r.Body)
			}
		}
	}
}

// TestBadInput sends hostile input to the Identity, Compute and Image APIs
// and the portal (NUL bytes in JSON and query strings, regular expressions
// PostgreSQL refuses, numbers past its integer columns, null quotas,
// braced UUIDs) and checks each is a 4xx in the API's own error shape,
// never a 500, and that nothing was written. Upper-case UUIDs name the
// same record, and an image uploaded under one is stored under the
// canonical id.
func TestBadInput(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	img := tc.ActiveImage(t)
	queued := tc.CreateImage(t, demo, map[string]any{"name": "mine", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	r := tc.CreateServer(t, demo, map[string]any{"name": "keep", "flavorRef": "1", "imageRef": img, "networks": "none"})
	if r.Status != 202 {
		t.Fatalf("create server: %d %s", r.Status, r.Body)
	}
	server := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, server, "ERROR", 30*time.Second) // no hosts: a settled state
	project := tc.Do(t, "GET", "/identity/v3/auth/projects", demo, nil).JSON(t)["projects"].([]any)[0].(map[string]any)["id"].(string)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, _ := ssh.NewPublicKey(pub)
	pubKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))

	const nul = "\x00"
	q := url.QueryEscape
	braced, bracedImage := "{"+server+"}", "{"+queued+"}"
	user := func(m map[string]any) map[string]any {
		return map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"},
			"password": map[string]any{"user": m}}}}
	}
	scoped := controllertest.PasswordAuth("demo", tc.DemoPass, "demo")
	scoped["auth"].(map[string]any)["scope"] = map[string]any{"project": map[string]any{"name": "de" + nul + "mo", "domain": map[string]any{"id": "default"}}}
	server1 := func(extra map[string]any) map[string]any {
		s := map[string]any{"name": "x", "flavorRef": "1", "imageRef": img, "networks": "none"}
		for k, v := range extra {
			s[k] = v
		}
		return map[string]any{"server": s}
	}
	cases := []struct {
		name, method, path, token string
		body                      any
		want                      int
		shape                     string
		hdr                       []string
	}{
		// Identity.
		{"login NUL user name", "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("de"+nul+"mo", tc.DemoPass, ""), 400, "keystone", nil},
		{"login NUL domain name", "POST", "/identity/v3/auth/tokens", "", user(map[string]any{"name": "demo", "password": tc.DemoPass, "domain": map[string]any{"name": "Def" + nul}}), 400, "keystone", nil},
		{"login NUL user id", "POST", "/identity/v3/auth/tokens", "", user(map[string]any{"id": nul, "password": tc.DemoPass}), 400, "keystone", nil},
		{"login NUL project scope", "POST", "/identity/v3/auth/tokens", "", scoped, 400, "keystone", nil},
		{"user NUL name", "POST", "/identity/v3/users", admin, map[string]any{"user": map[string]any{"name": "eve" + nul, "password": "eve-pass-1"}}, 400, "keystone", nil},
		{"user NUL description", "POST", "/identity/v3/users", admin, map[string]any{"user": map[string]any{"name": "eve", "password": "eve-pass-1", "description": "a" + nul}}, 400, "keystone", nil},
		{"project NUL description", "POST", "/identity/v3/projects", admin, map[string]any{"project": map[string]any{"name": "p1", "description": nul}}, 400, "keystone", nil},
		{"role NUL name", "POST", "/identity/v3/roles", admin, map[string]any{"role": map[string]any{"name": "r" + nul}}, 400, "keystone", nil},
		{"project update NUL", "PATCH", "/identity/v3/projects/" + project, admin, map[string]any{"project": map[string]any{"description": "d" + nul}}, 400, "keystone", nil},
		{"users ?name=%00", "GET", "/identity/v3/users?name=%00", admin, nil, 400, "keystone", nil},
		{"projects ?name=%ff", "GET", "/identity/v3/projects?name=%ff", admin, nil, 400, "keystone", nil},
		{"roles ?name=%00", "GET", "/identity/v3/roles?name=a%00", admin, nil, 400, "keystone", nil},
		{"assignments ?user.id=%00", "GET", "/identity/v3/role_assignments?user.id=%00", admin, nil, 400, "keystone", nil},
		{"user path %00", "GET", "/identity/v3/users/%00", admin, nil, 400, "keystone", nil},
		// Compute.
		{"server NUL name", "POST", "/compute/v2.1/servers", demo, server1(map[string]any{"name": "vm" + nul}), 400, "nova", nil},
		{"server NUL metadata value", "POST", "/compute/v2.1/servers", demo, server1(map[string]any{"metadata": map[string]any{"k": "v" + nul}}), 400, "nova", nil},
		{"server NUL metadata key", "POST", "/compute/v2.1/servers", demo, server1(map[string]any{"metadata": map[string]any{"k" + nul: "v"}}), 400, "nova", nil},
		{"server NUL zone", "POST", "/compute/v2.1/servers", demo, server1(map[string]any{"availability_zone": "nova" + nul}), 400, "nova", nil},
		{"server NUL key name", "POST", "/compute/v2.1/servers", demo, server1(map[string]any{"key_name": "k" + nul}), 400, "nova", nil},
		{"server braced imageRef", "POST", "/compute/v2.1/servers", demo, server1(map[string]any{"imageRef": "{" + img + "}"}), 400, "nova", nil},
		{"rename NUL", "PUT", "/compute/v2.1/servers/" + server, demo, map[string]any{"server": map[string]any{"name": "x" + nul}}, 400, "nova", nil},
		{"servers ?name=a{256}", "GET", "/compute/v2.1/servers?name=" + q("a{256}"), demo, nil, 400, "nova", nil},
		{"detail ?name=a{256}", "GET", "/compute/v2.1/servers/detail?name=" + q("a{1,256}"), demo, nil, 400, "nova", nil},
		{"servers ?name=(", "GET", "/compute/v2.1/servers?name=" + q("("), demo, nil, 400, "nova", nil},
		{"servers ?name=[", "GET", "/compute/v2.1/servers/detail?name=" + q("["), demo, nil, 400, "nova", nil},
		{"servers ?name=%00", "GET", "/compute/v2.1/servers?name=%00", demo, nil, 400, "nova", nil},
		{"servers ?project_id=%00", "GET", "/compute/v2.1/servers/detail?all_tenants=1&project_id=%00", admin, nil, 400, "nova", nil},
		{"servers ?host=%00", "GET", "/compute/v2.1/servers?host=a%00", admin, nil, 400, "nova", nil},
		{"servers ?marker=%00", "GET", "/compute/v2.1/servers?marker=%00", demo, nil, 400, "nova", nil},
		{"server path %00", "GET", "/compute/v2.1/servers/%00", demo, nil, 400, "nova", nil},
		{"server braced path", "GET", "/compute/v2.1/servers/" + q(braced), demo, nil, 404, "nova", nil},
		{"delete braced path", "DELETE", "/compute/v2.1/servers/" + q(braced), demo, nil, 404, "nova", nil},
		{"action braced path", "POST", "/compute/v2.1/servers/" + q(braced) + "/action", demo, map[string]any{"os-stop": nil}, 404, "nova", nil},
		{"flavors ?minRam huge", "GET", "/compute/v2.1/flavors?minRam=99999999999", demo, nil, 400, "nova", nil},
		{"flavors ?minDisk huge", "GET", "/compute/v2.1/flavors/detail?minDisk=99999999999", demo, nil, 400, "nova", nil},
		{"flavor NUL name", "POST", "/compute/v2.1/flavors", admin, map[string]any{"flavor": map[string]any{"name": "f" + nul, "ram": 512, "vcpus": 1, "disk": 1}}, 400, "nova", nil},
		{"flavor NUL description", "POST", "/compute/v2.1/flavors", admin, map[string]any{"flavor": map[string]any{"name": "f", "ram": 512, "vcpus": 1, "disk": 1, "description": nul}}, 400, "nova",
			[]string{"OpenStack-API-Version", "compute 2.55"}},
		{"extra spec NUL", "POST", "/compute/v2.1/flavors/1/os-extra_specs", admin, map[string]any{"extra_specs": map[string]any{"k": "v" + nul}}, 400, "nova", nil},
		{"quota 2^31", "PUT", "/compute/v2.1/os-quota-sets/" + project, admin, map[string]any{"quota_set": map[string]any{"instances": 1 << 31}}, 400, "nova", nil},
		{"quota 2^31 string", "PUT", "/compute/v2.1/os-quota-sets/" + project, admin, map[string]any{"quota_set": map[string]any{"cores": "2147483648"}}, 400, "nova", nil},
		{"quota null", "PUT", "/compute/v2.1/os-quota-sets/" + project, admin, `{"quota_set": {"server_groups": null}}`, 400, "nova", nil},
		{"quota huge", "PUT", "/compute/v2.1/os-quota-sets/" + project, admin, `{"quota_set": {"ram": 99999999999999999999999}}`, 400, "nova", nil},
		{"quota path %00", "GET", "/compute/v2.1/os-quota-sets/%00", admin, nil, 400, "nova", nil},
		{"keypair NUL key", "POST", "/compute/v2.1/os-keypairs", demo, map[string]any{"keypair": map[string]any{"name": "k2", "public_key": pubKey + " c" + nul}}, 400, "nova", nil},
		{"keypair path %00", "GET", "/compute/v2.1/os-keypairs/k%00", demo, nil, 400, "nova", nil},
		// Image.
		{"image NUL name", "POST", "/image/v2/images", demo, map[string]any{"name": "n" + nul}, 400, "keystone", nil},
		{"image NUL tag", "POST", "/image/v2/images", demo, map[string]any{"name": "n", "tags": []string{"t" + nul}}, 400, "keystone", nil},
		{"image NUL property", "POST", "/image/v2/images", demo, map[string]any{"name": "n", "os_distro": "x" + nul}, 400, "keystone", nil},
		{"image NUL property key", "POST", "/image/v2/images", demo, map[string]any{"name": "n", "k" + nul: "x"}, 400, "keystone", nil},
		{"image min_ram 2^31", "POST", "/image/v2/images", demo, map[string]any{"name": "n", "min_ram": 1 << 31}, 400, "keystone", nil},
		{"image min_disk 2^31", "POST", "/image/v2/images", demo, map[string]any{"name": "n", "min_disk": 1 << 31}, 400, "keystone", nil},
		{"image braced id", "POST", "/image/v2/images", demo, map[string]any{"name": "n", "id": "{" + uuid.NewString() + "}"}, 400, "keystone", nil},
		{"image URN id", "POST", "/image/v2/images", demo, map[string]any{"name": "n", "id": "urn:uuid:" + uuid.NewString()}, 400, "keystone", nil},
		{"image patch NUL", "PATCH", "/image/v2/images/" + queued, demo, []any{map[string]any{"op": "replace", "path": "/name", "value": "n" + nul}}, 400, "keystone", nil},
		{"image patch 2^31", "PATCH", "/image/v2/images/" + queued, demo, []any{map[string]any{"op": "replace", "path": "/min_ram", "value": 1 << 31}}, 400, "keystone", nil},
		{"images ?name=%00", "GET", "/image/v2/images?name=%00", demo, nil, 400, "keystone", nil},
		{"images ?tag=%00", "GET", "/image/v2/images?tag=%00&owner=%ff", demo, nil, 400, "keystone", nil},
		{"image braced path", "GET", "/image/v2/images/" + q(bracedImage), demo, nil, 404, "keystone", nil},
		{"image braced upload", "PUT", "/image/v2/images/" + q(bracedImage) + "/file", demo, "data", 404, "keystone", nil},
		{"image braced delete", "DELETE", "/image/v2/images/" + q(bracedImage), demo, nil, 404, "keystone", nil},
	}
	// The same braced ids written literally, as curl sends them (Go's
	// client escapes braces): PostgreSQL's uuid input takes braces too.
	cases = append(cases, []struct {
		name, method, path, token string
		body                      any
		want                      int
		shape                     string
		hdr                       []string
	}{
		{"server literal braced path", "GET", "raw:/compute/v2.1/servers/" + braced, demo, nil, 404, "nova", nil},
		{"delete literal braced path", "DELETE", "raw:/compute/v2.1/servers/" + braced, demo, nil, 404, "nova", nil},
		{"image literal braced path", "GET", "raw:/image/v2/images/" + bracedImage, demo, nil, 404, "keystone", nil},
		{"image literal braced upload", "PUT", "raw:/image/v2/images/" + bracedImage + "/file", demo, "data", 404, "keystone", nil},
	}...)
	before, files := dbSnapshot(t, tc), imageFiles(t, tc)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r controllertest.Resp
			if raw, ok := strings.CutPrefix(c.path, "raw:"); ok {
				r = doRaw(t, tc, c.method, raw, c.token, c.body)
			} else {
				r = tc.Do(t, c.method, c.path, c.token, c.body, c.hdr...)
			}
			if r.Status != c.want {
				t.Errorf("%s %s: got %d %s, want %d", c.method, c.path, r.Status, r.Body, c.want)
			}
			if r.Status >= 400 && r.Status < 500 {
				checkErrorShape(t, c.shape, r)
			}
		})
	}
	// The portal: a bad query string is its 400 page, in catalogue words.
	b := tc.NewFormClient(t)
	b.Login("demo", tc.DemoPass)
	for _, path := range []string{"/project/instances?x=%00", "/project/images/%00"} {
		p := b.Get(path)
		if p.Status != 400 || !strings.Contains(p.Body, "The request could not be understood.") {
			t.Errorf("portal GET %s: got %d, want 400 with the catalogue's message", path, p.Status)
		}
	}
	after := dbSnapshot(t, tc)
	for table, sum := range before {
		if after[table] != sum {
			t.Errorf("refused requests changed table %s", table)
		}
	}
	if got := imageFiles(t, tc); !slices.Equal(got, files) {
		t.Errorf("refused requests left image files: %v, before %v", got, files)
	}

	t.Run("upper-case UUIDs name the canonical record", func(t *testing.T) {
		if r := tc.Do(t, "GET", "/compute/v2.1/servers/"+strings.ToUpper(server), demo, nil); r.Status != 200 ||
			r.JSON(t)["server"].(map[string]any)["id"] != server {
			t.Errorf("GET upper-case server id: got %d %s, want 200 with id %s", r.Status, r.Body, server)
		}
		id := uuid.NewString()
		r := tc.Do(t, "POST", "/image/v2/images", demo, map[string]any{"name": "upper", "id": strings.ToUpper(id),
			"disk_format": "raw", "container_format": "bare"})
		if r.Status != 201 || r.JSON(t)["id"] != id {
			t.Fatalf("create image with upper-case id: got %d %s, want 201 with id %s", r.Status, r.Body, id)
		}
		if r := tc.Upload(t, demo, strings.ToUpper(id), strings.NewReader("upper-case data"), 15); r.Status != 204 {
			t.Fatalf("upload to the upper-case id: got %d %s", r.Status, r.Body)
		}
		if got := imageFiles(t, tc); !slices.Contains(got, id) || slices.Contains(got, strings.ToUpper(id)) {
			t.Errorf("image files %v: want the data under the canonical id %s", got, id)
		}
		if r := tc.Do(t, "GET", "/image/v2/images/"+id+"/file", demo, nil); r.Status != 200 || string(r.Body) != "upper-case data" {
			t.Errorf("download by the canonical id: got %d %q", r.Status, r.Body)
		}
		if r := tc.Do(t, "DELETE", "/image/v2/images/"+strings.ToUpper(id), demo, nil); r.Status != 204 {
			t.Errorf("delete by the upper-case id: got %d %s", r.Status, r.Body)
		}
		if got := imageFiles(t, tc); slices.Contains(got, id) {
			t.Errorf("image file %s left after delete: %v", id, got)
		}
	})
}
