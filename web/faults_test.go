package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// Fault runs (issue 8): real processes — the controller, agents on a
// private libvirtd's test driver (whose domains outlive an agent), and,
// where the fault is theirs, a private PostgreSQL or Redis — with one
// fault each. Every run reports and asserts the same figures once the
// cloud has settled: recovery time, instances stuck in a transitional
// state, lost jobs (instances that never reached the state asked for),
// duplicate side effects, orphan and missing domains, quota drift, and
// 5xx answers other than 503 seen by a client polling throughout.

// faultCloud is a controller, one agent host on a private libvirtd and a
// client polling the API.
type faultCloud struct {
	t     *testing.T
	tc    *controllertest.Cloud
	lv    *testenv.Libvirtd
	agent *controllertest.Agent
	host  string
	dir   string
	demo  string
	img   string
	bad   atomic.Int64 // 5xx other than 503
	codes sync.Map     // status -> count, for the report
	stop  context.CancelFunc
	done  chan struct{}
}

func newFaultCloud(t *testing.T, extra map[string]string) *faultCloud {
	t.Helper()
	env := map[string]string{"NIMBUS_TASK_RESEND": "3s", "NIMBUS_AGENT_LIVENESS": "3s", "NIMBUS_CLAIM_IDLE": "2s"}
	for k, v := range extra {
		env[k] = v
	}
	f := &faultCloud{t: t, tc: controllertest.New(t, env), lv: testenv.StartLibvirtd(t), host: "fault-1", dir: t.TempDir()}
	f.agent = f.tc.StartAgentOn(t, f.host, f.lv.URI, f.dir)
	f.tc.WaitHosts(t, 1)
	f.img = f.tc.ActiveImage(t)
	f.demo = f.tc.DemoToken(t)
	ctx, cancel := context.WithCancel(context.Background())
	f.stop, f.done = cancel, make(chan struct{})
	go f.poll(ctx)
	t.Cleanup(f.stopPolling)
	return f
}

