package volume_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestVolumesAPI walks Cinder's API on two simulated hosts (libvirt's
// test driver; the volumes themselves are real qcow2 files made by the
// agents, and the cross-host attach runs real qemu-storage-daemons):
// create, the statuses, bad input, another project's 404s, quotas and
// limits, attach to a server on the other host (an NBD export and its
// relay), refusals while attached, snapshots (forced of an in-use
// volume), a volume from a snapshot, detach, extend, types, deletes.
func TestVolumesAPI(t *testing.T) {
	// A host silent for 3 s is down: the storage-down step below.
	tc := controllertest.New(t, map[string]string{"NIMBUS_AGENT_LIVENESS": "3s"})
	// vol-a keeps the volumes; vol-b runs the server and keeps none, so
	// the attach crosses hosts.
	storageHost := tc.StartAgent(t, "vol-a")
	computeHost := tc.StartAgentOn(t, "vol-b", "test:///default", t.TempDir(),
		"NIMBUS_AGENT_STORAGE_DIR=none", "NIMBUS_AGENT_AZ=zone-b")
	tc.WaitHosts(t, 2)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	other := tc.Token(t, tc.NewProjectMember(t, "volother"), controllertest.MemberPassword, "volother")
	cinder := func(method, path, token string, body any, want int, hdr ...string) map[string]any {
		t.Helper()
		r := tc.Do(t, method, "/volume/v3"+path, token, body, hdr...)
		if r.Status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, want)
		}
		if len(r.Body) == 0 {
			return nil
		}
		return r.JSON(t)
	}
	volume := func(id, token string) map[string]any {
		t.Helper()
		return cinder("GET", "/volumes/"+id, token, nil, 200)["volume"].(map[string]any)
	}
	waitStatus := func(id, want string) map[string]any {
		t.Helper()
		var v map[string]any
		controllertest.WaitFor(t, 30*time.Second, "volume "+id+" "+want, func() bool {
			v = volume(id, demo)
			return v["status"] == want
		})
		return v
	}

	// The catalog names the service under both of Cinder's types.
	tok := tc.Do(t, "POST", "/identity/v3/auth/tokens", "", controllertest.PasswordAuth("demo", tc.DemoPass, "demo"))
	for _, typ := range []string{`"type":"block-storage"`, `"type":"volumev3"`} {
		if !strings.Contains(string(tok.Body), typ) {
			t.Errorf("the catalog has no %s", typ)
		}
	}
	if r := tc.Do(t, "GET", "/volume/v3/", "", nil, "OpenStack-API-Version", "volume 3.27"); r.Status != 200 ||
		r.Header.Get("OpenStack-API-Version") != "volume 3.27" {
		t.Errorf("version document: %d %q", r.Status, r.Header.Get("OpenStack-API-Version"))
	}
	if r := tc.Do(t, "GET", "/volume/v3/volumes", demo, nil, "OpenStack-API-Version", "volume 3.99"); r.Status != 406 {
		t.Errorf("microversion 3.99: %d", r.Status)
	}

	// Bad input: Cinder's 400s, and the quota's 413.
	for _, body := range []map[string]any{
		{"volume": map[string]any{"size": 0}}, {"volume": map[string]any{"size": -1}},
		{"volume": map[string]any{"size": "abc"}}, {"volume": map[string]any{"name": "no size"}},
		{"volume": map[string]any{"size": 1, "volume_type": "nosuch"}}, {"volume": map[string]any{"size": 1, "multiattach": true}},
		{"nothing": 1},
	} {
		r := tc.Do(t, "POST", "/volume/v3/volumes", demo, body)
		if r.Status != 400 && r.Status != 404 || !strings.Contains(string(r.Body), `"message"`) {
			t.Errorf("create %v: %d %s", body, r.Status, r.Body)
		}
	}
	if r := tc.Do(t, "POST", "/volume/v3/volumes", demo, map[string]any{"volume": map[string]any{"size": 5000}}); r.Status != 413 ||
		!strings.Contains(string(r.Body), "overLimit") || !strings.Contains(string(r.Body), "gigabytes") {
		t.Errorf("a volume over the gigabytes quota: %d %s", r.Status, r.Body)
	}

	// Create: creating, then available, on the storage host, as a real file.
	v := cinder("POST", "/volumes", demo, map[string]any{"volume": map[string]any{"size": 1, "name": "data",
		"metadata": map[string]string{"k": "v"}}}, 202)["volume"].(map[string]any)
	vid := v["id"].(string)
	if v["status"] != "creating" || v["size"] != 1.0 || v["bootable"] != "false" || v["volume_type"] != "__DEFAULT__" {
		t.Errorf("new volume: %v", v)
	}
	waitStatus(vid, "available")
	if h := volume(vid, admin)["os-vol-host-attr:host"]; h != "vol-a@local#local" {
		t.Errorf("host %v, want vol-a@local#local (Cinder's host@backend#pool)", h)
	}
	if _, ok := volume(vid, demo)["os-vol-host-attr:host"]; ok {
		t.Error("a member sees the volume's host")
	}
	if _, err := os.Stat(filepath.Join(storageHost.Dir, "volumes", vid+".qcow2")); err != nil {
		t.Errorf("the volume's file: %v", err)
	}
	// Paths with the project id (before 3.67) reach the same volume.
	var demoProject string
	tc.Server.Pool().QueryRow(t.Context(), `SELECT project_id FROM volumes WHERE id = $1`, vid).Scan(&demoProject)
	if r := tc.Do(t, "GET", "/volume/v3/"+demoProject+"/volumes/"+vid, demo, nil); r.Status != 200 {
		t.Errorf("the volume under /v3/{project_id}: %d %s", r.Status, r.Body)
	}
	list := cinder("GET", "/volumes/detail?name=data", demo, nil, 200)["volumes"].([]any)
	if len(list) != 1 {
		t.Errorf("list by name: %d volumes", len(list))
	}

	// Another project sees nothing of it.
	for _, p := range []struct{ method, path string }{{"GET", "/volumes/" + vid}, {"PUT", "/volumes/" + vid},
		{"DELETE", "/volumes/" + vid}, {"POST", "/volumes/" + vid + "/action"}} {
		r := tc.Do(t, p.method, "/volume/v3"+p.path, other, map[string]any{"volume": map[string]any{"name": "x"}, "os-extend": map[string]any{"new_size": 2}})
		if r.Status != 404 || !strings.Contains(string(r.Body), "itemNotFound") {
			t.Errorf("another project's %s %s: %d %s", p.method, p.path, r.Status, r.Body)
		}
	}
	if n := len(cinder("GET", "/volumes", other, nil, 200)["volumes"].([]any)); n != 0 {
		t.Errorf("another project lists %d volumes", n)
	}

	// Attach to a server on the other host: an export on vol-a read
	// through a relay on vol-b.
	img := tc.ActiveImage(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "vm", "flavorRef": "1", "imageRef": img, "availability_zone": "zone-b"})
	if r.Status != 202 {
		t.Fatalf("launch: %d %s", r.Status, r.Body)
	}
	srv := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, srv, "ACTIVE", 30*time.Second)
	if _, _, host, _ := tc.InstanceRow(t, srv); host != "vol-b" {
		t.Fatalf("the server is on %s, not vol-b", host)
	}
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+srv+"/os-volume_attachments", other,
		map[string]any{"volumeAttachment": map[string]any{"volumeId": vid}}); r.Status != 404 {
		t.Errorf("another project attaches to the server: %d", r.Status)
	}
	r = tc.Do(t, "POST", "/compute/v2.1/servers/"+srv+"/os-volume_attachments", demo,
		map[string]any{"volumeAttachment": map[string]any{"volumeId": vid}})
	if r.Status != 200 {
		t.Fatalf("attach: %d %s", r.Status, r.Body)
	}
	if dev := r.JSON(t)["volumeAttachment"].(map[string]any)["device"]; dev != "/dev/vdb" {
		t.Errorf("device %v", dev)
	}
	v = waitStatus(vid, "in-use")
	att := v["attachments"].([]any)[0].(map[string]any)
	if att["server_id"] != srv || att["device"] != "/dev/vdb" {
		t.Errorf("attachment %v", att)
	}
	relays, _ := filepath.Glob(filepath.Join(computeHost.Dir, "relays", "*", "daemon.json"))
	exports, _ := filepath.Glob(filepath.Join(storageHost.Dir, "volumes", "exports", "*", "daemon.json"))
	if len(relays) != 1 || len(exports) != 1 {
		t.Errorf("after a cross-host attach: %d relays on the compute host, %d exports on the storage host", len(relays), len(exports))
	}
	s := tc.Do(t, "GET", "/compute/v2.1/servers/"+srv, demo, nil, "OpenStack-API-Version", "compute 2.3").JSON(t)["server"].(map[string]any)
	if got := fmt.Sprint(s["os-extended-volumes:volumes_attached"]); got != "[map[delete_on_termination:false id:"+vid+"]]" {
		t.Errorf("server's volumes: %s", got)
	}
	// Refusals while attached: attach again 409, delete 400, snapshot
	// without force 400, another project's volume 404.
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+srv+"/os-volume_attachments", demo,
		map[string]any{"volumeAttachment": map[string]any{"volumeId": vid}}); r.Status != 409 {
		t.Errorf("attach an in-use volume: %d %s", r.Status, r.Body)
	}
	cinder("DELETE", "/volumes/"+vid, demo, nil, 400)
	// What would make the domain anew without the volume is refused.
	for _, action := range []map[string]any{{"shelve": nil}, {"rebuild": map[string]any{"imageRef": img}}} {
		if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+srv+"/action", demo, action); r.Status != 409 {
			t.Errorf("%v of a server with a volume: %d %s", action, r.Status, r.Body)
		}
	}
	cinder("POST", "/snapshots", demo, map[string]any{"snapshot": map[string]any{"volume_id": vid}}, 400)
	ov := cinder("POST", "/volumes", other, map[string]any{"volume": map[string]any{"size": 1}}, 202)["volume"].(map[string]any)["id"].(string)
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+srv+"/os-volume_attachments", demo,
		map[string]any{"volumeAttachment": map[string]any{"volumeId": ov}}); r.Status != 404 {
		t.Errorf("attach another project's volume: %d %s", r.Status, r.Body)
	}

	// A forced snapshot of the in-use volume, and a volume made from it
	// (on the snapshot's host), larger.
	sn := cinder("POST", "/snapshots", demo, map[string]any{"snapshot": map[string]any{"volume_id": vid, "force": true, "name": "s1"}}, 202)["snapshot"].(map[string]any)
	snID := sn["id"].(string)
	controllertest.WaitFor(t, 30*time.Second, "snapshot available", func() bool {
		return cinder("GET", "/snapshots/"+snID, demo, nil, 200)["snapshot"].(map[string]any)["status"] == "available"
	})
	cinder("GET", "/snapshots/"+snID, other, nil, 404)
	fromSnap := cinder("POST", "/volumes", demo, map[string]any{"volume": map[string]any{"snapshot_id": snID, "size": 2}}, 202)["volume"].(map[string]any)["id"].(string)
	if v := waitStatus(fromSnap, "available"); v["size"] != 2.0 || v["snapshot_id"] != snID {
		t.Errorf("volume from a snapshot: %v", v)
	}

	// Quotas and limits count them: 2 volumes (3 GB) and a 1 GB snapshot.
	q := cinder("GET", "/os-quota-sets/"+demoProject+"?usage=True", demo, nil, 200)["quota_set"].(map[string]any)
	if u := q["volumes"].(map[string]any)["in_use"]; u != 2.0 {
		t.Errorf("volumes in use %v", u)
	}
	if u := q["gigabytes"].(map[string]any)["in_use"]; u != 4.0 {
		t.Errorf("gigabytes in use %v, want 4 (3 of volumes, 1 of the snapshot)", u)
	}
	lim := cinder("GET", "/limits", demo, nil, 200)["limits"].(map[string]any)["absolute"].(map[string]any)
	if lim["totalVolumesUsed"] != 2.0 || lim["maxTotalVolumes"] != 10.0 || lim["totalSnapshotsUsed"] != 1.0 {
		t.Errorf("limits %v", lim)
	}
	cinder("GET", "/os-quota-sets/"+demoProject, other, nil, 404)
	cinder("PUT", "/os-quota-sets/"+demoProject, demo, map[string]any{"quota_set": map[string]any{"volumes": 2}}, 403)
	cinder("PUT", "/os-quota-sets/"+demoProject, admin, map[string]any{"quota_set": map[string]any{"volumes": 2}}, 200)
	if r := tc.Do(t, "POST", "/volume/v3/volumes", demo, map[string]any{"volume": map[string]any{"size": 1}}); r.Status != 413 {
		t.Errorf("a third volume over a quota of 2: %d %s", r.Status, r.Body)
	}
	cinder("DELETE", "/os-quota-sets/"+demoProject, admin, nil, 200)

	// A volume with snapshots is not deleted.
	if r := tc.Do(t, "DELETE", "/volume/v3/volumes/"+vid, demo, nil); r.Status != 400 {
		t.Errorf("delete an attached volume with snapshots: %d", r.Status)
	}

	// Detach: available again, the relay and the export gone.
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+srv+"/os-volume_attachments/"+vid, demo, nil); r.Status != 202 {
		t.Fatalf("detach: %d %s", r.Status, r.Body)
	}
	waitStatus(vid, "available")
	relays, _ = filepath.Glob(filepath.Join(computeHost.Dir, "relays", "*", "daemon.json"))
	exports, _ = filepath.Glob(filepath.Join(storageHost.Dir, "volumes", "exports", "*", "daemon.json"))
	if len(relays)+len(exports) != 0 {
		t.Errorf("after the detach: %d relays, %d exports left", len(relays), len(exports))
	}
	s = tc.Do(t, "GET", "/compute/v2.1/servers/"+srv, demo, nil).JSON(t)["server"].(map[string]any)
	if got := fmt.Sprint(s["os-extended-volumes:volumes_attached"]); got != "[]" {
		t.Errorf("server's volumes after the detach: %s", got)
	}

	// Extend: larger only.
	cinder("POST", "/volumes/"+vid+"/action", demo, map[string]any{"os-extend": map[string]any{"new_size": 1}}, 400)
	cinder("POST", "/volumes/"+vid+"/action", demo, map[string]any{"os-extend": map[string]any{"new_size": 3}}, 202)
	controllertest.WaitFor(t, 30*time.Second, "extended to 3 GB", func() bool {
		v := volume(vid, demo)
		return v["status"] == "available" && v["size"] == 3.0
	})

	// Volume types: admins make them; a member neither makes nor deletes.
	cinder("POST", "/types", demo, map[string]any{"volume_type": map[string]any{"name": "fast"}}, 403)
	typ := cinder("POST", "/types", admin, map[string]any{"volume_type": map[string]any{"name": "fast",
		"extra_specs": map[string]string{"volume_backend_name": "local"}}}, 200)["volume_type"].(map[string]any)
	cinder("POST", "/types", admin, map[string]any{"volume_type": map[string]any{"name": "fast"}}, 409)
	typed := cinder("POST", "/volumes", demo, map[string]any{"volume": map[string]any{"size": 1, "volume_type": "fast"}}, 202)["volume"].(map[string]any)["id"].(string)
	waitStatus(typed, "available")
	cinder("DELETE", "/types/"+typ["id"].(string), admin, nil, 400) // in use
	q = cinder("GET", "/os-quota-sets/"+demoProject+"?usage=True", demo, nil, 200)["quota_set"].(map[string]any)
	if u := q["volumes_fast"].(map[string]any)["in_use"]; u != 1.0 {
		t.Errorf("volumes_fast in use %v", u)
	}

	// Deletes: the snapshot, then the volumes; files and rows go.
	cinder("DELETE", "/snapshots/"+snID, demo, nil, 202)
	controllertest.WaitFor(t, 30*time.Second, "snapshot gone", func() bool {
		return tc.Do(t, "GET", "/volume/v3/snapshots/"+snID, demo, nil).Status == 404
	})
	for _, id := range []string{vid, fromSnap, typed} {
		cinder("DELETE", "/volumes/"+id, demo, nil, 202)
	}
	for _, id := range []string{vid, fromSnap, typed} {
		controllertest.WaitFor(t, 30*time.Second, "volume "+id+" gone", func() bool {
			return tc.Do(t, "GET", "/volume/v3/volumes/"+id, demo, nil).Status == 404
		})
	}
	if left, _ := filepath.Glob(filepath.Join(storageHost.Dir, "volumes", "*.qcow2")); len(left) != 1 { // the other project's
		t.Errorf("volume files left: %v", left)
	}
	cinder("DELETE", "/types/"+typ["id"].(string), admin, nil, 202)

	// The storage host is down: a new volume is error, with why.
	storageHost.Stop()
	controllertest.WaitFor(t, 30*time.Second, "vol-a silent", func() bool {
		var n int
		tc.Server.Pool().QueryRow(t.Context(), `SELECT count(*) FROM compute_hosts
			WHERE host = 'vol-a' AND last_seen > now() - interval '4 seconds'`).Scan(&n)
		return n == 0
	})
	down := cinder("POST", "/volumes", demo, map[string]any{"volume": map[string]any{"size": 1}}, 202)["volume"].(map[string]any)["id"].(string)
	if v := volume(down, demo); v["status"] != "error" {
		t.Errorf("a volume made while no storage host is up: %v", v["status"])
	}
	cinder("DELETE", "/volumes/"+down, demo, nil, 202)
}

