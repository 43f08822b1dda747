package scheduler_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/scheduler"
)

func hostNames(hs []scheduler.Host) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out
}

func TestErrNoValidHostMessage(t *testing.T) {
	if got, want := scheduler.ErrNoValidHost.Error(), "No valid host was found."; got != want {
		t.Errorf("ErrNoValidHost: got %q, want %q", got, want)
	}
}

func TestPlace(t *testing.T) {
	cases := []struct {
		name  string
		hosts []scheduler.Host
		req   scheduler.Request
		cfg   scheduler.Config
		want  []string
	}{
		{
			name:  "spread: emptiest first, rejected hosts left out",
			hosts: []scheduler.Host{host("c1", ram(8192, 4096)), host("c2", disabled), host("c3", ram(8192, 0)), host("c4", ram(8192, 12000))},
			req:   scheduler.Request{VCPUs: 1, MemoryMB: 2048, DiskGB: 10},
			cfg:   scheduler.DefaultConfig(),
			want:  []string{"c3", "c1"},
		},
		{
			name:  "stack: fullest that still fits first",
			hosts: []scheduler.Host{host("c1", ram(8192, 4096)), host("c2", disabled), host("c3", ram(8192, 0)), host("c4", ram(8192, 10000))},
			req:   scheduler.Request{VCPUs: 1, MemoryMB: 2048, DiskGB: 10},
			cfg:   scheduler.Config{RAMWeightMultiplier: -1, CPUWeightMultiplier: -1},
			want:  []string{"c4", "c1", "c3"},
		},
		{
			name:  "availability zone narrows the candidates",
			hosts: []scheduler.Host{host("a1", inAZ("a")), host("b1", inAZ("b")), host("a2", inAZ("a"), ram(32768, 0))},
			req:   scheduler.Request{VCPUs: 1, MemoryMB: 512, AZ: "a"},
			cfg:   scheduler.DefaultConfig(),
			want:  []string{"a2", "a1"},
		},
		{
			name:  "image architecture narrows the candidates",
			hosts: []scheduler.Host{host("x1"), host("arm1", arch("aarch64")), host("arm2", arch("AArch64"), cpus(64, 0))},
			req:   withProps("hw_architecture", "aarch64"),
			cfg:   scheduler.DefaultConfig(),
			want:  []string{"arm2", "arm1"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := scheduler.Place(c.hosts, c.req, c.cfg)
			if err != nil {
				t.Fatalf("Place: got error %v, want hosts %v", err, c.want)
			}
			if !slices.Equal(hostNames(got), c.want) {
				t.Errorf("Place: got %v, want %v", hostNames(got), c.want)
			}
		})
	}
}

func TestPlaceNoValidHost(t *testing.T) {
	hosts := []scheduler.Host{
		host("c1", disabled),
		host("c2", inAZ("other")),
		host("c3", ram(1024, 1500)),
		host("c4", cpus(1, 16)),
		host("c5", disk(10, 10)),
		host("c6", arch("ppc64le")),
		host("c7"),
	}
	req := scheduler.Request{VCPUs: 1, MemoryMB: 512, DiskGB: 1, AZ: "nova", IgnoreHosts: []string{"c7"},
		ImageProps: map[string]string{"hw_architecture": "x86_64"}}

	got, err := scheduler.Place(hosts, req, scheduler.DefaultConfig())
	if got != nil {
		t.Errorf("hosts: got %v, want nil", hostNames(got))
	}
	if !errors.Is(err, scheduler.ErrNoValidHost) {
		t.Fatalf("errors.Is(err, ErrNoValidHost): got false for %v, want true", err)
	}
	var nvh *scheduler.NoValidHostError
	if !errors.As(err, &nvh) {
		t.Fatalf("errors.As(err, *NoValidHostError): got false for %T, want true", err)
	}
	wantFilters := map[string]string{
		"c1": "ComputeFilter", "c2": "AvailabilityZoneFilter", "c3": "RamFilter", "c4": "CoreFilter",
		"c5": "DiskFilter", "c6": "ImagePropertiesFilter", "c7": "IgnoreHostsFilter",
	}
	if len(nvh.Rejections) != len(hosts) {
		t.Fatalf("rejections: got %d (%+v), want %d", len(nvh.Rejections), nvh.Rejections, len(hosts))
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "No valid host was found. ") {
		t.Errorf("message: got %q, want it to start with Nova's message", msg)
	}
	if !strings.Contains(msg, "7 hosts rejected") {
		t.Errorf("message: got %q, want it to contain %q", msg, "7 hosts rejected")
	}
	for _, r := range nvh.Rejections {
		if want := wantFilters[r.Host]; r.Filter != want {
			t.Errorf("%s: got filter %s, want %s", r.Host, r.Filter, want)
		}
		for _, part := range []string{r.Host, r.Filter, r.Reason} {
			if !strings.Contains(msg, part) {
				t.Errorf("message: got %q, want it to contain %q", msg, part)
			}
		}
	}
	// Per-filter counts appear in chain order.
	if want := "(IgnoreHostsFilter: 1, ComputeFilter: 1, AvailabilityZoneFilter: 1, ImagePropertiesFilter: 1, RamFilter: 1, CoreFilter: 1, DiskFilter: 1)"; !strings.Contains(msg, want) {
		t.Errorf("message: got %q, want it to contain %q", msg, want)
	}
}

