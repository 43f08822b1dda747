package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

func TestServerLifecycleOnTestDriver(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "sim-1")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	demo, admin := tc.DemoToken(t), tc.AdminToken(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "vm1", "flavorRef": "1", "imageRef": img, "networks": "none",
		"metadata": map[string]any{"role": `<web>"&'`}})
	if r.Status != 202 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	s := tc.WaitStatus(t, demo, id, "ACTIVE", 20*time.Second)
	if s["OS-EXT-STS:power_state"] != 1.0 || s["OS-EXT-STS:vm_state"] != "active" || s["OS-EXT-STS:task_state"] != nil {
		t.Errorf("active server: %v", s)
	}
	if _, leak := s["OS-EXT-SRV-ATTR:host"]; leak {
		t.Error("a member sees the host name")
	}
	if s["metadata"].(map[string]any)["role"] != `<web>"&'` {
		t.Errorf("metadata: %v", s["metadata"])
	}
	as := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, admin, nil).JSON(t)["server"].(map[string]any)
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
		if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, step.body); r.Status != 202 {
			t.Fatalf("%v: %d %s", step.body, r.Status, r.Body)
		}
		tc.WaitStatus(t, demo, id, step.want, 20*time.Second)
	}
	// Starting an active server is a 409 in Nova's words.
	r = tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-start": nil})
	if r.Status != 409 || !strings.Contains(string(r.Body), "conflictingRequest") || !strings.Contains(string(r.Body), "vm_state active") {
		t.Errorf("start while active: %d %s", r.Status, r.Body)
	}
	// The action log, with request ids and events.
	acts := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/os-instance-actions", demo, nil).JSON(t)["instanceActions"].([]any)
	if len(acts) != 5 || acts[len(acts)-1].(map[string]any)["action"] != "create" {
		t.Fatalf("action log: %v", acts)
	}
	req := acts[len(acts)-1].(map[string]any)["request_id"].(string)
	ev := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/os-instance-actions/"+req, demo, nil).JSON(t)["instanceAction"].(map[string]any)
	if evs := ev["events"].([]any); len(evs) < 2 {
		t.Errorf("create action events: %v", evs)
	}
	// Rename, then delete.
	if r := tc.Do(t, "PUT", "/compute/v2.1/servers/"+id, demo, map[string]any{"server": map[string]any{"name": "renamed"}}); r.Status != 200 {
		t.Errorf("rename: %d", r.Status)
	}
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d", r.Status)
	}
	controllertest.WaitFor(t, 20*time.Second, "server deleted", func() bool {
		return tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).Status == 404
	})
	if n := len(tc.Do(t, "GET", "/compute/v2.1/servers", demo, nil).JSON(t)["servers"].([]any)); n != 0 {
		t.Errorf("list after delete: %d servers", n)
	}
	var used int
	tc.Server.Pool().QueryRow(context.Background(), `SELECT vcpus_used FROM compute_hosts WHERE host = 'sim-1'`).Scan(&used)
	if used != 0 {
		t.Errorf("claim not released: vcpus_used %d", used)
	}
}