// TestVolumeFaults: the storage host dies while it makes a volume from an
// image (a failpoint kills it once the image is fetched): the volume ends
// in error, not creating, once the host is seen down; the quota counts
// exactly what exists; the host back, the volume is deleted with what the
// cut-short copy left. The compute host dies during an attach: the
// volume ends in error and still attached (the guest may have it), never
// attaching, and a detach once the host is back makes it available.
func TestVolumeFaults(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_AGENT_LIVENESS": "3s"})
	dir := t.TempDir()
	tc.StartAgentOn(t, "vol-f", "test:///default", dir, "NIMBUS_FAILPOINTS=agent.volume.image_fetched")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	r := tc.Do(t, "POST", "/volume/v3/volumes", demo, map[string]any{"volume": map[string]any{"size": 1, "imageRef": img, "name": "boot"}})
	if r.Status != 202 {
		t.Fatalf("create from an image: %d %s", r.Status, r.Body)
	}
	v := r.JSON(t)["volume"].(map[string]any)
	id := v["id"].(string)
	if v["bootable"] != "true" {
		t.Errorf("a volume from an image is not bootable: %v", v["bootable"])
	}
	var got map[string]any
	controllertest.WaitFor(t, 60*time.Second, "the volume in error", func() bool {
		got = tc.Do(t, "GET", "/volume/v3/volumes/"+id, demo, nil).JSON(t)["volume"].(map[string]any)
		return got["status"] == "error"
	})
	var why string
	tc.Server.Pool().QueryRow(t.Context(), `SELECT error FROM volumes WHERE id = $1`, id).Scan(&why)
	if !strings.Contains(why, "went away") {
		t.Errorf("the volume's error: %q, want the host's death", why)
	}
	lim := tc.Do(t, "GET", "/volume/v3/limits", demo, nil).JSON(t)["limits"].(map[string]any)["absolute"].(map[string]any)
	if lim["totalVolumesUsed"] != 1.0 || lim["totalGigabytesUsed"] != 1.0 {
		t.Errorf("limits while the volume is error: %v", lim)
	}
	// The host comes back (without the failpoint); the delete reaches it.
	tc.StartAgentOn(t, "vol-f", "test:///default", dir)
	tc.WaitHosts(t, 1)
	if r := tc.Do(t, "DELETE", "/volume/v3/volumes/"+id, demo, nil); r.Status != 202 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, 30*time.Second, "the volume gone", func() bool {
		return tc.Do(t, "GET", "/volume/v3/volumes/"+id, demo, nil).Status == 404
	})
	if left, _ := filepath.Glob(filepath.Join(dir, "volumes", id+"*")); len(left) != 0 {
		t.Errorf("left of the volume: %v", left)
	}
	lim = tc.Do(t, "GET", "/volume/v3/limits", demo, nil).JSON(t)["limits"].(map[string]any)["absolute"].(map[string]any)
	if lim["totalVolumesUsed"] != 0.0 || lim["totalGigabytesUsed"] != 0.0 {
		t.Errorf("limits after the delete: %v", lim)
	}

	// The compute host dies during an attach.
	cdir := t.TempDir()
	tc.StartAgentOn(t, "vol-c", "test:///default", cdir, "NIMBUS_AGENT_STORAGE_DIR=none", "NIMBUS_AGENT_AZ=zone-c",
		"NIMBUS_FAILPOINTS=agent.volume.attaching")
	tc.WaitHosts(t, 2)
	r = tc.CreateServer(t, demo, map[string]any{"name": "vm", "flavorRef": "1", "imageRef": img, "availability_zone": "zone-c"})
	if r.Status != 202 {
		t.Fatalf("launch: %d %s", r.Status, r.Body)
	}
	srv := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, srv, "ACTIVE", 30*time.Second)
	id = tc.Do(t, "POST", "/volume/v3/volumes", demo, map[string]any{"volume": map[string]any{"size": 1}}).JSON(t)["volume"].(map[string]any)["id"].(string)
	controllertest.WaitFor(t, 30*time.Second, "the volume available", func() bool {
		return tc.Do(t, "GET", "/volume/v3/volumes/"+id, demo, nil).JSON(t)["volume"].(map[string]any)["status"] == "available"
	})
	began := time.Now()
	r = tc.Do(t, "POST", "/compute/v2.1/servers/"+srv+"/os-volume_attachments", demo, map[string]any{"volumeAttachment": map[string]any{"volumeId": id}})
	if r.Status != 409 {
		t.Errorf("an attach whose host died: %d %s", r.Status, r.Body)
	}
	if d := time.Since(began); d > 20*time.Second {
		t.Errorf("the attach waited %s for a dead host", d)
	}
	v = tc.Do(t, "GET", "/volume/v3/volumes/"+id, demo, nil).JSON(t)["volume"].(map[string]any)
	if v["status"] != "error" || len(v["attachments"].([]any)) != 1 {
		t.Errorf("after the attach's host died: status %v, attachments %v", v["status"], v["attachments"])
	}
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+srv+"/os-volume_attachments", demo, map[string]any{"volumeAttachment": map[string]any{"volumeId": id}}); r.Status != 409 {
		t.Errorf("attach again a volume the dead host may have: %d", r.Status)
	}
	tc.StartAgentOn(t, "vol-c", "test:///default", cdir, "NIMBUS_AGENT_STORAGE_DIR=none", "NIMBUS_AGENT_AZ=zone-c")
	tc.WaitHosts(t, 2)
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+srv+"/os-volume_attachments/"+id, demo, nil); r.Status != 202 {
		t.Fatalf("detach: %d %s", r.Status, r.Body)
	}
	if v := tc.Do(t, "GET", "/volume/v3/volumes/"+id, demo, nil).JSON(t)["volume"].(map[string]any); v["status"] != "available" {
		t.Errorf("after the detach: %v", v["status"])
	}
}

