package compute_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/diskimage/diskimagetest"
)

func TestServerIsolationAndBadInput(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "sim-i")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	// Another project with a member.
	pid := tc.Do(t, "POST", "/identity/v3/projects", admin, map[string]any{"project": map[string]any{"name": "other"}}).JSON(t)["project"].(map[string]any)["id"].(string)
	uid := tc.Do(t, "POST", "/identity/v3/users", admin, map[string]any{"user": map[string]any{"name": "eve", "password": "eve-pass-1", "default_project_id": pid}}).JSON(t)["user"].(map[string]any)["id"].(string)
	rid := tc.Do(t, "GET", "/identity/v3/roles?name=member", admin, nil).JSON(t)["roles"].([]any)[0].(map[string]any)["id"].(string)
	tc.Do(t, "PUT", "/identity/v3/projects/"+pid+"/users/"+uid+"/roles/"+rid, admin, nil)
	eve := tc.Token(t, "eve", "eve-pass-1", "other")
	id := tc.CreateServer(t, demo, map[string]any{"name": "mine", "flavorRef": "1", "imageRef": img}).JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", 20*time.Second)
	random := "5d1e2f3a-0000-4000-8000-000000000000"
	routes := []struct {
		method, path string
		body         any
		hdr          []string
	}{
		{"POST", "/compute/v2.1/servers/%s/remote-consoles", map[string]any{"remote_console": map[string]any{"protocol": "vnc", "type": "novnc"}},
			[]string{"OpenStack-API-Version", "compute 2.6"}},
		{"POST", "/compute/v2.1/servers/%s/action", map[string]any{"os-getVNCConsole": map[string]any{"type": "novnc"}}, nil},
		{"POST", "/compute/v2.1/servers/%s/action", map[string]any{"os-getConsoleOutput": map[string]any{"length": 10}}, nil},
		{"GET", "/compute/v2.1/servers/%s", nil, nil},
		{"PUT", "/compute/v2.1/servers/%s", map[string]any{"server": map[string]any{"name": "pwned"}}, nil},
		{"DELETE", "/compute/v2.1/servers/%s", nil, nil},
		{"POST", "/compute/v2.1/servers/%s/action", map[string]any{"os-stop": nil}, nil},
		{"POST", "/compute/v2.1/servers/%s/action", map[string]any{"reboot": map[string]any{"type": "HARD"}}, nil},
		{"GET", "/compute/v2.1/servers/%s/os-instance-actions", nil, nil},
	}
	for _, rt := range routes {
		theirs := tc.Do(t, rt.method, fmt.Sprintf(rt.path, id), eve, rt.body, rt.hdr...)
		nobody := tc.Do(t, rt.method, fmt.Sprintf(rt.path, random), eve, rt.body, rt.hdr...)
		if theirs.Status != 404 || nobody.Status != 404 || strings.ReplaceAll(string(theirs.Body), id, "X") != strings.ReplaceAll(string(nobody.Body), random, "X") {
			t.Errorf("%s %s: other project's %d %s vs random %d %s", rt.method, rt.path, theirs.Status, theirs.Body, nobody.Status, nobody.Body)
		}
	}
	s := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
	if s["name"] != "mine" || s["status"] != "ACTIVE" {
		t.Errorf("the other project changed the server: %v", s)
	}
	// Bad input: each a clear 4xx and nothing left behind.
	before := len(tc.Do(t, "GET", "/compute/v2.1/servers", demo, nil).JSON(t)["servers"].([]any))
	bad := []struct {
		body map[string]any
		want int
	}{
		{map[string]any{"name": "x", "flavorRef": "nope", "imageRef": img}, 400},
		{map[string]any{"name": "x", "flavorRef": "1", "imageRef": random}, 400},
		{map[string]any{"name": "x", "flavorRef": "1", "imageRef": "not-a-uuid"}, 400},
		{map[string]any{"name": "x", "flavorRef": "1", "imageRef": img, "key_name": "nope"}, 400},
		{map[string]any{"name": strings.Repeat("n", 10000), "flavorRef": "1", "imageRef": img}, 400},
		{map[string]any{"name": "", "flavorRef": "1", "imageRef": img}, 400},
		{map[string]any{"name": "x", "flavorRef": "1", "imageRef": img, "project_id": pid}, 400},
		{map[string]any{"name": "x", "flavorRef": "1", "imageRef": img, "host": "sim-i"}, 400},
		{map[string]any{"name": "x", "flavorRef": "1", "imageRef": img, "min_count": 3, "max_count": 2}, 400},
		{map[string]any{"name": "x", "flavorRef": "1", "imageRef": img, "user_data": "%%% not base64"}, 400},
		{map[string]any{"name": "x", "flavorRef": "1", "imageRef": img, "metadata": map[string]any{strings.Repeat("k", 256): "v"}}, 400},
		{map[string]any{"name": "x", "flavorRef": "1", "imageRef": img, "networks": []any{map[string]any{"uuid": random}}}, 400},
	}
	for _, b := range bad {
		if r := tc.CreateServer(t, demo, b.body); r.Status != b.want {
			t.Errorf("create %.80v: got %d %s, want %d", b.body, r.Status, r.Body, b.want)
		}
	}
	if r := tc.Do(t, "POST", "/compute/v2.1/servers", demo, `{"server": {"name": "`+strings.Repeat("x", 2<<20)+`"}}`); r.Status != 413 {
		t.Errorf("2 MiB body: %d", r.Status)
	}
	for _, path := range []string{"/compute/v2.1/servers/not-a-uuid", "/compute/v2.1/servers/%27%3B"} {
		if r := tc.Do(t, "GET", path, demo, nil); r.Status != 404 {
			t.Errorf("GET %s: %d", path, r.Status)
		}
	}
	after := len(tc.Do(t, "GET", "/compute/v2.1/servers", demo, nil).JSON(t)["servers"].([]any))
	if after != before {
		t.Errorf("refused creates left %d servers", after-before)
	}
}