func TestSchedulingAcrossHostsAndNoValidHost(t *testing.T) {
	tc := controllertest.New(t, nil)
	for i := 1; i <= 3; i++ {
		tc.StartAgent(t, fmt.Sprintf("sim-%d", i))
	}
	tc.WaitHosts(t, 3)
	img := tc.ActiveImage(t)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "spread", "flavorRef": "1", "imageRef": img, "min_count": 6, "max_count": 6})
	if r.Status != 202 {
		t.Fatalf("create 6: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, 30*time.Second, "6 active servers", func() bool {
		r := tc.Do(t, "GET", "/compute/v2.1/servers/detail?status=ACTIVE", demo, nil)
		return len(r.JSON(t)["servers"].([]any)) == 6
	})
	hosts := map[string]int{}
	for _, s := range tc.Do(t, "GET", "/compute/v2.1/servers/detail?all_tenants=1", admin, nil, "OpenStack-API-Version", "compute 2.3").JSON(t)["servers"].([]any) {
		hosts[s.(map[string]any)["OS-EXT-SRV-ATTR:host"].(string)]++
	}
	t.Logf("placement: %v", hosts)
	if len(hosts) != 3 {
		t.Errorf("6 instances spread over %d hosts, want all 3 used: %v", len(hosts), hosts)
	}
	// A flavor no host can hold: ERROR with Nova's fault, no host names
	// shown to the member.
	tc.Do(t, "POST", "/compute/v2.1/flavors", admin, map[string]any{"flavor": map[string]any{"name": "huge", "id": "huge",
		"ram": 1 << 30, "vcpus": 1, "disk": 0}})
	if _, err := tc.Server.Pool().Exec(context.Background(), `UPDATE quota_defaults SET hard_limit = -1 WHERE resource IN ('ram', 'cores')`); err != nil {
		t.Fatal(err)
	}
	r = tc.CreateServer(t, demo, map[string]any{"name": "too-big", "flavorRef": "huge", "imageRef": img})
	if r.Status != 202 {
		t.Fatalf("create huge: %d %s", r.Status, r.Body)
	}
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	s := tc.WaitStatus(t, demo, id, "ERROR", 20*time.Second)
	f := s["fault"].(map[string]any)
	if !strings.HasPrefix(f["message"].(string), "No valid host was found.") || f["code"] != 500.0 || f["created"] == nil {
		t.Errorf("fault: %v", f)
	}
	if _, has := f["details"]; has || strings.Contains(fmt.Sprint(s), "sim-") {
		t.Errorf("member's view of the fault shows details or host names: %v", s)
	}
	af := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, admin, nil).JSON(t)["server"].(map[string]any)["fault"].(map[string]any)
	if !strings.Contains(fmt.Sprint(af["details"]), "RamFilter") {
		t.Errorf("admin's fault details: %v", af)
	}
}

// TestAgentKilledMidBuild: the job of an agent killed before it finished
// is taken up again, and the instance ends ACTIVE with one domain; with no
// agent at all, the build deadline sends it to ERROR.
func TestAgentKilledMidBuild(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_BUILD_TIMEOUT": "6s", "NIMBUS_AGENT_LIVENESS": "30s"})
	a := tc.StartAgent(t, "sim-k")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	demo := tc.DemoToken(t)
	a.Kill() // SIGKILL: the host still looks alive for the liveness window
	r := tc.CreateServer(t, demo, map[string]any{"name": "orphan", "flavorRef": "1", "imageRef": img})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	time.Sleep(500 * time.Millisecond) // scheduled onto the dead agent's stream
	b := tc.StartAgent(t, "sim-k")     // the same host comes back
	tc.WaitStatus(t, demo, id, "ACTIVE", 20*time.Second)

	// Now kill it for good: the next build never finishes and times out.
	b.Kill()
	r = tc.CreateServer(t, demo, map[string]any{"name": "stuck", "flavorRef": "1", "imageRef": img})
	id2 := r.JSON(t)["server"].(map[string]any)["id"].(string)
	s := tc.WaitStatus(t, demo, id2, "ERROR", 30*time.Second)
	if msg := s["fault"].(map[string]any)["message"].(string); !strings.Contains(msg, "timed out") {
		t.Errorf("fault of a build no agent finished: %q", msg)
	}
}

func TestQuotaUnderConcurrentLaunches(t *testing.T) {
	tc := controllertest.New(t, nil)
	img := tc.ActiveImage(t)
	demo := tc.DemoToken(t)
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
			r := tc.CreateServer(t, demo, map[string]any{"name": fmt.Sprintf("q%d", i), "flavorRef": "1", "imageRef": img})
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
	tc.Server.Pool().QueryRow(context.Background(), `SELECT count(*) FROM instances WHERE deleted_at IS NULL`).Scan(&n)
	if n != 10 {
		t.Errorf("instances in the database: %d, want 10", n)
	}
}

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