// TestBootFromVolumeAPI: block_device_mapping_v2 on the test driver. A
// server booted from a volume made from an image waits for the volume,
// then runs with it at /dev/vda and shows no image; an extra blank volume
// is its vdb; bad mappings are 400s with nothing made; deleting the server
// deletes the volumes it was told to and frees the others; a volume that
// cannot be made (no storage host) ends the build in ERROR.
func TestBootFromVolumeAPI(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_AGENT_LIVENESS": "3s"})
	storage := tc.StartAgent(t, "bfv-a")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	zero := 0
	launch := func(name string, bdm []map[string]any, want int, extra ...map[string]any) string {
		t.Helper()
		body := map[string]any{"name": name, "flavorRef": "1", "block_device_mapping_v2": bdm}
		for _, e := range extra {
			for k, v := range e {
				body[k] = v
			}
		}
		r := tc.CreateServer(t, demo, body)
		if r.Status != want {
			t.Fatalf("launch %s: %d %s, want %d", name, r.Status, r.Body, want)
		}
		if want != 202 {
			return ""
		}
		return r.JSON(t)["server"].(map[string]any)["id"].(string)
	}
	countVolumes := func() int {
		var n int
		tc.Server.Pool().QueryRow(t.Context(), `SELECT count(*) FROM volumes`).Scan(&n)
		return n
	}
	fromImage := func(size any, boot any, dot bool) map[string]any {
		return map[string]any{"source_type": "image", "destination_type": "volume", "uuid": img, "volume_size": size,
			"boot_index": boot, "delete_on_termination": dot}
	}

	// Bad mappings: nothing is made.
	for _, bad := range [][]map[string]any{
		{fromImage(0, zero, true)},
		{fromImage(1, zero, true), fromImage(1, zero, true)},
		{{"source_type": "blank", "destination_type": "volume", "volume_size": 1, "boot_index": 0}},
		{{"source_type": "floppy", "destination_type": "volume", "volume_size": 1}},
		{{"source_type": "volume", "destination_type": "volume", "uuid": "00000000-0000-4000-8000-000000000000", "boot_index": 0}},
		{{"source_type": "blank", "destination_type": "local", "volume_size": 1}},
	} {
		launch("bad", bad, 400)
	}
	launch("many", []map[string]any{fromImage(1, zero, true)}, 400, map[string]any{"max_count": 2})
	if n := countVolumes(); n != 0 {
		t.Fatalf("bad mappings made %d volumes", n)
	}

	// Boot from a volume made from the image, with a blank data volume.
	id := launch("bfv", []map[string]any{fromImage("1", "0", true),
		{"source_type": "blank", "destination_type": "volume", "volume_size": 1, "boot_index": -1}}, 202)
	s := tc.WaitStatus(t, demo, id, "ACTIVE", 60*time.Second)
	if s["image"] != "" {
		t.Errorf("a server booted from a volume shows image %v, want \"\"", s["image"])
	}
	atts := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/os-volume_attachments", demo, nil).JSON(t)["volumeAttachments"].([]any)
	if len(atts) != 2 || atts[0].(map[string]any)["device"] != "/dev/vda" || atts[1].(map[string]any)["device"] != "/dev/vdb" {
		t.Fatalf("attachments %v", atts)
	}
	boot := atts[0].(map[string]any)["volumeId"].(string)
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"createImage": map[string]any{"name": "x"}}); r.Status != 409 {
		t.Errorf("createImage of a server booted from a volume: %d %s", r.Status, r.Body)
	}
	data := atts[1].(map[string]any)["volumeId"].(string)
	bv := tc.Do(t, "GET", "/volume/v3/volumes/"+boot, demo, nil).JSON(t)["volume"].(map[string]any)
	if bv["status"] != "in-use" || bv["bootable"] != "true" || bv["volume_image_metadata"] == nil {
		t.Errorf("the boot volume: %v", bv)
	}
	// The boot volume goes with the server (delete_on_termination); the
	// blank one, not told to, stays, available.
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, 30*time.Second, "the boot volume deleted, the data volume available", func() bool {
		gone := tc.Do(t, "GET", "/volume/v3/volumes/"+boot, demo, nil).Status == 404
		r := tc.Do(t, "GET", "/volume/v3/volumes/"+data, demo, nil)
		return gone && r.Status == 200 && r.JSON(t)["volume"].(map[string]any)["status"] == "available"
	})

	// Boot from that existing volume? It is blank, not bootable: Nova
	// boots what it is given; here a server from an existing volume runs.
	id = launch("from-existing", []map[string]any{{"source_type": "volume", "destination_type": "volume", "uuid": data,
		"boot_index": zero}}, 202)
	tc.WaitStatus(t, demo, id, "ACTIVE", 60*time.Second)
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, 30*time.Second, "the existing volume freed", func() bool {
		return tc.Do(t, "GET", "/volume/v3/volumes/"+data, demo, nil).JSON(t)["volume"].(map[string]any)["status"] == "available"
	})

	// No storage host: the volume is error, the build ends in ERROR.
	storage.Stop()
	tc.StartAgentOn(t, "bfv-b", "test:///default", t.TempDir(), "NIMBUS_AGENT_STORAGE_DIR=none")
	controllertest.WaitFor(t, 30*time.Second, "bfv-a silent", func() bool {
		var n int
		tc.Server.Pool().QueryRow(t.Context(), `SELECT count(*) FROM compute_hosts
			WHERE host = 'bfv-a' AND last_seen > now() - interval '4 seconds'`).Scan(&n)
		return n == 0
	})
	id = launch("nowhere", []map[string]any{fromImage(1, zero, true)}, 202)
	s = tc.WaitStatus(t, demo, id, "ERROR", 60*time.Second)
	if msg := fmt.Sprint(s["fault"]); !strings.Contains(msg, "Build of instance aborted") {
		t.Errorf("the fault: %s", msg)
	}
}
