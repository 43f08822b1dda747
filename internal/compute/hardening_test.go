package compute_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// outboxJobs counts the jobs of kind for instance written to the outbox.
func outboxJobs(t *testing.T, tc *controllertest.Cloud, kind queue.JobKind, instance string) int {
	t.Helper()
	var n int
	if err := tc.Server.Pool().QueryRow(context.Background(), `SELECT count(*) FROM outbox
		WHERE payload->>'kind' = $1 AND payload->>'instance_id' = $2`, kind, instance).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// launch starts a server as demo and waits for it to be ACTIVE.
func launch(t *testing.T, tc *controllertest.Cloud, demo, img, name string) string {
	t.Helper()
	r := tc.CreateServer(t, demo, map[string]any{"name": name, "flavorRef": "1", "imageRef": img})
	if r.Status != 202 {
		t.Fatalf("create %s: %d %s", name, r.Status, r.Body)
	}
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", 20*time.Second)
	return id
}

// TestEventsTwiceOrLateChangeNothing: at-least-once delivery makes
// duplicates normal. A replayed spawned event for an ACTIVE instance used
// to queue a delete of its running domain (issue 8, defect 2); every
// event below, applied again or after a newer one, must leave the
// instance as it is and send no job anywhere.
func TestEventsTwiceOrLateChangeNothing(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "sim-dup")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	demo := tc.DemoToken(t)
	id := launch(t, tc, demo, img, "dup")
	ctx := context.Background()

	// A stop then a start: the instance's current task action is the start's.
	for _, a := range []string{"os-stop", "os-start"} {
		if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{a: nil}); r.Status != 202 {
			t.Fatalf("%s: %d %s", a, r.Status, r.Body)
		}
		want := map[string]string{"os-stop": "SHUTOFF", "os-start": "ACTIVE"}[a]
		tc.WaitStatus(t, demo, id, want, 20*time.Second)
	}
	var createAction, stopAction int64
	tc.Server.Pool().QueryRow(ctx, `SELECT id FROM instance_actions WHERE instance_id = $1 AND action = 'create'`, id).Scan(&createAction)
	tc.Server.Pool().QueryRow(ctx, `SELECT id FROM instance_actions WHERE instance_id = $1 AND action = 'stop'`, id).Scan(&stopAction)
	old := time.Now().Add(-time.Hour)
	events := []queue.Event{
		{Kind: queue.EventDone, Job: queue.JobBuild, ActionID: createAction, Power: model.PowerRunning},
		{Kind: queue.EventDone, Job: queue.JobBuild}, // no action id at all
		{Kind: queue.EventDone, Job: queue.JobStop, ActionID: stopAction, Power: model.PowerShutdown},
		{Kind: queue.EventFailed, Job: queue.JobStop, ActionID: stopAction},
		{Kind: queue.EventDone, Job: queue.JobDelete},
		{Kind: queue.EventPower, Power: model.PowerShutdown, At: old}, // taken before the start
	}
	deletesBefore := outboxJobs(t, tc, queue.JobDelete, id)
	for _, ev := range events {
		ev.V, ev.InstanceID, ev.Host = queue.Version, id, "sim-dup"
		if ev.At.IsZero() {
			ev.At = time.Now()
		}
		for i := 0; i < 2; i++ { // and each twice
			if err := tc.Server.Compute().ApplyEvent(ctx, ev); err != nil {
				t.Fatalf("apply %s: %v", ev.Kind, err)
			}
		}
		vm, task, host, _ := tc.InstanceRow(t, id)
		if vm != "active" || task != "" || host != "sim-dup" {
			t.Fatalf("after a replayed %s event: %s/%q on %s, want active/None on sim-dup", ev.Kind, vm, task, host)
		}
		if n := outboxJobs(t, tc, queue.JobDelete, id); n != deletesBefore {
			t.Fatalf("a replayed %s event queued a delete of the running domain", ev.Kind)
		}
	}
	// The real path too: a duplicate spawned through the events stream.
	b, _ := json.Marshal(queue.Event{V: queue.Version, Kind: queue.EventDone, Job: queue.JobBuild, InstanceID: id,
		ActionID: createAction, Host: "sim-dup", Power: model.PowerRunning, At: time.Now()})
	if err := queue.Publish(ctx, tc.Server.RDB(), queue.EventStream(tc.Config.RedisPrefix), b); err != nil {
		t.Fatal(err)
	}
	controllertest.WaitFor(t, 10*time.Second, "the replayed event to be applied", func() bool {
		p, err := tc.Server.RDB().XPending(ctx, queue.EventStream(tc.Config.RedisPrefix), "applier").Result()
		return err == nil && p.Count == 0
	})
	time.Sleep(300 * time.Millisecond)
	if n := outboxJobs(t, tc, queue.JobDelete, id); n != deletesBefore {
		t.Fatal("a duplicate spawned event on the stream queued a delete of the running domain")
	}
	if s := tc.WaitStatus(t, demo, id, "ACTIVE", 5*time.Second); s["OS-EXT-STS:power_state"] != float64(1) {
		t.Fatalf("power state %v, want 1 (running)", s["OS-EXT-STS:power_state"])
	}
}