// poll reads the server list and limits as a dashboard would, counting
// answers by status.
func (f *faultCloud) poll(ctx context.Context) {
	defer close(f.done)
	for ctx.Err() == nil {
		for _, p := range []string{"/compute/v2.1/servers/detail", "/compute/v2.1/limits"} {
			st := get(f.tc, p, f.demo)
			n, _ := f.codes.LoadOrStore(st, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
			if st >= 500 && st != 503 {
				f.bad.Add(1)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (f *faultCloud) stopPolling() {
	f.stop()
	<-f.done
}

// restartAgent kills the agent if it still runs and starts it again under
// host, with env (failpoints) if given.
func (f *faultCloud) restartAgent(host string, env ...string) {
	f.agent.Kill()
	f.host = host
	f.agent = f.tc.StartAgentOn(f.t, host, f.lv.URI, f.dir, env...)
}

// launch asks for n servers and returns their ids.
func (f *faultCloud) launch(n int, name string) []string {
	f.t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		var r controllertest.Resp
		for try := 0; try < 50; try++ {
			r = f.tc.Do(f.t, "POST", "/compute/v2.1/servers", f.demo, map[string]any{"server": map[string]any{
				"name": fmt.Sprintf("%s-%d", name, i), "flavorRef": "1", "imageRef": f.img}})
			if r.Status != 503 {
				break
			}
			time.Sleep(500 * time.Millisecond) // told to come back
		}
		if r.Status != 202 {
			f.t.Fatalf("launch %s-%d: %d %s", name, i, r.Status, r.Body)
		}
		ids = append(ids, r.JSON(f.t)["server"].(map[string]any)["id"].(string))
	}
	return ids
}

// settle waits until every instance is in want (vm_state) with no task,
// and returns how long that took from since.
func (f *faultCloud) settle(ids []string, want string, since time.Time, limit time.Duration) time.Duration {
	f.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(limit)
	for {
		var n int
		err := f.tc.Server.Pool().QueryRow(ctx, `SELECT count(*) FROM instances WHERE id = ANY($1::uuid[])
			AND vm_state = $2 AND task_state IS NULL`, ids, want).Scan(&n)
		if err == nil && n == len(ids) {
			return time.Since(since)
		}
		if time.Now().After(deadline) {
			rows, _ := f.tc.Server.Pool().Query(ctx, `SELECT id::text, vm_state, coalesce(task_state, ''),
				coalesce(fault->>'message', '') || ' ' || coalesce(fault->>'details', '') FROM instances WHERE id = ANY($1::uuid[])`, ids)
			var states []string
			for rows.Next() {
				var id, vm, task, flt string
				rows.Scan(&id, &vm, &task, &flt)
				states = append(states, id[:8]+":"+vm+"/"+task+" "+strings.TrimSpace(flt))
			}
			rows.Close()
			f.t.Fatalf("instances not %s after %s: %v", want, limit, states)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// report checks the invariants every fault run promises and logs the figures.
func (f *faultCloud) report(fault string, recovery time.Duration, lost int) {
	f.t.Helper()
	ctx := context.Background()
	q := func(sql string, args ...any) int {
		f.t.Helper()
		var n int
		if err := f.tc.Server.Pool().QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			f.t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	stuck := q(`SELECT count(*) FROM instances WHERE task_state IS NOT NULL AND deleted_at IS NULL`)
	// A build reported done twice for one request is a duplicate side effect.
	dup := q(`SELECT count(*) FROM (SELECT action_id FROM instance_action_events WHERE result = 'Success'
		GROUP BY action_id, event HAVING count(*) > 1) d`)
	want := map[string]bool{}
	rows, err := f.tc.Server.Pool().Query(ctx, `SELECT 'nimbus-' || id::text FROM instances
		WHERE host = $1 AND deleted_at IS NULL AND launched_at IS NOT NULL AND vm_state <> 'error'`, f.host)
	if err != nil {
		f.t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		want[n] = true
	}
	rows.Close()
	have := map[string]bool{}
	for _, d := range f.lv.Domains() {
		have[d] = true
	}
	orphans, missing := 0, 0
	for d := range have {
		if !want[d] {
			orphans++
		}
	}
	for d := range want {
		if !have[d] {
			missing++
		}
	}
	// Quota: what the API counts equals the instances that exist, and the
	// host's claims equal what its instances hold.
	r := f.tc.Do(f.t, "GET", "/compute/v2.1/limits", f.demo, nil)
	used := int(r.JSON(f.t)["limits"].(map[string]any)["absolute"].(map[string]any)["totalInstancesUsed"].(float64))
	live := q(`SELECT count(*) FROM instances i JOIN projects p ON p.id = i.project_id WHERE p.name = 'demo' AND i.deleted_at IS NULL`)
	claimDrift := q(`SELECT abs(h.vcpus_used - coalesce((SELECT sum(vcpus) FROM instances i WHERE i.claim_host = h.host), 0))::int
		+ abs(h.running_vms - (SELECT count(*) FROM instances i WHERE i.claim_host = h.host))::int
		FROM compute_hosts h WHERE h.host = $1`, f.host)
	drift := abs(used-live) + claimDrift
	f.t.Logf("FAULT %-40s recovery=%-8s stuck=%d lost=%d duplicates=%d orphan_domains=%d missing_domains=%d quota_drift=%d bad_5xx=%d answers=%s",
		fault, recovery.Round(10*time.Millisecond), stuck, lost, dup, orphans, missing, drift, f.bad.Load(), f.codesString())
	if stuck+lost+dup+orphans+missing+drift != 0 || f.bad.Load() != 0 {
		f.t.Errorf("%s: stuck=%d lost=%d duplicates=%d orphans=%d missing=%d drift=%d 5xx=%d, want all 0",
			fault, stuck, lost, dup, orphans, missing, drift, f.bad.Load())
	}
}

// get answers the status of an authenticated GET, 0 when no answer came
// (it runs in a goroutine: no t.Fatal).
func get(tc *controllertest.Cloud, path, token string) int {
	req, _ := http.NewRequest("GET", tc.URL+path, nil)
	req.Header.Set("X-Auth-Token", token)
	res, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// waitExit waits for the agent to have killed itself at its failpoint.
func (f *faultCloud) waitExit(d time.Duration) {
	f.t.Helper()
	done := make(chan struct{})
	go func() { f.agent.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		f.t.Fatal("the agent did not reach its failpoint")
	}
}

// TestFaultAgentKilledAtEachStep kills the agent (SIGKILL, at a failpoint)
// at each step of a build and of a stop and a delete — before the work,
// after defining, after starting, after the work, after remembering the
// outcome, between reporting it and acknowledging the job — then starts
// it again. Every request completes once.
func TestFaultAgentKilledAtEachStep(t *testing.T) {
	f := newFaultCloud(t, nil)
	var all []string
	for _, point := range []string{"agent.job.received", "agent.build.defined", "agent.build.started",
		"agent.job.done", "agent.job.remembered", "agent.job.reported"} {
		f.restartAgent(f.host, "NIMBUS_FAILPOINTS="+point)
		ids := f.launch(1, strings.ReplaceAll(point, ".", "-"))
		f.waitExit(20 * time.Second)
		crashed := time.Now()
		f.restartAgent(f.host)
		rec := f.settle(ids, "active", crashed, 30*time.Second)
		f.report("agent killed at build "+point, rec, 0)
		all = append(all, ids...)
	}
	for _, c := range []struct {
		point, action, want string
	}{
		{"agent.job.done", "os-stop", "stopped"},
		{"agent.job.reported", "os-start", "active"},
		{"agent.job.remembered", "reboot", "active"},
	} {
		f.restartAgent(f.host, "NIMBUS_FAILPOINTS="+c.point)
		body := map[string]any{c.action: nil}
		if c.action == "reboot" {
			body = map[string]any{"reboot": map[string]any{"type": "SOFT"}}
		}
		if r := f.tc.Do(t, "POST", "/compute/v2.1/servers/"+all[0]+"/action", f.demo, body); r.Status != 202 {
			t.Fatalf("%s: %d %s", c.action, r.Status, r.Body)
		}
		f.waitExit(20 * time.Second)
		crashed := time.Now()
		f.restartAgent(f.host)
		rec := f.settle(all[:1], c.want, crashed, 30*time.Second)
		f.report("agent killed at "+c.action+" "+c.point, rec, 0)
	}
	f.restartAgent(f.host, "NIMBUS_FAILPOINTS=agent.job.done")
	if r := f.tc.Do(t, "DELETE", "/compute/v2.1/servers/"+all[1], f.demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d", r.Status)
	}
	f.waitExit(20 * time.Second)
	crashed := time.Now()
	f.restartAgent(f.host)
	controllertest.WaitFor(t, 30*time.Second, "the delete to finish", func() bool {
		return f.tc.Do(t, "GET", "/compute/v2.1/servers/"+all[1], f.demo, nil).Status == 404
	})
	f.report("agent killed at delete agent.job.done", time.Since(crashed), 0)
}

// TestFaultRedisRestarted kills Redis (SIGKILL) under launches and starts
// it again, once keeping its append-only file and once losing everything
// (streams, consumer groups, heartbeats, what agents remember). Jobs lost
// with it are sent again by the reconciler; every launch ends ACTIVE once.
func TestFaultRedisRestarted(t *testing.T) {
	for _, persist := range []bool{true, false} {
		name := map[bool]string{true: "with", false: "without"}[persist]
		t.Run(name+"-persistence", func(t *testing.T) {
			rs := testenv.StartRedis(t, persist)
			// Hosts heard from within 30 s are up: a two-second outage
			// must not make every host look down to the scheduler.
			f := newFaultCloud(t, map[string]string{"NIMBUS_REDIS_URL": rs.URL, "NIMBUS_AGENT_LIVENESS": "30s"})
			ids := f.launch(6, "redis-"+name)
			rs.Kill()
			crashed := time.Now()
			time.Sleep(2 * time.Second)
			rs.Start()
			more := f.launch(3, "after-"+name)
			rec := f.settle(append(ids, more...), "active", crashed, 60*time.Second)
			f.report("redis killed "+name+" persistence under 6 launches", rec, 0)
		})
	}
}

// TestFaultPostgresStopped stops PostgreSQL for 30 s while instances
// build and a client polls; the API answers 503 meanwhile (never another
// 5xx) and every instance ends ACTIVE once PostgreSQL is back.
func TestFaultPostgresStopped(t *testing.T) {
	pg := testenv.StartPostgres(t)
	f := newFaultCloud(t, map[string]string{"NIMBUS_DATABASE_URL": pg.URL})
	ids := f.launch(6, "pg")
	pg.Stop()
	stopped := time.Now()
	time.Sleep(30 * time.Second)
	pg.Start()
	back := time.Now()
	rec := f.settle(ids, "active", back, 60*time.Second)
	f.report(fmt.Sprintf("postgres stopped %s under 6 launches", back.Sub(stopped).Round(time.Second)), rec, 0)
	if n := f.codeCount(503); n == 0 {
		t.Errorf("no 503 answers while PostgreSQL was down: the poller saw %v", f.codesString())
	}
}

// TestFaultLibvirtdRestarted kills the agent's libvirtd and starts it
// again: while libvirt is unreachable the host stops reporting itself
// alive (so nothing is scheduled onto it), and once libvirtd is back the
// agent reconnects by itself and launches work again. The test driver's
// domains die with its daemon (QEMU guests would not), so the instance
// launched before goes to ERROR as a domain missing from its host.
func TestFaultLibvirtdRestarted(t *testing.T) {
	f := newFaultCloud(t, nil)
	before := f.launch(1, "before")
	f.settle(before, "active", time.Now(), 20*time.Second)
	f.lv.Kill()
	killed := time.Now()
	controllertest.WaitFor(t, 15*time.Second, "the host to be down", func() bool { return !f.hostUp() })
	down := time.Since(killed)
	f.lv.Start()
	restarted := time.Now()
	controllertest.WaitFor(t, 30*time.Second, "the host to be up again", f.hostUp)
	up := time.Since(restarted)
	after := f.launch(1, "after")
	rec := f.settle(after, "active", restarted, 30*time.Second)
	// An inventory contradicts only changes at least 30 s old
	// (compute.inventorySettle): the instance launched just before.
	f.settle(before, "error", restarted, 60*time.Second)
	t.Logf("libvirtd killed: host down after %s; after the restart, up again after %s", down.Round(10*time.Millisecond), up.Round(10*time.Millisecond))
	f.report("libvirtd killed and restarted", rec, 0)
}

// TestFaultAgentRenamed restarts the agent under another host name (a
// reinstalled or renamed host): the domains it finds are recorded as
// unrecognised and left running; nothing is destroyed.
func TestFaultAgentRenamed(t *testing.T) {
	f := newFaultCloud(t, nil)
	ids := f.launch(3, "renamed")
	f.settle(ids, "active", time.Now(), 30*time.Second)
	domains := len(f.lv.Domains())
	old := f.host
	f.restartAgent("fault-renamed")
	ctx := context.Background()
	controllertest.WaitFor(t, 20*time.Second, "the renamed host to report its domains", func() bool {
		var n int
		f.tc.Server.Pool().QueryRow(ctx, `SELECT count(*) FROM unrecognised_domains WHERE host = 'fault-renamed'`).Scan(&n)
		return n == len(ids)
	})
	time.Sleep(8 * time.Second) // past a full sync (6 power syncs of 1 s)
	if n := len(f.lv.Domains()); n != domains {
		t.Fatalf("%d domains after the rename, want the %d there were", n, domains)
	}
	for _, id := range ids {
		if vm, _, host, _ := f.tc.InstanceRow(t, id); vm != "active" || host != old {
			t.Fatalf("instance %s: %s on %s, want active on %s", id, vm, host, old)
		}
	}
	f.host = old // the instances are still placed there
	f.report("agent restarted under another host name", 0, 0)
}

// hostUp says whether the controller counts the agent's host as up.
func (f *faultCloud) hostUp() bool {
	var up bool
	f.tc.Server.Pool().QueryRow(context.Background(), `SELECT last_seen > now() - interval '3 seconds' FROM compute_hosts WHERE host = $1`,
		f.host).Scan(&up)
	return up
}

func (f *faultCloud) codeCount(code int) int64 {
	if v, ok := f.codes.Load(code); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (f *faultCloud) codesString() string {
	var codes []string
	f.codes.Range(func(k, v any) bool {
		codes = append(codes, fmt.Sprintf("%d:%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	return strings.Join(codes, ",")
}
