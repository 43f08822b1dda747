package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// simAgent is a nimbus-agent on libvirt's test driver: its own simulated
// host, as every process opening test:///default gets.
type simAgent struct {
	cmd  *exec.Cmd
	host string
	dir  string // its state directory
}

func startAgent(t *testing.T, tc *testCloud, host string) *simAgent {
	t.Helper()
	return startAgentOn(t, tc, host, "test:///default", t.TempDir())
}

// startAgentOn starts an agent on libvirt at uri with state directory
// dir; env adds settings (NIMBUS_FAILPOINTS, say).
func startAgentOn(t *testing.T, tc *testCloud, host, uri, dir string, env ...string) *simAgent {
	t.Helper()
	cmd := exec.Command(agentBinary(t), "--libvirt-uri", uri, "--host", host,
		"--heartbeat", "200ms", "--power-sync", "1s", "--state-dir", dir)
	cmd.Env = append(os.Environ(), "NIMBUS_REDIS_URL="+tc.env["NIMBUS_REDIS_URL"],
		"NIMBUS_REDIS_PREFIX="+tc.cfg.RedisPrefix, "NIMBUS_CLAIM_IDLE=2s", "NIMBUS_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &simAgent{cmd: cmd, host: host, dir: dir}
	t.Cleanup(a.stop)
	return a
}

func (a *simAgent) stop() {
	if a.cmd.ProcessState == nil {
		a.cmd.Process.Signal(syscall.SIGTERM)
		a.cmd.Wait()
	}
}

func (a *simAgent) kill() {
	a.cmd.Process.Kill()
	a.cmd.Wait()
}

// waitHosts waits until n hosts are recorded as up.
func (tc *testCloud) waitHosts(t *testing.T, n int) {
	t.Helper()
	tc.waitHostsFor(t, n, 15*time.Second)
}

// waitHostsFor is waitHosts with a deadline: a QEMU agent's first
// libvirt capabilities probe takes tens of seconds on these machines.
func (tc *testCloud) waitHostsFor(t *testing.T, n int, d time.Duration) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("%d live hosts", n), func() bool {
		var c int
		tc.srv.pool.QueryRow(context.Background(), `SELECT count(*) FROM compute_hosts WHERE last_seen > now() - interval '10 seconds'`).Scan(&c)
		return c >= n
	})
}

// activeImage makes a small public image and returns its id.
func (tc *testCloud) activeImage(t *testing.T) string {
	t.Helper()
	admin := tc.adminToken(t)
	id := tc.createImage(t, admin, map[string]any{"name": "tiny", "disk_format": "raw", "container_format": "bare", "visibility": "public"})["id"].(string)
	if r := tc.upload(t, admin, id, strings.NewReader("not really a disk"), 17); r.Status != 204 {
		t.Fatalf("upload: %d", r.Status)
	}
	return id
}

func (tc *testCloud) createServer(t *testing.T, token string, body map[string]any) apiResp {
	t.Helper()
	return tc.do(t, "POST", "/compute/v2.1/servers", token, map[string]any{"server": body})
}

// waitStatus polls a server until its status is want, and returns it.
func (tc *testCloud) waitStatus(t *testing.T, token, id, want string, d time.Duration) map[string]any {
	t.Helper()
	var last map[string]any
	waitFor(t, d, "server "+id+" to be "+want, func() bool {
		r := tc.do(t, "GET", "/compute/v2.1/servers/"+id, token, nil)
		if r.Status != 200 {
			return false
		}
		last = r.JSON(t)["server"].(map[string]any)
		if last["status"] == "ERROR" && want != "ERROR" {
			t.Fatalf("server %s went to ERROR: %v", id, last["fault"])
		}
		return last["status"] == want
	})
	return last
}