// TestServerDetailListFollowsChanges: /servers/detail renders servers from
// a cache keyed by each instance's last change and by who asks at which
// microversion; a rename or a stop shows at once, and what a member sees
// never carries what only an admin may see (or the other way round).
func TestServerDetailListFollowsChanges(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "sim-cache")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	id := tc.CreateServer(t, demo, map[string]any{"name": "before", "flavorRef": "1", "imageRef": img}).JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", 20*time.Second)
	find := func(token, query string, hdr ...string) map[string]any {
		t.Helper()
		r := tc.Do(t, "GET", "/compute/v2.1/servers/detail"+query, token, nil, hdr...)
		if r.Status != 200 {
			t.Fatalf("detail list: %d %s", r.Status, r.Body)
		}
		for _, s := range r.JSON(t)["servers"].([]any) {
			if m := s.(map[string]any); m["id"] == id {
				return m
			}
		}
		t.Fatalf("server %s not in the detail list", id)
		return nil
	}
	for i := 0; i < 2; i++ { // the second answer comes from the cache
		if s := find(demo, ""); s["name"] != "before" || s["status"] != "ACTIVE" {
			t.Fatalf("detail list: %v", s)
		}
	}
	if _, ok := find(demo, "")["OS-EXT-SRV-ATTR:host"]; ok {
		t.Fatal("a member's list shows the host")
	}
	if s := find(admin, "?all_tenants=1"); s["OS-EXT-SRV-ATTR:host"] != "sim-cache" {
		t.Fatalf("the admin's list after the member's: host %v, want sim-cache", s["OS-EXT-SRV-ATTR:host"])
	}
	if _, ok := find(demo, "")["OS-EXT-SRV-ATTR:host"]; ok {
		t.Fatal("a member's list after the admin's shows the host")
	}
	if _, ok := find(demo, "", "OpenStack-API-Version", "compute 2.47")["flavor"].(map[string]any)["original_name"]; !ok {
		t.Fatal("at 2.47 the flavor is embedded, also after a 2.1 answer was cached")
	}
	if r := tc.Do(t, "PUT", "/compute/v2.1/servers/"+id, demo, map[string]any{"server": map[string]any{"name": "after"}}); r.Status != 200 {
		t.Fatalf("rename: %d %s", r.Status, r.Body)
	}
	if s := find(demo, ""); s["name"] != "after" {
		t.Fatalf("detail list after a rename: name %v", s["name"])
	}
	tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-stop": nil})
	tc.WaitStatus(t, demo, id, "SHUTOFF", 20*time.Second)
	if s := find(demo, ""); s["status"] != "SHUTOFF" {
		t.Fatalf("detail list after stop: status %v", s["status"])
	}
}

// TestServerCreateChecksImageVirtualSize: a flavor whose root disk is
// smaller than the image's virtual size (not its file size, a few hundred
// KiB here) is refused with Nova's message; a large enough one is not.
func TestServerCreateChecksImageVirtualSize(t *testing.T) {
	diskimagetest.Need(t, "qemu-img")
	tc := controllertest.New(t, nil)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	img := tc.CreateImage(t, admin, map[string]any{"name": "sparse-2g", "disk_format": "qcow2", "container_format": "bare",
		"visibility": "public"})["id"].(string)
	if r := tc.UploadFile(t, admin, img, diskimagetest.QCOW2(t, t.TempDir(), "big.qcow2", "2G")); r.Status != http.StatusNoContent {
		t.Fatalf("upload: got %d %s", r.Status, r.Body)
	}
	r := tc.CreateServer(t, demo, map[string]any{"name": "too-small", "flavorRef": "1", "imageRef": img, "networks": "none"})
	want := "Flavor's disk is too small for requested image. Flavor disk is 1073741824 bytes, image is 2147483648 bytes."
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), want) {
		t.Errorf("m1.tiny (1 GB) for a 2 GiB image: got %d %s, want 400 %q", r.Status, r.Body, want)
	}
	if r := tc.CreateServer(t, demo, map[string]any{"name": "fits", "flavorRef": "2", "imageRef": img, "networks": "none"}); r.Status != http.StatusAccepted {
		t.Errorf("m1.small (20 GB) for a 2 GiB image: got %d %s, want 202", r.Status, r.Body)
	}
}
