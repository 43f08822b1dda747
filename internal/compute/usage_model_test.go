package compute_test

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestUsageFollowsEveryOperation runs random (seeded, logged) sequences of
// instance operations on two test-driver hosts and, after every step,
// checks the project's usage and every host's claims against a model:
// every instance not deleted counts its flavor in the quota (shelved and
// offloaded ones too, as in Nova), and a host's used vCPUs and memory are
// the sum of the flavors of exactly the instances placed on it (an
// offloaded instance holds no host; an unshelved one holds its new host;
// one in VERIFY_RESIZE holds its new flavor on its new host and its old
// one on its source, and counts the new one in the quota).
// NIMBUS_USAGE_SEED replays a run.
func TestUsageFollowsEveryOperation(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("NIMBUS_USAGE_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (NIMBUS_USAGE_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "um-a")
	tc.StartAgent(t, "um-b")
	tc.WaitHosts(t, 2)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	img := tc.ActiveImage(t)
	// Small flavors: two test-driver hosts hold 2 x 3072 MB x 1.5, enough
	// for five servers even all in VERIFY_RESIZE (both flavors claimed).
	flavors := map[string][2]float64{"1": {1, 512}, "um-s": {1, 256}, "um": {2, 768}} // vcpus, MB
	for id, f := range map[string][2]float64{"um-s": flavors["um-s"], "um": flavors["um"]} {
		if r := tc.Do(t, "POST", "/compute/v2.1/flavors", admin, map[string]any{"flavor": map[string]any{
			"name": id, "id": id, "vcpus": f[0], "ram": f[1], "disk": 20}}); r.Status != 200 {
			t.Fatalf("flavor: %d %s", r.Status, r.Body)
		}
	}
	// resizeTo is where a server of flavor f may be resized (the disk
	// never shrinks: m1.tiny's 1 GB, the others' 20).
	resizeTo := map[string][]string{"1": {"um-s", "um"}, "um-s": {"um"}, "um": {"um-s"}}
	var servers []string
	launch := func() {
		f := "1"
		if rng.Intn(2) == 0 {
			f = "um-s"
		}
		r := tc.CreateServer(t, demo, map[string]any{"name": "um", "flavorRef": f, "imageRef": img})
		if r.Status != 202 {
			t.Fatalf("launch: %d %s", r.Status, r.Body)
		}
		servers = append(servers, r.JSON(t)["server"].(map[string]any)["id"].(string))
	}
	// ops by status: what a user may ask in each (the lifecycle table's
	// rows, from the outside).
	ops := map[string][]map[string]any{
		"ACTIVE": {{"pause": nil}, {"suspend": nil}, {"os-stop": nil}, {"reboot": map[string]any{"type": "HARD"}},
			{"rescue": nil}, {"shelve": nil}, {"rebuild": map[string]any{"imageRef": img}}, {"lock": nil}, {"unlock": nil},
			{"resize": nil}, {"migrate": nil}},
		"PAUSED":            {{"unpause": nil}, {"shelve": nil}},
		"SUSPENDED":         {{"resume": nil}, {"shelve": nil}},
		"SHUTOFF":           {{"os-start": nil}, {"shelve": nil}, {"rescue": nil}, {"rebuild": map[string]any{"imageRef": img}}, {"resize": nil}},
		"VERIFY_RESIZE":     {{"confirmResize": nil}, {"revertResize": nil}},
		"RESCUE":            {{"unrescue": nil}},
		"SHELVED_OFFLOADED": {{"unshelve": nil}},
	}
	for i := 0; i < 3; i++ {
		launch()
	}
	stats := map[string]int{}
	moved := map[string]string{} // a server's flavor before its latest resize or migration
	deadline := time.Now().Add(60 * time.Second)
	for step := 0; step < 40 && time.Now().Before(deadline); step++ {
		state := settle(t, tc, admin, servers, moved)
		i := rng.Intn(len(servers) + 1)
		switch {
		case i == len(servers) && len(servers) < 5:
			launch()
			stats["launch"]++
		case i == len(servers) || rng.Intn(8) == 0:
			if len(servers) == 0 {
				continue
			}
			k := rng.Intn(len(servers))
			tc.Do(t, "POST", "/compute/v2.1/servers/"+servers[k]+"/action", admin, map[string]any{"unlock": nil})
			if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+servers[k], demo, nil); r.Status != 204 {
				t.Fatalf("delete: %d %s", r.Status, r.Body)
			}
			gone := servers[k]
			servers = append(servers[:k], servers[k+1:]...)
			stats["delete"]++
			controllertest.WaitFor(t, time.Minute, "the deleted server to be gone", func() bool {
				return tc.Do(t, "GET", "/compute/v2.1/servers/"+gone, admin, nil).Status == 404
			})
		default:
			id := servers[i]
			choices := ops[state[id].status]
			if len(choices) == 0 {
				continue
			}
			body, who := choices[rng.Intn(len(choices))], demo
			if _, ok := body["resize"]; ok {
				to := resizeTo[state[id].flavor]
				body = map[string]any{"resize": map[string]any{"flavorRef": to[rng.Intn(len(to))]}}
			}
			if _, ok := body["migrate"]; ok {
				who = admin
			}
			r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", who, body)
			_, resize := body["resize"]
			if _, migrate := body["migrate"]; (resize || migrate) && r.Status == 202 {
				moved[id] = state[id].flavor // the flavor the source keeps claimed until confirm or revert
			}
			for k := range body {
				stats[k]++
				if k == "lock" && r.Status == 202 {
					// a locked server refuses its owner's next action
					// (409); unlock it again for the walk to go on
					defer tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"unlock": nil})
				}
			}
			if r.Status != 202 && r.Status != 200 && r.Status != 204 && r.Status != 409 {
				t.Fatalf("step %d %v on %s (%s): %d %s", step, body, id, state[id].status, r.Status, r.Body)
			}
		}
		checkUsage(t, tc, admin, demo, settle(t, tc, admin, servers, moved), flavors)
	}
	t.Logf("operations: %v", stats)
	if len(stats) < 6 {
		t.Errorf("the walk covered only %v", stats)
	}
}

