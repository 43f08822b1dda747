package image_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

func TestImageLifecycle(t *testing.T) {
	tc := controllertest.New(t, nil)
	demo := tc.DemoToken(t)
	im := tc.CreateImage(t, demo, map[string]any{"name": "cirros-ish", "disk_format": "raw", "container_format": "bare",
		"min_ram": 64, "hw_disk_bus": "virtio", "tags": []string{"small"}})
	id := im["id"].(string)
	if im["status"] != "queued" || im["visibility"] != "shared" || im["hw_disk_bus"] != "virtio" {
		t.Errorf("new image: %v", im)
	}
	data := bytes.Repeat([]byte("nimbus-image-"), 100_000)
	if r := tc.Upload(t, demo, id, bytes.NewReader(data), int64(len(data))); r.Status != 204 {
		t.Fatalf("upload: got %d %s", r.Status, r.Body)
	}
	got := tc.Do(t, "GET", "/image/v2/images/"+id, demo, nil).JSON(t)
	m5, s5 := md5.Sum(data), sha512.Sum512(data)
	if got["status"] != "active" || got["checksum"] != hex.EncodeToString(m5[:]) ||
		got["os_hash_value"] != hex.EncodeToString(s5[:]) || got["os_hash_algo"] != "sha512" || got["size"] != float64(len(data)) {
		t.Errorf("after upload: %v", got)
	}
	if r := tc.Upload(t, demo, id, strings.NewReader("again"), 5); r.Status != 409 {
		t.Errorf("second upload: got %d, want 409", r.Status)
	}
	r := tc.Do(t, "GET", "/image/v2/images/"+id+"/file", demo, nil)
	if r.Status != 200 || !bytes.Equal(r.Body, data) || r.Header.Get("Content-MD5") != hex.EncodeToString(m5[:]) {
		t.Errorf("download: status %d, %d bytes, md5 header %q", r.Status, len(r.Body), r.Header.Get("Content-MD5"))
	}
	// JSON patch.
	patch := `[{"op":"replace","path":"/name","value":"renamed"},{"op":"add","path":"/os_distro","value":"busybox"},
		{"op":"remove","path":"/hw_disk_bus"},{"op":"replace","path":"/min_disk","value":1}]`
	r = tc.Do(t, "PATCH", "/image/v2/images/"+id, demo, patch, "Content-Type", "application/openstack-images-v2.1-json-patch")
	p := r.JSON(t)
	if r.Status != 200 || p["name"] != "renamed" || p["os_distro"] != "busybox" || p["hw_disk_bus"] != nil || p["min_disk"] != 1.0 {
		t.Errorf("patch: got %d %v", r.Status, p)
	}
	for _, bad := range []string{`[{"op":"replace","path":"/id","value":"x"}]`, `[{"op":"replace","path":"/status","value":"active"}]`} {
		if r := tc.Do(t, "PATCH", "/image/v2/images/"+id, demo, bad); r.Status != 403 {
			t.Errorf("patch %s: got %d, want 403", bad, r.Status)
		}
	}
	if r := tc.Do(t, "PATCH", "/image/v2/images/"+id, demo, `[{"op":"replace","path":"/disk_format","value":"qcow2"}]`); r.Status != 409 {
		t.Errorf("changing disk_format after upload: got %d, want 409", r.Status)
	}
	// Protected images cannot be deleted.
	tc.Do(t, "PATCH", "/image/v2/images/"+id, demo, `[{"op":"replace","path":"/protected","value":true}]`)
	if r := tc.Do(t, "DELETE", "/image/v2/images/"+id, demo, nil); r.Status != 403 {
		t.Errorf("delete protected: got %d, want 403", r.Status)
	}
	tc.Do(t, "PATCH", "/image/v2/images/"+id, demo, `[{"op":"replace","path":"/protected","value":false}]`)
	if r := tc.Do(t, "DELETE", "/image/v2/images/"+id, demo, nil); r.Status != 204 {
		t.Errorf("delete: got %d", r.Status)
	}
	if r := tc.Do(t, "GET", "/image/v2/images/"+id, demo, nil); r.Status != 404 {
		t.Errorf("deleted image: got %d, want 404", r.Status)
	}
	if _, err := os.Stat(filepath.Join(tc.DataDir, "images", id)); !os.IsNotExist(err) {
		t.Errorf("image file left behind: %v", err)
	}
}