func TestPlaceNoValidHostSummary(t *testing.T) {
	cases := []struct {
		name     string
		hosts    []scheduler.Host
		want     []string
		dontWant []string
	}{
		{
			name:  "no hosts at all",
			hosts: nil,
			want:  []string{"No valid host was found. no hosts to choose from"},
		},
		{
			name:  "one host",
			hosts: []scheduler.Host{host("solo", down)},
			want:  []string{"1 host rejected (ComputeFilter: 1): solo rejected by ComputeFilter: compute service is down"},
		},
		{
			name: "many hosts: counts cover all, details are capped",
			hosts: func() []scheduler.Host {
				var hs []scheduler.Host
				for i := range 25 {
					hs = append(hs, host(fmt.Sprintf("c%02d", i), disabled))
				}
				hs = append(hs, host("tiny", ram(1, 0)))
				return hs
			}(),
			want:     []string{"26 hosts rejected (ComputeFilter: 25, RamFilter: 1)", "c09 rejected by ComputeFilter", "; and 16 more"},
			dontWant: []string{"c10", "tiny"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := scheduler.Place(c.hosts, small, scheduler.DefaultConfig())
			if !errors.Is(err, scheduler.ErrNoValidHost) {
				t.Fatalf("errors.Is(err, ErrNoValidHost): got false for %v, want true", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message: got %q, want it to contain %q", err.Error(), w)
				}
			}
			for _, w := range c.dontWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("message: got %q, want it not to contain %q", err.Error(), w)
				}
			}
		})
	}
}

// TestPlaceRescheduling plays the caller's loop: claim the first candidate,
// and when the build there fails, ask again with the tried hosts ignored.
func TestPlaceRescheduling(t *testing.T) {
	hosts := []scheduler.Host{host("a", ram(4096, 0)), host("b", ram(8192, 0)), host("c", ram(2048, 0))}
	req := scheduler.Request{VCPUs: 1, MemoryMB: 1024, DiskGB: 1}
	cfg := scheduler.DefaultConfig()

	steps := []struct {
		name      string
		wantFirst string // "" = no valid host left
	}{
		{"first attempt", "b"},
		{"b failed", "a"},
		{"a failed too", "c"},
		{"every host tried", ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got, err := scheduler.Place(hosts, req, cfg)
			if s.wantFirst == "" {
				if !errors.Is(err, scheduler.ErrNoValidHost) {
					t.Fatalf("Place: got %v, %v; want ErrNoValidHost", hostNames(got), err)
				}
				if !strings.Contains(err.Error(), "IgnoreHostsFilter: 3") {
					t.Errorf("message: got %q, want it to contain %q", err.Error(), "IgnoreHostsFilter: 3")
				}
				return
			}
			if err != nil {
				t.Fatalf("Place: got error %v, want %s first", err, s.wantFirst)
			}
			if got[0].Name != s.wantFirst {
				t.Errorf("first candidate: got %s (all %v), want %s", got[0].Name, hostNames(got), s.wantFirst)
			}
			for _, h := range got {
				if slices.Contains(req.IgnoreHosts, h.Name) {
					t.Errorf("candidate %s was already tried (%v)", h.Name, req.IgnoreHosts)
				}
			}
			req.IgnoreHosts = append(req.IgnoreHosts, got[0].Name)
		})
	}
}

// oracle re-states the filter rules independently of the implementation.
type oracle struct{ cfg scheduler.Config }

func effective(v, def float64) float64 {
	if v > 0 && !math.IsInf(v, 0) {
		return v
	}
	return def
}