type umServer struct {
	status, host, flavor string
	// A server in VERIFY_RESIZE also holds its old flavor on its source.
	source, oldFlavor string
}

// settle waits until no server has a task and returns each one's status,
// host and flavor, as an admin sees them.
func settle(t *testing.T, tc *controllertest.Cloud, admin string, ids []string, moved map[string]string) map[string]umServer {
	t.Helper()
	out := map[string]umServer{}
	var busy string
	defer func() {
		if t.Failed() && busy != "" {
			t.Logf("still busy: %s", busy)
		}
	}()
	controllertest.WaitFor(t, time.Minute, "every task to end", func() bool {
		clear(out)
		for _, id := range ids {
			r := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, admin, nil)
			if r.Status != 200 {
				busy = id + " not found"
				return false
			}
			s := r.JSON(t)["server"].(map[string]any)
			if s["OS-EXT-STS:task_state"] != nil || s["status"] == "BUILD" {
				busy = id + " " + s["status"].(string) + " " + s["OS-EXT-STS:vm_state"].(string) + " " +
					fmt.Sprint(s["OS-EXT-STS:task_state"])
				return false
			}
			if s["status"] == "ERROR" {
				t.Fatalf("server %s went to ERROR: %v", id, s["fault"])
			}
			host, _ := s["OS-EXT-SRV-ATTR:host"].(string)
			u := umServer{status: s["status"].(string), host: host, flavor: s["flavor"].(map[string]any)["id"].(string)}
			if u.status == "VERIFY_RESIZE" {
				ms := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/migrations", admin, nil).JSON(t)["migrations"].([]any)
				if len(ms) != 1 {
					t.Fatalf("server %s in VERIFY_RESIZE has migrations %v", id, ms)
				}
				m := ms[0].(map[string]any)
				u.source, u.oldFlavor = m["source_compute"].(string), moved[id]
			}
			out[id] = u
		}
		return true
	})
	return out
}

// checkUsage compares the quota usage and the hosts' claims with what the
// servers' flavors and placements say they must be.
func checkUsage(t *testing.T, tc *controllertest.Cloud, admin, demo string, servers map[string]umServer, flavors map[string][2]float64) {
	t.Helper()
	var cores, ram float64
	byHost := map[string][2]float64{}
	for _, s := range servers {
		f := flavors[s.flavor]
		cores, ram = cores+f[0], ram+f[1]
		if s.status == "SHELVED_OFFLOADED" {
			if s.host != "" {
				t.Errorf("an offloaded server still has host %s", s.host)
			}
			continue
		}
		h := byHost[s.host]
		byHost[s.host] = [2]float64{h[0] + f[0], h[1] + f[1]}
		if s.source != "" {
			old, h := flavors[s.oldFlavor], byHost[s.source]
			byHost[s.source] = [2]float64{h[0] + old[0], h[1] + old[1]}
		}
	}
	abs := tc.Do(t, "GET", "/compute/v2.1/limits", demo, nil).JSON(t)["limits"].(map[string]any)["absolute"].(map[string]any)
	if abs["totalInstancesUsed"] != float64(len(servers)) || abs["totalCoresUsed"] != cores || abs["totalRAMUsed"] != ram {
		t.Errorf("usage instances %v cores %v ram %v, want %d %v %v (servers %v)", abs["totalInstancesUsed"],
			abs["totalCoresUsed"], abs["totalRAMUsed"], len(servers), cores, ram, servers)
	}
	for _, hv := range tc.Do(t, "GET", "/compute/v2.1/os-hypervisors/detail", admin, nil).JSON(t)["hypervisors"].([]any) {
		h := hv.(map[string]any)
		name := h["hypervisor_hostname"].(string)
		if want := byHost[name]; h["vcpus_used"] != want[0] || h["memory_mb_used"] != want[1] {
			t.Errorf("host %s claims %v vCPUs %v MB, want %v %v (servers %v)", name, h["vcpus_used"], h["memory_mb_used"],
				want[0], want[1], servers)
		}
	}
}