func TestImageVisibilityAndIsolation(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	private := tc.CreateImage(t, admin, map[string]any{"name": "admins-own", "disk_format": "raw", "container_format": "bare", "visibility": "private"})["id"].(string)
	public := tc.CreateImage(t, admin, map[string]any{"name": "for-all", "disk_format": "raw", "container_format": "bare", "visibility": "public"})["id"].(string)
	// Another project's image is 404 on every route, exactly like a random id.
	for _, id := range []string{private, "6b9c2d8e-1111-4222-8333-944455556666", "not-a-uuid"} {
		for _, m := range []string{"GET", "DELETE"} {
			if r := tc.Do(t, m, "/image/v2/images/"+id, demo, nil); r.Status != 404 {
				t.Errorf("%s %s as demo: got %d, want 404", m, id, r.Status)
			}
		}
		if r := tc.Do(t, "PATCH", "/image/v2/images/"+id, demo, `[{"op":"replace","path":"/name","value":"x"}]`); r.Status != 404 {
			t.Errorf("PATCH %s as demo: got %d, want 404", id, r.Status)
		}
		if r := tc.Upload(t, demo, id, strings.NewReader("x"), 1); r.Status != 404 {
			t.Errorf("upload to %s as demo: got %d, want 404", id, r.Status)
		}
	}
	if r := tc.Do(t, "GET", "/image/v2/images/"+private, admin, nil); r.JSON(t)["name"] != "admins-own" {
		t.Error("the private image changed")
	}
	// Public: visible, not changeable by others.
	if r := tc.Do(t, "GET", "/image/v2/images/"+public, demo, nil); r.Status != 200 {
		t.Errorf("public image as demo: %d", r.Status)
	}
	if r := tc.Do(t, "DELETE", "/image/v2/images/"+public, demo, nil); r.Status != 403 {
		t.Errorf("demo deletes a public image: got %d, want 403", r.Status)
	}
	names := map[string]bool{}
	for _, im := range tc.Do(t, "GET", "/image/v2/images", demo, nil).JSON(t)["images"].([]any) {
		names[im.(map[string]any)["name"].(string)] = true
	}
	if !names["for-all"] || names["admins-own"] {
		t.Errorf("demo's list: %v", names)
	}
	// Only admins publish.
	if r := tc.Do(t, "POST", "/image/v2/images", demo, map[string]any{"name": "mine", "visibility": "public"}); r.Status != 403 {
		t.Errorf("member creates a public image: got %d, want 403", r.Status)
	}
	own := tc.CreateImage(t, demo, map[string]any{"name": "mine"})["id"].(string)
	if r := tc.Do(t, "PATCH", "/image/v2/images/"+own, demo, `[{"op":"replace","path":"/visibility","value":"public"}]`); r.Status != 403 {
		t.Errorf("member publicizes: got %d, want 403", r.Status)
	}
	if r := tc.Do(t, "PATCH", "/image/v2/images/"+own, admin, `[{"op":"replace","path":"/visibility","value":"public"}]`); r.JSON(t)["visibility"] != "public" {
		t.Errorf("admin publicizes: %s", r.Body)
	}
	// Owner, status, size, checksum are not settable at creation either.
	r := tc.Do(t, "POST", "/image/v2/images", demo, map[string]any{"name": "sneaky", "owner": "someone-else"})
	if r.Status != 400 {
		t.Errorf("create with owner: got %d, want 400", r.Status)
	}
}

