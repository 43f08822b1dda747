package portal_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

var cpuNowRe = regexp.MustCompile(`data-testid="now-cpu">([0-9.]+)%<`)

// TestMonitoring follows an instance's statistics from its host's agent
// (libvirt's test driver, whose guests always look busy) to the
// Monitoring tab's charts, the page's event stream, the admin's
// Hypervisors page and os-diagnostics; another project sees none of it.
func TestMonitoring(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgentOn(t, "stats-host", "test:///default", t.TempDir(), "NIMBUS_AGENT_STATS_INTERVAL=1s")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	id := tc.ActiveServer(t, demo, "watched", tc.ActiveImage(t))

	b := tc.NewFormClient(t)
	since := controllertest.LiveSince(b.Login("demo", tc.DemoPass))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A page showing the charts names them; one that does not hears
	// nothing of them, nor does another project's page that names them.
	watching, err := b.Stream(ctx, "/project/events?since="+since+"&watch=stats:"+id, "")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := b.Events(ctx, since, "")
	if err != nil {
		t.Fatal(err)
	}
	other := tc.NewFormClient(t)
	otherUser := tc.NewProjectMember(t, "stats-other")
	otherSince := controllertest.LiveSince(other.Login(otherUser, controllertest.MemberPassword))
	nosy, err := other.Stream(ctx, "/project/events?since="+otherSince+"&watch=stats:"+id, "")
	if err != nil {
		t.Fatal(err)
	}

	// Two samples make the first point of each chart.
	var cpu float64
	controllertest.WaitFor(t, 20*time.Second, "the CPU chart's first point", func() bool {
		p := b.Get("/project/instances/" + id + "/stats?range=1h")
		m := cpuNowRe.FindStringSubmatch(p.Body)
		if m == nil {
			return false
		}
		cpu, _ = strconv.ParseFloat(m[1], 64)
		return strings.Contains(p.Body, `data-testid="chart-memory"`) && strings.Contains(p.Body, `data-live="stats:`+id+`"`)
	})
	if cpu <= 0 || cpu > 100 {
		t.Errorf("CPU %.1f%% of a guest the test driver shows busy", cpu)
	}
	page := b.Get("/project/instances/" + id + "?tab=monitoring").Body
	if !strings.Contains(page, `data-testid="chart-cpu"`) || !strings.Contains(page, `<path d="M`) {
		t.Errorf("the Monitoring tab draws no chart")
	}
	if day := b.Get("/project/instances/" + id + "/stats?range=24h").Body; !strings.Contains(day, `aria-current="true" data-testid="range-24h"`) {
		t.Errorf("the 24 h range is not the one shown")
	}

	deadline := time.After(10 * time.Second)
	for got := false; !got; {
		select {
		case ev := <-watching:
			c := decodeChange(t, ev)
			if ev.ID != "" && c.Change == "stats" {
				t.Errorf("a statistics notice carries a feed id %q: a browser would resume from it", ev.ID)
			}
			got = c.Change == "stats" && c.ID == id
		case <-deadline:
			t.Fatal("no statistics notice on the page that shows the charts")
		}
	}
	for _, s := range []struct {
		name string
		ch   <-chan controllertest.Event
	}{{"a page without charts", plain}, {"another project's page", nosy}} {
		for drained := false; !drained; {
			select {
			case ev := <-s.ch:
				if c := decodeChange(t, ev); c.Change == "stats" || c.Change == "host" {
					t.Errorf("%s heard %+v", s.name, c)
				}
			case <-time.After(1500 * time.Millisecond):
				drained = true
			}
		}
	}
	if p := other.Get("/project/instances/" + id + "/stats"); p.Status != 404 {
		t.Errorf("another project's charts: %d, want 404", p.Status)
	}

	// The admin's Hypervisors page shows the host's load, and hears of it.
	admin := tc.NewFormClient(t)
	admin.Login("admin", tc.AdminPass)
	hv := admin.Get("/admin/hypervisors").Body
	if !regexp.MustCompile(`data-testid="hypervisor-load-stats-host">[\s\S]*?CPU [0-9.]+%`).MatchString(hv) ||
		!strings.Contains(hv, `data-live="host"`) {
		t.Errorf("the Hypervisors page shows no load for the host")
	}

	// os-diagnostics answers admins from the same samples.
	adminTok := tc.AdminToken(t)
	path := "/compute/v2.1/servers/" + id + "/diagnostics"
	r := tc.Do(t, "GET", path, adminTok, nil, "OpenStack-API-Version", "compute 2.48")
	if r.Status != 200 {
		t.Fatalf("diagnostics: %d %s", r.Status, r.Body)
	}
	d := r.JSON(t)
	mem, _ := d["memory_details"].(map[string]any)
	if d["state"] != "running" || d["driver"] != "libvirt" || d["num_cpus"].(float64) < 1 || mem["maximum"].(float64) <= 0 {
		t.Errorf("diagnostics 2.48: %s", r.Body)
	}
	if r := tc.Do(t, "GET", path, adminTok, nil); r.Status != 200 || r.JSON(t)["memory"].(float64) <= 0 {
		t.Errorf("diagnostics 2.1: %d %s", r.Status, r.Body)
	}
	if r := tc.Do(t, "GET", path, demo, nil); r.Status != 403 {
		t.Errorf("diagnostics as a member: %d, want 403", r.Status)
	}
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"os-stop": nil}); r.Status != 202 {
		t.Fatalf("stop: %d %s", r.Status, r.Body)
	}
	tc.WaitStatus(t, demo, id, "SHUTOFF", 20*time.Second)
	if r := tc.Do(t, "GET", path, adminTok, nil); r.Status != 409 || !strings.Contains(string(r.Body), "conflictingRequest") {
		t.Errorf("diagnostics of a stopped instance: %d %s, want Nova's 409", r.Status, r.Body)
	}
}

// TestDiagnosticsBeforeTheFirstReport: os-diagnostics of an instance its
// host has not reported yet (its reports are an hour apart here) asks
// the host's agent for a sample then, as Nova asks the hypervisor
// (tempest's diagnostics tests ask right after ACTIVE).
func TestDiagnosticsBeforeTheFirstReport(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgentOn(t, "quiet-host", "test:///default", t.TempDir(), "NIMBUS_AGENT_STATS_INTERVAL=1h")
	tc.WaitHosts(t, 1)
	id := tc.ActiveServer(t, tc.DemoToken(t), "fresh", tc.ActiveImage(t))
	r := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/diagnostics", tc.AdminToken(t), nil, "OpenStack-API-Version", "compute 2.48")
	if r.Status != 200 || r.JSON(t)["state"] != "running" {
		t.Fatalf("diagnostics before the first report: %d %s", r.Status, r.Body)
	}
}
