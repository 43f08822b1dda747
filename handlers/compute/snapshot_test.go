package compute_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// TestSnapshotOnTheTestDriver takes a snapshot over the Nova API on
// libvirt's test driver (whose "disk" is an empty qcow2 of the flavor's
// size) and checks what Nova promises of it: 202 with the image (Location
// below 2.45, image_id from 2.45), an image owned by the instance's
// project with image_type=snapshot, instance_uuid and the request's
// metadata, active once the agent has sent it, the instance back to no
// task with the action logged, and a server that boots from it. Refused
// snapshots leave no image behind, and a failed one takes its image away.
func TestSnapshotOnTheTestDriver(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "snap-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "vm1", "flavorRef": "1", "imageRef": img})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	server := tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	images := func() int {
		t.Helper()
		return len(tc.Do(t, "GET", "/image/v2/images", demo, nil).JSON(t)["images"].([]any))
	}
	before := images()
	action := func(body any, hdr ...string) controllertest.Resp {
		t.Helper()
		return tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, body, hdr...)
	}
	for _, c := range []struct {
		body any
		want int
	}{
		{map[string]any{"createImage": map[string]any{}}, 400},                // no name
		{map[string]any{"createImage": nil}, 400},                             // no body
		{map[string]any{"createImage": map[string]any{"name": ""}}, 400},      // empty name
		{map[string]any{"createImage": map[string]any{"name": "x\x00"}}, 400}, // not storable
	} {
		if r := action(c.body); r.Status != c.want || !strings.Contains(string(r.Body), "badRequest") {
			t.Errorf("%v: %d %s, want %d", c.body, r.Status, r.Body, c.want)
		}
	}
	r = action(map[string]any{"createImage": map[string]any{"name": "snap1", "metadata": map[string]string{"purpose": "test"}}},
		"OpenStack-API-Version", "compute 2.45")
	if r.Status != 202 {
		t.Fatalf("createImage: %d %s", r.Status, r.Body)
	}
	snap := r.JSON(t)["image_id"].(string)
	// A second snapshot while the first runs is refused, and leaves no image.
	if r := action(map[string]any{"createImage": map[string]any{"name": "snap2"}}); r.Status != 409 {
		t.Logf("second snapshot during the first: %d (the first may already be done)", r.Status)
	}
	var im map[string]any
	controllertest.WaitFor(t, time.Minute, "the snapshot image to be active", func() bool {
		im = tc.Do(t, "GET", "/image/v2/images/"+snap, demo, nil).JSON(t)
		return im["status"] == "active"
	})
	for k, want := range map[string]any{"image_type": "snapshot", "instance_uuid": id, "purpose": "test",
		"disk_format": "qcow2", "container_format": "bare", "owner": server["tenant_id"], "base_image_ref": img,
		"visibility": "private"} {
		if im[k] != want {
			t.Errorf("snapshot image %s = %v, want %v", k, im[k], want)
		}
	}
	s := tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	controllertest.WaitFor(t, time.Minute, "the snapshot task to end", func() bool {
		s = tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
		return s["OS-EXT-STS:task_state"] == nil
	})
	acts := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/os-instance-actions", demo, nil).JSON(t)["instanceActions"].([]any)
	var req string
	for _, a := range acts {
		if m := a.(map[string]any); m["action"] == "createImage" {
			req = m["request_id"].(string)
		}
	}
	ev := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/os-instance-actions/"+req, demo, nil).JSON(t)["instanceAction"].(map[string]any)
	events := ev["events"].([]any)
	if len(events) != 1 || events[0].(map[string]any)["event"] != "compute_snapshot_instance" ||
		events[0].(map[string]any)["result"] != "Success" {
		t.Errorf("createImage action events: %v", events)
	}
	// Below 2.45 the image is in Location.
	r = action(map[string]any{"createImage": map[string]any{"name": "snap-old"}})
	if r.Status != 202 || !strings.HasSuffix(r.Header.Get("Location"), "/image/v2/images/"+imageFromLocation(r.Header.Get("Location"))) ||
		len(r.Body) != 0 {
		t.Errorf("createImage at 2.1: %d Location %q body %q", r.Status, r.Header.Get("Location"), r.Body)
	}
	tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)

	// The snapshot boots.
	r = tc.CreateServer(t, demo, map[string]any{"name": "from-snap", "flavorRef": "1", "imageRef": snap})
	if r.Status != 202 {
		t.Fatalf("boot from the snapshot: %d %s", r.Status, r.Body)
	}
	tc.WaitStatus(t, demo, r.JSON(t)["server"].(map[string]any)["id"].(string), "ACTIVE", time.Minute)

	// A failed snapshot takes its image away; an active one stays.
	queued := tc.CreateImage(t, demo, map[string]any{"name": "half", "disk_format": "qcow2", "container_format": "bare"})["id"].(string)
	for _, im := range []string{queued, snap} {
		if err := tc.Server.Compute().ApplyEvent(context.Background(), queue.Event{V: queue.Version, Kind: queue.EventFailed,
			Job: queue.JobSnapshot, InstanceID: id, Host: "snap-host", ImageID: im, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if r := tc.Do(t, "GET", "/image/v2/images/"+queued, demo, nil); r.Status != 404 {
		t.Errorf("the image of a failed snapshot: %d, want 404", r.Status)
	}
	if r := tc.Do(t, "GET", "/image/v2/images/"+snap, demo, nil); r.Status != 200 {
		t.Errorf("an active snapshot after a late failure report: %d, want 200", r.Status)
	}
	if n := images(); n != before+2 {
		t.Errorf("images: %d, want %d (two snapshots, no leftovers of refused ones)", n, before+2)
	}
}

func imageFromLocation(loc string) string {
	return loc[strings.LastIndex(loc, "/")+1:]
}

// TestSnapshotSurvivesAgentRestart kills the agent (SIGKILL) after it has
// copied a snapshot's disk and before it sends it, then starts it again:
// the pending job is delivered again and ends the task one way or the
// other, never leaving a task_state or a queued image for ever. (On
// libvirt's test driver a restarted agent has lost its domains, so the
// job fails and the snapshot's image is discarded, Nova's rule for a
// snapshot cut short; on QEMU the domain is still there and the snapshot
// is made again.)
func TestSnapshotSurvivesAgentRestart(t *testing.T) {
	tc := controllertest.New(t, nil)
	dir := t.TempDir()
	agent := tc.StartAgentOn(t, "snap-crash", "test:///default", dir, "NIMBUS_FAILPOINTS=agent.snapshot.copied")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "vm1", "flavorRef": "1", "imageRef": tc.ActiveImage(t)})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	r = tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo,
		map[string]any{"createImage": map[string]any{"name": "snap"}}, "OpenStack-API-Version", "compute 2.45")
	if r.Status != 202 {
		t.Fatalf("createImage: %d %s", r.Status, r.Body)
	}
	snap := r.JSON(t)["image_id"].(string)
	if err := agent.Cmd.Wait(); err == nil {
		t.Fatal("the agent exited cleanly; it should have died at its failpoint")
	}
	s := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
	if s["OS-EXT-STS:task_state"] == nil {
		t.Fatal("the snapshot's task ended with its agent dead")
	}
	tc.StartAgentOn(t, "snap-crash", "test:///default", dir)
	var status any
	controllertest.WaitFor(t, time.Minute, "the snapshot's task to end after the restart", func() bool {
		s = tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
		im := tc.Do(t, "GET", "/image/v2/images/"+snap, demo, nil)
		status = im.Status
		if im.Status == 200 {
			status = im.JSON(t)["status"]
		}
		return s["OS-EXT-STS:task_state"] == nil && (status == "active" || status == 404)
	})
	t.Logf("after the restart: server %v, image %v", s["status"], status)
}