func TestServerLifecycleOnTestDriver(t *testing.T) {
	tc := newTestCloud(t, nil)
	startAgent(t, tc, "sim-1")
	tc.waitHosts(t, 1)
	img := tc.activeImage(t)
	demo, admin := tc.demoToken(t), tc.adminToken(t)
	r := tc.createServer(t, demo, map[string]any{"name": "vm1", "flavorRef": "1", "imageRef": img, "networks": "none",
		"metadata": map[string]any{"role": `<web>"&'`}})
	if r.Status != 202 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	s := tc.waitStatus(t, demo, id, "ACTIVE", 20*time.Second)
	if s["OS-EXT-STS:power_state"] != 1.0 || s["OS-EXT-STS:vm_state"] != "active" || s["OS-EXT-STS:task_state"] != nil {
		t.Errorf("active server: %v", s)
	}
	if _, leak := s["OS-EXT-SRV-ATTR:host"]; leak {
		t.Error("a member sees the host name")
	}
	if s["metadata"].(map[string]any)["role"] != `<web>"&'` {
		t.Errorf("metadata: %v", s["metadata"])
	}
	as := tc.do(t, "GET", "/compute/v2.1/servers/"+id, admin, nil).JSON(t)["server"].(map[string]any)
	if as["OS-EXT-SRV-ATTR:host"] != "sim-1" {
		t.Errorf("admin view host: %v", as["OS-EXT-SRV-ATTR:host"])
	}
	for _, step := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"os-stop": nil}, "SHUTOFF"},
		{map[string]any{"os-start": nil}, "ACTIVE"},
		{map[string]any{"reboot": map[string]any{"type": "SOFT"}}, "ACTIVE"},
		{map[string]any{"reboot": map[string]any{"type": "HARD"}}, "ACTIVE"},
	} {
		if r := tc.do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, step.body); r.Status != 202 {
			t.Fatalf("%v: %d %s", step.body, r.Status, r.Body)
		}
		tc.waitStatus(t, demo, id, step.want, 20*time.Second)
	}
	// Starting an active server is a 409 in Nova's words.
	r = tc.do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-start": nil})
	if r.Status != 409 || !strings.Contains(string(r.Body), "conflictingRequest") || !strings.Contains(string(r.Body), "vm_state active") {
		t.Errorf("start while active: %d %s", r.Status, r.Body)
	}
	// The action log, with request ids and events.
	acts := tc.do(t, "GET", "/compute/v2.1/servers/"+id+"/os-instance-actions", demo, nil).JSON(t)["instanceActions"].([]any)
	if len(acts) != 5 || acts[len(acts)-1].(map[string]any)["action"] != "create" {
		t.Fatalf("action log: %v", acts)
	}
	req := acts[len(acts)-1].(map[string]any)["request_id"].(string)
	ev := tc.do(t, "GET", "/compute/v2.1/servers/"+id+"/os-instance-actions/"+req, demo, nil).JSON(t)["instanceAction"].(map[string]any)
	if evs := ev["events"].([]any); len(evs) < 2 {
		t.Errorf("create action events: %v", evs)
	}
	// Rename, then delete.
	if r := tc.do(t, "PUT", "/compute/v2.1/servers/"+id, demo, map[string]any{"server": map[string]any{"name": "renamed"}}); r.Status != 200 {
		t.Errorf("rename: %d", r.Status)
	}
	if r := tc.do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d", r.Status)
	}
	waitFor(t, 20*time.Second, "server deleted", func() bool {
		return tc.do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).Status == 404
	})
	if n := len(tc.do(t, "GET", "/compute/v2.1/servers", demo, nil).JSON(t)["servers"].([]any)); n != 0 {
		t.Errorf("list after delete: %d servers", n)
	}
	var used int
	tc.srv.pool.QueryRow(context.Background(), `SELECT vcpus_used FROM compute_hosts WHERE host = 'sim-1'`).Scan(&used)
	if used != 0 {
		t.Errorf("claim not released: vcpus_used %d", used)
	}
}