// TestDomainsTheDatabaseDoesNotPlaceAreKept: a domain reported by a host
// the database does not place its instance on (an agent back under
// another host name, a database restored from an older backup) is
// recorded for an admin and never destroyed (issue 8, defect 3). Only the
// domain of an instance the database says is deleted, on the host that
// owned it, or of a failed attempt on a host the instance tried, is
// removed.
func TestDomainsTheDatabaseDoesNotPlaceAreKept(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "sim-own")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	demo := tc.DemoToken(t)
	id := launch(t, tc, demo, img, "own")
	ctx := context.Background()
	apply := func(ev queue.Event) {
		t.Helper()
		ev.V, ev.At = queue.Version, time.Now()
		if err := tc.Server.Compute().ApplyEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	unknown := "7d3c3e8e-5b0e-4f57-9d0c-3f1c2b9a8e11"
	cases := []struct {
		what       string
		ev         queue.Event
		instanceID string
	}{
		{"a domain the database has no instance for", queue.Event{Kind: queue.EventPower, InstanceID: unknown, Host: "sim-own", Power: model.PowerRunning}, unknown},
		{"the same instance reported by a renamed host", queue.Event{Kind: queue.EventPower, InstanceID: id, Host: "sim-renamed", Power: model.PowerRunning}, id},
		{"a late build on a host the instance never tried", queue.Event{Kind: queue.EventDone, Job: queue.JobBuild, InstanceID: id, Host: "sim-other", Power: model.PowerRunning}, id},
	}
	for _, c := range cases {
		apply(c.ev)
		if n := outboxJobs(t, tc, queue.JobDelete, c.instanceID); n != 0 {
			t.Fatalf("%s: a delete was queued", c.what)
		}
		var reason string
		if err := tc.Server.Pool().QueryRow(ctx, `SELECT reason FROM unrecognised_domains WHERE host = $1 AND instance_id = $2`,
			c.ev.Host, c.instanceID).Scan(&reason); err != nil {
			t.Fatalf("%s: not recorded for an admin: %v", c.what, err)
		}
	}
	if vm, _, host, _ := tc.InstanceRow(t, id); vm != "active" || host != "sim-own" {
		t.Fatalf("instance %s on %s after foreign reports, want active on sim-own", vm, host)
	}
	// The admin's Hosts page lists them.
	admin := tc.NewFormClient(t)
	admin.Login("admin", tc.AdminPass)
	if page := admin.Get("/admin/hypervisors"); !strings.Contains(page.Body, unknown) || !strings.Contains(page.Body, "sim-renamed") {
		t.Fatalf("admin hosts page does not list the unrecognised domains")
	}
	// A host's full list drops the records of domains it no longer has.
	apply(queue.Event{Kind: queue.EventInventory, Host: "sim-own", Instances: []string{id}})
	var n int
	tc.Server.Pool().QueryRow(ctx, `SELECT count(*) FROM unrecognised_domains WHERE host = 'sim-own'`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d records left for sim-own after a list without them", n)
	}

	// Deleted in the database, reported by the host that owned it: reaped.
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d", r.Status)
	}
	controllertest.WaitFor(t, 20*time.Second, "the server to be deleted", func() bool {
		vm, _, _, _ := tc.InstanceRow(t, id)
		return vm == "deleted"
	})
	before := outboxJobs(t, tc, queue.JobDelete, id)
	apply(queue.Event{Kind: queue.EventPower, InstanceID: id, Host: "sim-renamed", Power: model.PowerRunning})
	if outboxJobs(t, tc, queue.JobDelete, id) != before {
		t.Fatal("a deleted instance's domain on a host that never owned it was destroyed")
	}
	apply(queue.Event{Kind: queue.EventPower, InstanceID: id, Host: "sim-own", Power: model.PowerRunning})
	if outboxJobs(t, tc, queue.JobDelete, id) != before+1 {
		t.Fatal("a deleted instance's domain on its own host was not removed")
	}
}