func TestImageListPaging(t *testing.T) {
	tc := controllertest.New(t, nil)
	demo := tc.DemoToken(t)
	for _, n := range []string{"c", "a", "e", "b", "d"} {
		tc.CreateImage(t, demo, map[string]any{"name": n})
	}
	var seen []string
	next := "/v2/images?limit=2&sort=name:asc"
	for next != "" && len(seen) < 10 {
		body := tc.Do(t, "GET", strings.Replace(next, "/v2/", "/image/v2/", 1), demo, nil).JSON(t)
		for _, im := range body["images"].([]any) {
			seen = append(seen, im.(map[string]any)["name"].(string))
		}
		next, _ = body["next"].(string)
	}
	if strings.Join(seen, "") != "abcde" {
		t.Errorf("paged by name: got %v, want a..e", seen)
	}
	if r := tc.Do(t, "GET", "/image/v2/images?name=c", demo, nil); len(r.JSON(t)["images"].([]any)) != 1 {
		t.Errorf("filter by name: %s", r.Body)
	}
	for _, q := range []string{"sort_key=password", "limit=-1", "sort_dir=up", "marker=6b9c2d8e-1111-4222-8333-944455556666"} {
		if r := tc.Do(t, "GET", "/image/v2/images?"+q, demo, nil); r.Status != 400 {
			t.Errorf("?%s: got %d, want 400", q, r.Status)
		}
	}
}

func TestImageQuotaAndBadInput(t *testing.T) {
	tc := controllertest.New(t, nil)
	if _, err := tc.Server.Pool().Exec(context.Background(), `UPDATE quota_defaults SET hard_limit = 2 WHERE resource = 'images'`); err != nil {
		t.Fatal(err)
	}
	demo := tc.DemoToken(t)
	tc.CreateImage(t, demo, map[string]any{"name": "one"})
	tc.CreateImage(t, demo, map[string]any{"name": "two"})
	r := tc.Do(t, "POST", "/image/v2/images", demo, map[string]any{"name": "three"})
	if r.Status != 403 || !strings.Contains(string(r.Body), "Quota exceeded for images") {
		t.Errorf("third image over a quota of 2: got %d %s", r.Status, r.Body)
	}
	for _, body := range []any{
		map[string]any{"disk_format": "vmdk"}, map[string]any{"min_ram": -1}, map[string]any{"name": strings.Repeat("n", 256)},
		map[string]any{"id": "nope"}, map[string]any{"visibility": "everyone"}, "{not json", `{"min_disk": "ten"}`,
	} {
		if r := tc.Do(t, "POST", "/image/v2/images", demo, body); r.Status != 400 {
			t.Errorf("create %v: got %d, want 400", body, r.Status)
		}
	}
	big := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	if r := tc.Do(t, "POST", "/image/v2/images", demo, big); r.Status != 413 {
		t.Errorf("2 MiB JSON body: got %d, want 413", r.Status)
	}
	// The same body without a length (chunked) is bounded too.
	req, _ := http.NewRequest("POST", tc.URL+"/image/v2/images", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("X-Auth-Token", demo)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1
	// The server answers 413 after reading just past the limit and closes
	// the connection, so the client may see the answer or a reset.
	res, err := http.DefaultClient.Do(req)
	switch {
	case err == nil && res.StatusCode != 413:
		t.Errorf("chunked 2 MiB JSON body: got %d, want 413", res.StatusCode)
	case err != nil && !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "broken pipe"):
		t.Errorf("chunked 2 MiB JSON body: %v", err)
	}
	if r := tc.Do(t, "GET", "/image/v2/images", demo, nil); len(r.JSON(t)["images"].([]any)) != 2 {
		t.Errorf("refused requests left records: %s", r.Body)
	}
}

// TestImageUploadStreams uploads 256 MiB and checks the server's heap
// never grows by anything like that: the data streams to disk.
func TestImageUploadStreams(t *testing.T) {
	tc := controllertest.New(t, nil)
	demo := tc.DemoToken(t)
	id := tc.CreateImage(t, demo, map[string]any{"name": "big", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	watch := controllertest.WatchHeap()
	const size = 256 << 20
	r := tc.Upload(t, demo, id, &controllertest.ZeroReader{Left: size}, -1) // chunked, like the CLI
	grew := watch()
	if r.Status != 204 {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	t.Logf("heap in use grew by at most %d MiB during a %d MiB upload", grew>>20, size>>20)
	if grew > 64<<20 {
		t.Errorf("heap grew by %d MiB: the upload is being buffered", grew>>20)
	}
	if got := tc.Do(t, "GET", "/image/v2/images/"+id, demo, nil).JSON(t)["size"]; got != float64(size) {
		t.Errorf("size: got %v", got)
	}
}