func TestSchedulingAcrossHostsAndNoValidHost(t *testing.T) {
	tc := newTestCloud(t, nil)
	for i := 1; i <= 3; i++ {
		startAgent(t, tc, fmt.Sprintf("sim-%d", i))
	}
	tc.waitHosts(t, 3)
	img := tc.activeImage(t)
	admin, demo := tc.adminToken(t), tc.demoToken(t)
	r := tc.createServer(t, demo, map[string]any{"name": "spread", "flavorRef": "1", "imageRef": img, "min_count": 6, "max_count": 6})
	if r.Status != 202 {
		t.Fatalf("create 6: %d %s", r.Status, r.Body)
	}
	waitFor(t, 30*time.Second, "6 active servers", func() bool {
		r := tc.do(t, "GET", "/compute/v2.1/servers/detail?status=ACTIVE", demo, nil)
		return len(r.JSON(t)["servers"].([]any)) == 6
	})
	hosts := map[string]int{}
	for _, s := range tc.do(t, "GET", "/compute/v2.1/servers/detail?all_tenants=1", admin, nil, "OpenStack-API-Version", "compute 2.3").JSON(t)["servers"].([]any) {
		hosts[s.(map[string]any)["OS-EXT-SRV-ATTR:host"].(string)]++
	}
	t.Logf("placement: %v", hosts)
	if len(hosts) != 3 {
		t.Errorf("6 instances spread over %d hosts, want all 3 used: %v", len(hosts), hosts)
	}
	// A flavor no host can hold: ERROR with Nova's fault, no host names
	// shown to the member.
	tc.do(t, "POST", "/compute/v2.1/flavors", admin, map[string]any{"flavor": map[string]any{"name": "huge", "id": "huge",
		"ram": 1 << 30, "vcpus": 1, "disk": 0}})
	if _, err := tc.srv.pool.Exec(context.Background(), `UPDATE quota_defaults SET hard_limit = -1 WHERE resource IN ('ram', 'cores')`); err != nil {
		t.Fatal(err)
	}
	r = tc.createServer(t, demo, map[string]any{"name": "too-big", "flavorRef": "huge", "imageRef": img})
	if r.Status != 202 {
		t.Fatalf("create huge: %d %s", r.Status, r.Body)
	}
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	s := tc.waitStatus(t, demo, id, "ERROR", 20*time.Second)
	f := s["fault"].(map[string]any)
	if !strings.HasPrefix(f["message"].(string), "No valid host was found.") || f["code"] != 500.0 || f["created"] == nil {
		t.Errorf("fault: %v", f)
	}
	if _, has := f["details"]; has || strings.Contains(fmt.Sprint(s), "sim-") {
		t.Errorf("member's view of the fault shows details or host names: %v", s)
	}
	af := tc.do(t, "GET", "/compute/v2.1/servers/"+id, admin, nil).JSON(t)["server"].(map[string]any)["fault"].(map[string]any)
	if !strings.Contains(fmt.Sprint(af["details"]), "RamFilter") {
		t.Errorf("admin's fault details: %v", af)
	}
}

// TestAgentKilledMidBuild: the job of an agent killed before it finished
// is taken up again, and the instance ends ACTIVE with one domain; with no
// agent at all, the build deadline sends it to ERROR.
func TestAgentKilledMidBuild(t *testing.T) {
	tc := newTestCloud(t, map[string]string{"NIMBUS_BUILD_TIMEOUT": "6s", "NIMBUS_AGENT_LIVENESS": "30s"})
	a := startAgent(t, tc, "sim-k")
	tc.waitHosts(t, 1)
	img := tc.activeImage(t)
	demo := tc.demoToken(t)
	a.kill() // SIGKILL: the host still looks alive for the liveness window
	r := tc.createServer(t, demo, map[string]any{"name": "orphan", "flavorRef": "1", "imageRef": img})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	time.Sleep(500 * time.Millisecond) // scheduled onto the dead agent's stream
	b := startAgent(t, tc, "sim-k")    // the same host comes back
	tc.waitStatus(t, demo, id, "ACTIVE", 20*time.Second)

	// Now kill it for good: the next build never finishes and times out.
	b.kill()
	r = tc.createServer(t, demo, map[string]any{"name": "stuck", "flavorRef": "1", "imageRef": img})
	id2 := r.JSON(t)["server"].(map[string]any)["id"].(string)
	s := tc.waitStatus(t, demo, id2, "ERROR", 30*time.Second)
	if msg := s["fault"].(map[string]any)["message"].(string); !strings.Contains(msg, "timed out") {
		t.Errorf("fault of a build no agent finished: %q", msg)
	}
}

func TestQuotaUnderConcurrentLaunches(t *testing.T) {
	tc := newTestCloud(t, nil)
	img := tc.activeImage(t)
	demo := tc.demoToken(t)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 25)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r := tc.createServer(t, demo, map[string]any{"name": fmt.Sprintf("q%d", i), "flavorRef": "1", "imageRef": img})
			mu.Lock()
			codes[r.Status]++
			mu.Unlock()
			if r.Status == 403 && !strings.Contains(string(r.Body), "Quota exceeded for instances") {
				t.Errorf("403 body: %s", r.Body)
			}
		}(i)
	}
	wg.Wait()
	if codes[202] != 10 || codes[403] != 90 {
		t.Errorf("answers: %v, want 10 accepted and 90 refused", codes)
	}
	var n int
	tc.srv.pool.QueryRow(context.Background(), `SELECT count(*) FROM instances WHERE deleted_at IS NULL`).Scan(&n)
	if n != 10 {
		t.Errorf("instances in the database: %d, want 10", n)
	}
}