// TestLostJobsAreRecovered: a job lost with its stream (Redis restarted
// without its data) is sent again once its task has waited
// NIMBUS_TASK_RESEND, and the agent does it once; a repeated delete
// retries; an instance whose domain vanished from its host goes to ERROR
// instead of showing ACTIVE for ever; a delete whose host is down
// completes locally and frees the quota (issue 8, defect 5).
func TestLostJobsAreRecovered(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_TASK_RESEND": "2s", "NIMBUS_AGENT_LIVENESS": "3s"})
	agent := tc.StartAgent(t, "sim-lost")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	demo := tc.DemoToken(t)
	id := launch(t, tc, demo, img, "lost")
	ctx := context.Background()
	stream := queue.HostStream(tc.Config.RedisPrefix, "sim-lost")

	// Freeze the agent, ask for a stop, and lose the job with the stream.
	agent.Cmd.Process.Signal(syscall.SIGSTOP)
	t.Cleanup(func() { agent.Cmd.Process.Signal(syscall.SIGCONT) }) // so a failed test can stop it
	// Past the agent's blocking read (1 s here), so Redis holds the job
	// for no reader and losing the stream loses it.
	time.Sleep(2500 * time.Millisecond)
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-stop": nil}); r.Status != 202 {
		t.Fatalf("stop: %d %s", r.Status, r.Body)
	}
	// The stream already holds the build job: wait for the stop job itself.
	controllertest.WaitFor(t, 5*time.Second, "the stop job to reach Redis", func() bool {
		ms, _ := tc.Server.RDB().XRange(ctx, stream, "-", "+").Result()
		for _, m := range ms {
			var j queue.Job
			if p, _ := m.Values[queue.Field].(string); json.Unmarshal([]byte(p), &j) == nil && j.Kind == queue.JobStop {
				return true
			}
		}
		return false
	})
	if err := tc.Server.RDB().Del(ctx, stream).Err(); err != nil {
		t.Fatal(err)
	}
	agent.Cmd.Process.Signal(syscall.SIGCONT)
	tc.WaitStatus(t, demo, id, "SHUTOFF", 30*time.Second)
	if n := outboxJobs(t, tc, queue.JobStop, id); n < 2 {
		t.Fatalf("stop job sent %d times: the reconciler did not send it again", n)
	}

	// A second start of the same action arriving after the instance was
	// stopped again is answered from the agent's memory, not done again.
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-start": nil}); r.Status != 202 {
		t.Fatalf("start: %d", r.Status)
	}
	tc.WaitStatus(t, demo, id, "ACTIVE", 20*time.Second)
	_, _, _, startAction := tc.InstanceRow(t, id)
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-stop": nil}); r.Status != 202 {
		t.Fatalf("stop: %d", r.Status)
	}
	tc.WaitStatus(t, demo, id, "SHUTOFF", 20*time.Second)
	b, _ := json.Marshal(queue.Job{V: queue.Version, Kind: queue.JobStart, InstanceID: id, ActionID: startAction})
	if err := queue.Publish(ctx, tc.Server.RDB(), stream, b); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // past a power sync (1 s) that would report a start
	if s := tc.WaitStatus(t, demo, id, "SHUTOFF", time.Second); s["OS-EXT-STS:power_state"] != float64(4) {
		t.Fatalf("a replayed start job powered the instance on again: power %v", s["OS-EXT-STS:power_state"])
	}

	// The domain vanishes from its host: the host's full list (sent with
	// each full power sync) puts the instance in ERROR.
	if _, err := tc.Server.Pool().Exec(ctx, `UPDATE instances SET updated_at = now() - interval '1 minute' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := tc.Server.Compute().ApplyEvent(ctx, queue.Event{V: queue.Version, Kind: queue.EventInventory, Host: "sim-lost",
		Instances: []string{}, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s := tc.WaitStatus(t, demo, id, "ERROR", 5*time.Second)
	if f, _ := s["fault"].(map[string]any); f == nil || !strings.Contains(f["message"].(string), "missing from its host") {
		t.Fatalf("fault %v, want the domain named missing", s["fault"])
	}

	// Delete with the host gone: the delete finishes locally, the quota
	// is free, and a repeated delete before that is accepted.
	agent.Kill()
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d", r.Status)
	}
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
		t.Fatalf("repeated delete: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, 30*time.Second, "the delete to complete with the host down", func() bool {
		return tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).Status == 404
	})
	var used int
	tc.Server.Pool().QueryRow(ctx, `SELECT count(*) FROM instances WHERE project_id = (SELECT project_id FROM instances WHERE id = $1)
		AND deleted_at IS NULL`, id).Scan(&used)
	if used != 0 {
		t.Fatalf("%d instances still count against the quota", used)
	}
	var stuck int
	tc.Server.Pool().QueryRow(ctx, `SELECT count(*) FROM instances WHERE task_state IS NOT NULL AND deleted_at IS NULL`).Scan(&stuck)
	if stuck != 0 {
		t.Fatalf("%d instances left in a transitional state", stuck)
	}
	_ = exec.Command
}

// TestDeadLettersShownToAdmins: a message the cloud gives up on (here an
// unreadable job) is kept in the bounded dead-letter stream and listed on
// Admin > Hypervisors with where it came from and why.
func TestDeadLettersShownToAdmins(t *testing.T) {
	tc := controllertest.New(t, nil)
	ctx := context.Background()
	if err := queue.Publish(ctx, tc.Server.RDB(), queue.SchedulerStream(tc.Config.RedisPrefix),
		[]byte(`{"v":99,"kind":"schedule","instance_id":"5f0c8a9e-0d3b-4e58-a1b4-6c2f8e0a9d11"}`)); err != nil {
		t.Fatal(err)
	}
	controllertest.WaitFor(t, 10*time.Second, "the job to be dead-lettered", func() bool {
		n, _ := tc.Server.RDB().XLen(ctx, queue.DeadLetterStream(tc.Config.RedisPrefix)).Result()
		return n == 1
	})
	admin := tc.NewFormClient(t)
	admin.Login("admin", tc.AdminPass)
	page := admin.Get("/admin/hypervisors").Body
	for _, want := range []string{`data-testid="deadletter-table"`, "5f0c8a9e-0d3b-4e58-a1b4-6c2f8e0a9d11", "scheduler", "message version 99"} {
		if !strings.Contains(page, want) {
			t.Fatalf("admin hypervisors page lacks %q", want)
		}
	}
	member := tc.NewFormClient(t)
	member.Login("demo", tc.DemoPass)
	if p := member.Get("/admin/hypervisors"); p.Status == 200 {
		t.Fatal("a member sees the admin hypervisors page")
	}
}