func (o oracle) fitsResources(h scheduler.Host, r scheduler.Request) bool {
	ramRatio := effective(o.cfg.RAMAllocationRatio, 1.5)
	cpuRatio := effective(o.cfg.CPUAllocationRatio, 16)
	diskRatio := effective(o.cfg.DiskAllocationRatio, 1)
	return float64(h.MemoryMB)*ramRatio-float64(h.MemoryMBUsed) >= float64(r.MemoryMB) &&
		float64(h.VCPUs)*cpuRatio-float64(h.VCPUsUsed) >= float64(r.VCPUs) &&
		float64(h.DiskGB)*diskRatio-float64(h.DiskGBUsed) >= float64(r.DiskGB)
}

func (o oracle) passesAll(h scheduler.Host, r scheduler.Request) bool {
	if slices.Contains(r.IgnoreHosts, h.Name) || !h.Enabled || !h.Up || (r.AZ != "" && h.AZ != r.AZ) {
		return false
	}
	canon := func(s string, alias map[string]string) string {
		s = strings.ToLower(s)
		if a, ok := alias[s]; ok {
			return a
		}
		return s
	}
	archAlias := map[string]string{"amd64": "x86_64"}
	hvAlias := map[string]string{"kvm": "qemu"}
	if a := cmpOr(r.ImageProps["hw_architecture"], r.ImageProps["architecture"]); a != "" && canon(a, archAlias) != canon(h.Arch, archAlias) {
		return false
	}
	if t := cmpOr(r.ImageProps["img_hv_type"], r.ImageProps["hypervisor_type"]); t != "" && canon(t, hvAlias) != canon(h.HypervisorType, hvAlias) {
		return false
	}
	return o.fitsResources(h, r)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func randomCase(r *rand.Rand) ([]scheduler.Host, scheduler.Request, scheduler.Config) {
	n := r.IntN(26)
	hosts := make([]scheduler.Host, n)
	for i := range hosts {
		vcpus := pick(r, 0, 1, 2, 4, 8, 16, 32, 64)
		mem := pick(r, 0, 512, 1024, 2048, 4096, 8192, 16384, 65536, 262144)
		dsk := pick(r, 0, 10, 20, 50, 100, 500, 2000)
		hosts[i] = scheduler.Host{
			Name:           fmt.Sprintf("h%02d", i),
			AZ:             pick(r, "nova", "nova", "nova", "az1", ""),
			Enabled:        r.IntN(10) != 0,
			Up:             r.IntN(10) != 0,
			HypervisorType: pick(r, "QEMU", "QEMU", "QEMU", "Test", "kvm", "VMware"),
			Arch:           pick(r, "x86_64", "x86_64", "x86_64", "amd64", "aarch64", ""),
			VCPUs:          vcpus,
			VCPUsUsed:      r.IntN(vcpus*18 + 1),
			MemoryMB:       mem,
			MemoryMBUsed:   r.IntN(mem*3/2 + 1),
			DiskGB:         dsk,
			DiskGBUsed:     r.IntN(dsk*3/2 + 1),
			RunningVMs:     r.IntN(50),
		}
	}
	req := scheduler.Request{
		VCPUs:    pick(r, 0, 1, 1, 2, 4, 16),
		MemoryMB: pick(r, 0, 64, 512, 512, 2048, 8192, 32768),
		DiskGB:   pick(r, 0, 1, 10, 10, 40, 160),
		AZ:       pick(r, "", "", "", "nova", "az1"),
	}
	if r.IntN(3) == 0 {
		req.ImageProps = map[string]string{}
		for _, k := range []string{"hw_architecture", "architecture", "img_hv_type", "hypervisor_type", "os_distro"} {
			if r.IntN(3) == 0 {
				req.ImageProps[k] = pick(r, "x86_64", "AMD64", "aarch64", "qemu", "KVM", "test", "ubuntu", "")
			}
		}
	}
	for i := range n {
		if r.IntN(10) == 0 {
			req.IgnoreHosts = append(req.IgnoreHosts, hosts[i].Name)
		}
	}
	ratio := func() float64 { return pick(r, 0, -1, 0.5, 1, 1.5, 16, math.NaN(), r.Float64()*4) }
	mult := func() float64 { return pick(r, 0, 1, -1, 2.5, r.Float64()*4-2) }
	cfg := scheduler.Config{
		CPUAllocationRatio: ratio(), RAMAllocationRatio: ratio(), DiskAllocationRatio: ratio(),
		RAMWeightMultiplier: mult(), CPUWeightMultiplier: mult(),
	}
	return hosts, req, cfg
}

// TestPlaceProperties checks invariants of Filter, Weigh and Place over many
// random host sets, requests and configs.
func TestPlaceProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(20240601, 7))
	iterations := 5000
	if testing.Short() {
		iterations = 300
	}
	validFilters := scheduler.FilterNames()
	for it := range iterations {
		hosts, req, cfg := randomCase(r)
		o := oracle{cfg}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("case %d (hosts %+v, req %+v, cfg %+v): %s", it, hosts, req, cfg, fmt.Sprintf(format, args...))
		}

		passed, rejected := scheduler.Filter(hosts, req, cfg)
		if len(passed)+len(rejected) != len(hosts) {
			fail("Filter: got %d passed + %d rejected, want %d hosts in all", len(passed), len(rejected), len(hosts))
		}
		rejectedNames := map[string]bool{}
		for _, rj := range rejected {
			rejectedNames[rj.Host] = true
			if !slices.Contains(validFilters, rj.Filter) || rj.Reason == "" {
				fail("rejection %+v: got unknown filter or empty reason, want one of %v with a reason", rj, validFilters)
			}
		}
		for _, h := range hosts {
			if want := o.passesAll(h, req); want == rejectedNames[h.Name] {
				fail("host %+v: got rejected=%v, want passes=%v", h, rejectedNames[h.Name], want)
			}
		}

		got, err := scheduler.Place(hosts, req, cfg)
		if (err != nil) != (len(passed) == 0) {
			fail("Place: got err %v with %d hosts passing Filter, want an error exactly when none pass", err, len(passed))
		}
		if err != nil {
			if !errors.Is(err, scheduler.ErrNoValidHost) || got != nil {
				fail("Place: got %v, %v; want nil, ErrNoValidHost", got, err)
			}
			continue
		}
		if len(got) != len(passed) {
			fail("Place: got %d candidates, want %d (every host passing Filter)", len(got), len(passed))
		}
		for _, h := range got {
			if rejectedNames[h.Name] {
				fail("Place returned %s, which Filter rejected", h.Name)
			}
			if !o.fitsResources(h, req) {
				fail("Place returned %+v, which lacks resources for %+v", h, req)
			}
			if !o.passesAll(h, req) {
				fail("Place returned %+v, which fails a filter for %+v", h, req)
			}
		}

		ws := scheduler.Weigh(passed, req, cfg)
		if !slices.Equal(hostNames(got), names(ws)) {
			fail("Place order %v differs from Weigh order %v", hostNames(got), names(ws))
		}
		for i := 1; i < len(ws); i++ {
			a, b := ws[i-1], ws[i]
			if a.Weight < b.Weight || (a.Weight == b.Weight && a.Host.Name >= b.Host.Name) {
				fail("Weigh order: got %s=%v before %s=%v, want higher weight first, then name", a.Host.Name, a.Weight, b.Host.Name, b.Weight)
			}
		}
		bound := math.Abs(cfg.RAMWeightMultiplier) + math.Abs(cfg.CPUWeightMultiplier)
		for _, w := range ws {
			if math.IsNaN(w.Weight) || math.Abs(w.Weight) > bound+1e-9 {
				fail("weight of %s: got %v, want within ±%v", w.Host.Name, w.Weight, bound)
			}
		}

		// The answer does not depend on the order hosts are listed in.
		shuffled := slices.Clone(hosts)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		again, err := scheduler.Place(shuffled, req, cfg)
		if err != nil || !reflect.DeepEqual(got, again) {
			fail("Place on shuffled hosts: got %v, %v; want %v", hostNames(again), err, hostNames(got))
		}
	}
}

func BenchmarkPlace20Hosts(b *testing.B) {
	hosts := make([]scheduler.Host, 20)
	for i := range hosts {
		hosts[i] = scheduler.Host{
			Name: fmt.Sprintf("compute-%02d", i), AZ: []string{"az1", "az2"}[i%2],
			Enabled: i != 3, Up: i != 7, HypervisorType: "QEMU", Arch: "x86_64",
			VCPUs: 32, VCPUsUsed: (i * 37) % 500,
			MemoryMB: 131072, MemoryMBUsed: (i * 15013) % 190000,
			DiskGB: 2000, DiskGBUsed: (i * 97) % 1900,
			RunningVMs: i * 3,
		}
	}
	req := scheduler.Request{
		VCPUs: 4, MemoryMB: 8192, DiskGB: 80, AZ: "az1",
		ImageProps:  map[string]string{"hw_architecture": "x86_64", "img_hv_type": "kvm"},
		IgnoreHosts: []string{"compute-00"},
	}
	cfg := scheduler.DefaultConfig()
	if _, err := scheduler.Place(hosts, req, cfg); err != nil {
		b.Fatalf("Place: got %v, want candidates", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := scheduler.Place(hosts, req, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