func TestServerIsolationAndBadInput(t *testing.T) {
	tc := newTestCloud(t, nil)
	startAgent(t, tc, "sim-i")
	tc.waitHosts(t, 1)
	img := tc.activeImage(t)
	admin, demo := tc.adminToken(t), tc.demoToken(t)
	// Another project with a member.
	pid := tc.do(t, "POST", "/identity/v3/projects", admin, map[string]any{"project": map[string]any{"name": "other"}}).JSON(t)["project"].(map[string]any)["id"].(string)
	uid := tc.do(t, "POST", "/identity/v3/users", admin, map[string]any{"user": map[string]any{"name": "eve", "password": "eve-pass-1", "default_project_id": pid}}).JSON(t)["user"].(map[string]any)["id"].(string)
	rid := tc.do(t, "GET", "/identity/v3/roles?name=member", admin, nil).JSON(t)["roles"].([]any)[0].(map[string]any)["id"].(string)
	tc.do(t, "PUT", "/identity/v3/projects/"+pid+"/users/"+uid+"/roles/"+rid, admin, nil)
	eve := tc.token(t, "eve", "eve-pass-1", "other")
	id := tc.createServer(t, demo, map[string]any{"name": "mine", "flavorRef": "1", "imageRef": img}).JSON(t)["server"].(map[string]any)["id"].(string)
	tc.waitStatus(t, demo, id, "ACTIVE", 20*time.Second)
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
		theirs := tc.do(t, rt.method, fmt.Sprintf(rt.path, id), eve, rt.body, rt.hdr...)
		nobody := tc.do(t, rt.method, fmt.Sprintf(rt.path, random), eve, rt.body, rt.hdr...)
		if theirs.Status != 404 || nobody.Status != 404 || strings.ReplaceAll(string(theirs.Body), id, "X") != strings.ReplaceAll(string(nobody.Body), random, "X") {
			t.Errorf("%s %s: other project's %d %s vs random %d %s", rt.method, rt.path, theirs.Status, theirs.Body, nobody.Status, nobody.Body)
		}
	}
	s := tc.do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
	if s["name"] != "mine" || s["status"] != "ACTIVE" {
		t.Errorf("the other project changed the server: %v", s)
	}
	// Bad input: each a clear 4xx and nothing left behind.
	before := len(tc.do(t, "GET", "/compute/v2.1/servers", demo, nil).JSON(t)["servers"].([]any))
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
		if r := tc.createServer(t, demo, b.body); r.Status != b.want {
			t.Errorf("create %.80v: got %d %s, want %d", b.body, r.Status, r.Body, b.want)
		}
	}
	if r := tc.do(t, "POST", "/compute/v2.1/servers", demo, `{"server": {"name": "`+strings.Repeat("x", 2<<20)+`"}}`); r.Status != 413 {
		t.Errorf("2 MiB body: %d", r.Status)
	}
	for _, path := range []string{"/compute/v2.1/servers/not-a-uuid", "/compute/v2.1/servers/%27%3B"} {
		if r := tc.do(t, "GET", path, demo, nil); r.Status != 404 {
			t.Errorf("GET %s: %d", path, r.Status)
		}
	}
	after := len(tc.do(t, "GET", "/compute/v2.1/servers", demo, nil).JSON(t)["servers"].([]any))
	if after != before {
		t.Errorf("refused creates left %d servers", after-before)
	}
}

// TestServerDetailListFollowsChanges: /servers/detail renders servers from
// a cache keyed by each instance's last change and by who asks at which
// microversion; a rename or a stop shows at once, and what a member sees
// never carries what only an admin may see (or the other way round).
func TestServerDetailListFollowsChanges(t *testing.T) {
	tc := newTestCloud(t, nil)
	startAgent(t, tc, "sim-cache")
	tc.waitHosts(t, 1)
	img := tc.activeImage(t)
	admin, demo := tc.adminToken(t), tc.demoToken(t)
	id := tc.createServer(t, demo, map[string]any{"name": "before", "flavorRef": "1", "imageRef": img}).JSON(t)["server"].(map[string]any)["id"].(string)
	tc.waitStatus(t, demo, id, "ACTIVE", 20*time.Second)
	find := func(token, query string, hdr ...string) map[string]any {
		t.Helper()
		r := tc.do(t, "GET", "/compute/v2.1/servers/detail"+query, token, nil, hdr...)
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
	if r := tc.do(t, "PUT", "/compute/v2.1/servers/"+id, demo, map[string]any{"server": map[string]any{"name": "after"}}); r.Status != 200 {
		t.Fatalf("rename: %d %s", r.Status, r.Body)
	}
	if s := find(demo, ""); s["name"] != "after" {
		t.Fatalf("detail list after a rename: name %v", s["name"])
	}
	tc.do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-stop": nil})
	tc.waitStatus(t, demo, id, "SHUTOFF", 20*time.Second)
	if s := find(demo, ""); s["status"] != "SHUTOFF" {
		t.Fatalf("detail list after stop: status %v", s["status"])
	}
}
