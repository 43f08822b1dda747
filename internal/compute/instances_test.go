package compute_test

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
