package compute_test

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestQuotaModel drives one project with random (seeded, logged) steps,
// each a batch of one to four operations run at once: launches of a small
// flavor, a larger one and one no host can hold (a failed build, which
// still counts until deleted) with random min/max counts, deletes, and
// admin quota changes. After every step the project's usage from /limits
// equals an in-memory model, every launch made between min and max
// instances (exactly what fits, when it ran alone) or none, a lowered
// limit was refused exactly when below the usage, and a sampler checks
// throughout that usage never exceeds a limit. NIMBUS_QUOTA_SEED replays
// a run.
func TestQuotaModel(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("NIMBUS_QUOTA_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (NIMBUS_QUOTA_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewSource(seed))

	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "qm-a")
	tc.StartAgent(t, "qm-b")
	tc.WaitHosts(t, 2)
	img := tc.ActiveImage(t)
	admin := tc.AdminToken(t)
	pid := tc.Do(t, "POST", "/identity/v3/projects", admin, map[string]any{"project": map[string]any{"name": "qm"}}).JSON(t)["project"].(map[string]any)["id"].(string)
	uid := tc.Do(t, "POST", "/identity/v3/users", admin, map[string]any{"user": map[string]any{"name": "qm-user", "password": "qm-pass-1", "default_project_id": pid}}).JSON(t)["user"].(map[string]any)["id"].(string)
	rid := tc.Do(t, "GET", "/identity/v3/roles?name=member", admin, nil).JSON(t)["roles"].([]any)[0].(map[string]any)["id"].(string)
	tc.Do(t, "PUT", "/identity/v3/projects/"+pid+"/users/"+uid+"/roles/"+rid, admin, nil)
	tok := tc.Token(t, "qm-user", "qm-pass-1", "qm")

	// Flavors: tiny (m1.tiny), double, and huge (four times the largest
	// host's memory, so scheduling fails and the instance ends in ERROR).
	hostMB := 0
	for _, h := range tc.Do(t, "GET", "/compute/v2.1/os-hypervisors/detail", admin, nil).JSON(t)["hypervisors"].([]any) {
		hostMB = max(hostMB, int(h.(map[string]any)["memory_mb"].(float64)))
	}
	mkFlavor := func(name string, vcpus, ram int) qmFlavor {
		r := tc.Do(t, "POST", "/compute/v2.1/flavors", admin, map[string]any{"flavor": map[string]any{"name": name, "vcpus": vcpus, "ram": ram, "disk": 1}})
		if r.Status != 200 {
			t.Fatalf("flavor %s: %d %s", name, r.Status, r.Body)
		}
		return qmFlavor{id: r.JSON(t)["flavor"].(map[string]any)["id"].(string), vcpus: vcpus, ram: ram}
	}
	flavors := []qmFlavor{{id: "1", vcpus: 1, ram: 512}, mkFlavor("qm-double", 2, 1024), mkFlavor("qm-huge", 1, 4*hostMB)}
	huge := flavors[2].ram

	m := &qmModel{servers: map[string]qmFlavor{}, limits: qmUsage{instances: 10, cores: 20, ram: 51200}}
	setQuota := func(l qmUsage) int {
		return tc.Do(t, "PUT", "/compute/v2.1/os-quota-sets/"+pid, admin, map[string]any{"quota_set": map[string]any{
			"instances": l.instances, "cores": l.cores, "ram": l.ram}}).Status
	}
	m.limits = qmUsage{instances: 8, cores: 12, ram: 2*huge + 4096}
	if s := setQuota(m.limits); s != 200 {
		t.Fatalf("initial quota: %d", s)
	}

	// The sampler: usage within the limits at every moment it looks.
	var samples, over atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(30 * time.Millisecond):
			}
			r := tc.Do(t, "GET", "/compute/v2.1/limits", tok, nil)
			if r.Status != 200 {
				continue
			}
			abs := r.JSON(t)["limits"].(map[string]any)["absolute"].(map[string]any)
			samples.Add(1)
			for _, k := range [][2]string{{"totalInstancesUsed", "maxTotalInstances"}, {"totalCoresUsed", "maxTotalCores"}, {"totalRAMUsed", "maxTotalRAMSize"}} {
				if used, limit := abs[k[0]].(float64), abs[k[1]].(float64); limit >= 0 && used > limit {
					over.Add(1)
					t.Errorf("sampled %s %v over %s %v", k[0], used, k[1], limit)
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	stats := map[string]int{}
	deadline := time.Now().Add(40 * time.Second)
	for step := 0; step < 40 && time.Now().Before(deadline); step++ {
		n := 1 + rng.Intn(4)
		if rng.Intn(3) == 0 {
			n = 1 // a third of the steps run alone, for the exact checks
		}
		ops := make([]qmOp, n)
		taken := map[string]bool{}
		for i := range ops {
			ops[i] = m.randomOp(rng, flavors, huge, taken, fmt.Sprintf("s%d-%d", step, i))
		}
		var bwg sync.WaitGroup
		for i := range ops {
			bwg.Add(1)
			go func(o *qmOp) {
				defer bwg.Done()
				switch o.kind {
				case "launch":
					o.status = tc.CreateServer(t, tok, map[string]any{"name": o.name, "flavorRef": o.flavor.id, "imageRef": img,
						"min_count": o.min, "max_count": o.max}).Status
				case "delete":
					o.status = tc.Do(t, "DELETE", "/compute/v2.1/servers/"+o.id, tok, nil).Status
				case "quota":
					o.status = setQuota(o.limits)
				}
			}(&ops[i])
		}
		bwg.Wait()
		for _, o := range ops {
			stats[fmt.Sprintf("%s %d", o.kind, o.status)]++
		}
		listed := qmSettle(t, tc, tok)
		for _, s := range listed {
			if s.status == "ERROR" {
				stats["in ERROR after a step"]++
			}
		}
		m.apply(t, step, ops, listed)
		m.check(t, step, tc, tok)
		if t.Failed() {
			t.Fatalf("step %d failed (seed %d): %+v", step, seed, ops)
		}
	}
	if samples.Load() < 10 {
		t.Errorf("only %d samples of /limits", samples.Load())
	}
	t.Logf("%d servers at the end, limits %+v, %d samples; answers %v", len(m.servers), m.limits, samples.Load(), stats)
}

type qmFlavor struct {
	id         string
	vcpus, ram int
}

type qmUsage struct{ instances, cores, ram int }

type qmOp struct {
	kind     string // launch, delete, quota
	name     string
	flavor   qmFlavor
	min, max int
	id       string  // delete
	limits   qmUsage // quota
	status   int
	before   qmUsage // usage when the batch started
	alone    bool
	oldLimit qmUsage
}

type qmModel struct {
	servers map[string]qmFlavor // id -> flavor of every instance not deleted
	limits  qmUsage             // -1: unlimited
}

func (m *qmModel) usage() qmUsage {
	var u qmUsage
	for _, f := range m.servers {
		u.instances++
		u.cores += f.vcpus
		u.ram += f.ram
	}
	return u
}

// fits is how many of min..max instances of f fit (Nova's rule: as many
// as possible up to max), or 0 when min does not.
func (m *qmModel) fits(f qmFlavor, min, max int) int {
	u := m.usage()
	ok := func(n int) bool {
		within := func(used, each, limit int) bool { return limit < 0 || used+n*each <= limit }
		return within(u.instances, 1, m.limits.instances) && within(u.cores, f.vcpus, m.limits.cores) && within(u.ram, f.ram, m.limits.ram)
	}
	for n := max; n >= min; n-- {
		if ok(n) {
			return n
		}
	}
	return 0
}

func (m *qmModel) randomOp(rng *rand.Rand, flavors []qmFlavor, huge int, taken map[string]bool, name string) qmOp {
	o := qmOp{name: name, before: m.usage(), oldLimit: m.limits}
	switch r := rng.Intn(10); {
	case r < 5 || len(m.servers) == 0 && r < 8:
		o.kind = "launch"
		o.flavor = flavors[rng.Intn(len(flavors))]
		if rng.Intn(3) > 0 {
			o.flavor = flavors[0]
		}
		o.min = 1 + rng.Intn(3)
		o.max = o.min + rng.Intn(3)
	case r < 8:
		o.kind = "delete"
		for id := range m.servers { // map order is random enough; the seed fixes the rest
			if !taken[id] {
				o.id = id
				break
			}
		}
		if o.id == "" {
			o.kind = "quota"
		}
		taken[o.id] = true
	default:
		o.kind = "quota"
	}
	if o.kind == "quota" && taken["quota"] { // one change a batch: two at once have no order to model
		o.kind, o.flavor, o.min, o.max = "launch", flavors[0], 1, 1
	}
	if o.kind == "quota" {
		taken["quota"] = true
		// Mostly at or above the usage (accepted), sometimes anywhere
		// (refused when below it).
		u := m.usage()
		rams := []int{-1, 2*huge + 4096, huge + 2048, 8192, 2048}
		o.limits = qmUsage{instances: rng.Intn(13), cores: rng.Intn(25), ram: rams[rng.Intn(len(rams))]}
		if rng.Intn(4) > 0 {
			o.limits = qmUsage{instances: u.instances + rng.Intn(5), cores: u.cores + rng.Intn(8), ram: u.ram + 512*rng.Intn(8)}
		}
		if rng.Intn(6) == 0 {
			o.limits.instances = -1
		}
	}
	return o
}

// apply updates the model from a settled batch and checks each answer.
func (m *qmModel) apply(t *testing.T, step int, ops []qmOp, listed map[string]qmListed) {
	t.Helper()
	alone := len(ops) == 1
	for i := range ops {
		o := &ops[i]
		switch o.kind {
		case "launch":
			var made []string
			for id, s := range listed {
				if s.name == o.name || strings.HasPrefix(s.name, o.name+"-") {
					made = append(made, id)
				}
			}
			want := -1
			if alone {
				want = m.fits(o.flavor, o.min, o.max)
			}
			switch {
			case o.status == 202 && (len(made) < o.min || len(made) > o.max):
				t.Errorf("step %d: launch %d..%d of %s accepted, %d made", step, o.min, o.max, o.flavor.id, len(made))
			case o.status == 403 && len(made) != 0:
				t.Errorf("step %d: launch refused, %d made", step, len(made))
			case o.status != 202 && o.status != 403:
				t.Errorf("step %d: launch answered %d", step, o.status)
			case want >= 0 && (len(made) != want || (want == 0) != (o.status == 403)):
				t.Errorf("step %d: launch %d..%d of flavor %s alone (usage %+v, limits %+v): %d made (%d), want %d",
					step, o.min, o.max, o.flavor.id, o.before, m.limits, len(made), o.status, want)
			}
			for _, id := range made {
				m.servers[id] = o.flavor
			}
		case "delete":
			if o.status != 204 {
				t.Errorf("step %d: delete answered %d", step, o.status)
			}
			if _, still := listed[o.id]; still {
				t.Errorf("step %d: deleted server %s still listed", step, o.id)
			}
			delete(m.servers, o.id)
		}
	}
	// Quota changes last: a lowered limit is judged against the usage
	// once the batch settled when it ran alone.
	for i := range ops {
		o := &ops[i]
		if o.kind != "quota" {
			continue
		}
		if alone {
			u := m.usage()
			below := func(l, used int) bool { return l >= 0 && l < used }
			wantRefused := below(o.limits.instances, u.instances) || below(o.limits.cores, u.cores) || below(o.limits.ram, u.ram)
			if (o.status == 400) != wantRefused || (o.status != 200 && o.status != 400) {
				t.Errorf("step %d: quota %+v with usage %+v answered %d, want refused=%v", step, o.limits, u, o.status, wantRefused)
			}
		}
		if o.status == 200 {
			m.limits = o.limits
		} else if o.status != 400 {
			t.Errorf("step %d: quota change answered %d", step, o.status)
		}
	}
	if len(listed) != len(m.servers) {
		t.Errorf("step %d: %d servers listed, the model has %d", step, len(listed), len(m.servers))
	}
}

// check compares /limits with the model.
func (m *qmModel) check(t *testing.T, step int, tc *controllertest.Cloud, tok string) {
	t.Helper()
	abs := tc.Do(t, "GET", "/compute/v2.1/limits", tok, nil).JSON(t)["limits"].(map[string]any)["absolute"].(map[string]any)
	u := m.usage()
	got := qmUsage{int(abs["totalInstancesUsed"].(float64)), int(abs["totalCoresUsed"].(float64)), int(abs["totalRAMUsed"].(float64))}
	lim := qmUsage{int(abs["maxTotalInstances"].(float64)), int(abs["maxTotalCores"].(float64)), int(abs["maxTotalRAMSize"].(float64))}
	if got != u {
		t.Errorf("step %d: /limits usage %+v, model %+v", step, got, u)
	}
	if lim != m.limits {
		t.Errorf("step %d: /limits limits %+v, model %+v", step, lim, m.limits)
	}
}

type qmListed struct{ name, status string }

// qmSettle waits until no instance of the project is building or being
// deleted, and returns those left by id.
func qmSettle(t *testing.T, tc *controllertest.Cloud, tok string) map[string]qmListed {
	t.Helper()
	var out map[string]qmListed
	controllertest.WaitFor(t, 20*time.Second, "instances to settle", func() bool {
		r := tc.Do(t, "GET", "/compute/v2.1/servers/detail", tok, nil)
		if r.Status != 200 {
			return false
		}
		out = map[string]qmListed{}
		for _, s := range r.JSON(t)["servers"].([]any) {
			s := s.(map[string]any)
			st, _ := s["status"].(string)
			task, _ := s["OS-EXT-STS:task_state"].(string)
			if (st != "ACTIVE" && st != "ERROR") || task != "" {
				return false
			}
			out[s["id"].(string)] = qmListed{name: s["name"].(string), status: st}
		}
		return true
	})
	return out
}
