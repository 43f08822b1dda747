package scheduler_test

import (
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/scheduler"
)

func names(ws []scheduler.Weighed) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Host.Name
	}
	return out
}

func weights(ws []scheduler.Weighed) map[string]float64 {
	out := make(map[string]float64, len(ws))
	for _, w := range ws {
		out[w.Host.Name] = w.Weight
	}
	return out
}

func TestWeighSpreadAndStack(t *testing.T) {
	// Same vCPUs everywhere; free RAM (ratio 1.5): full 1536-1500=36,
	// half 1536-768=768, empty 1536.
	byRAM := []scheduler.Host{
		host("half", ram(1024, 768)),
		host("empty", ram(1024, 0)),
		host("full", ram(1024, 1500)),
	}
	// Same RAM everywhere; free vCPUs (ratio 16): 4*16-60=4, 4*16-32=32, 64.
	byCPU := []scheduler.Host{
		host("full", cpus(4, 60)),
		host("half", cpus(4, 32)),
		host("empty", cpus(4, 0)),
	}
	cases := []struct {
		name  string
		hosts []scheduler.Host
		cfg   scheduler.Config
		want  []string
	}{
		{"ram positive spreads", byRAM, scheduler.Config{RAMWeightMultiplier: 1}, []string{"empty", "half", "full"}},
		{"ram negative stacks", byRAM, scheduler.Config{RAMWeightMultiplier: -1}, []string{"full", "half", "empty"}},
		{"ram default config spreads", byRAM, scheduler.DefaultConfig(), []string{"empty", "half", "full"}},
		{"ram zero multiplier ignores RAM", byRAM, scheduler.Config{}, []string{"empty", "full", "half"}},
		{"cpu positive spreads", byCPU, scheduler.Config{CPUWeightMultiplier: 1}, []string{"empty", "half", "full"}},
		{"cpu negative stacks", byCPU, scheduler.Config{CPUWeightMultiplier: -1}, []string{"full", "half", "empty"}},
		{"cpu default config spreads", byCPU, scheduler.DefaultConfig(), []string{"empty", "half", "full"}},
		{"NaN multiplier ignores RAM", byRAM, scheduler.Config{RAMWeightMultiplier: math.NaN()}, []string{"empty", "full", "half"}},
		{"infinite multiplier ignores CPU", byCPU, scheduler.Config{CPUWeightMultiplier: math.Inf(-1)}, []string{"empty", "full", "half"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := scheduler.Weigh(c.hosts, small, c.cfg)
			if !slices.Equal(names(got), c.want) {
				t.Errorf("order: got %v (weights %v), want %v", names(got), weights(got), c.want)
			}
		})
	}
}

func TestWeighNormalisation(t *testing.T) {
	cases := []struct {
		name  string
		hosts []scheduler.Host
		cfg   scheduler.Config
		want  []scheduler.Weighed // order and weights, compared by name and weight
	}{
		{
			name: "min 0, max 1, linear between",
			// Free RAM at ratio 1.0: 1000, 2000, 3000.
			hosts: []scheduler.Host{host("a", ram(1000, 0)), host("b", ram(3000, 0)), host("c", ram(2000, 0))},
			cfg:   scheduler.Config{RAMAllocationRatio: 1, RAMWeightMultiplier: 1},
			want:  []scheduler.Weighed{{Host: scheduler.Host{Name: "b"}, Weight: 1}, {Host: scheduler.Host{Name: "c"}, Weight: 0.5}, {Host: scheduler.Host{Name: "a"}, Weight: 0}},
		},
		{
			name:  "multiplier scales the normalised value",
			hosts: []scheduler.Host{host("a", ram(1000, 0)), host("b", ram(3000, 0)), host("c", ram(2000, 0))},
			cfg:   scheduler.Config{RAMAllocationRatio: 1, RAMWeightMultiplier: 2.5},
			want:  []scheduler.Weighed{{Host: scheduler.Host{Name: "b"}, Weight: 2.5}, {Host: scheduler.Host{Name: "c"}, Weight: 1.25}, {Host: scheduler.Host{Name: "a"}, Weight: 0}},
		},
		{
			name:  "negative multiplier: fullest 0, emptiest -m",
			hosts: []scheduler.Host{host("a", ram(1000, 0)), host("b", ram(3000, 0)), host("c", ram(2000, 0))},
			cfg:   scheduler.Config{RAMAllocationRatio: 1, RAMWeightMultiplier: -2},
			want:  []scheduler.Weighed{{Host: scheduler.Host{Name: "a"}, Weight: 0}, {Host: scheduler.Host{Name: "c"}, Weight: -1}, {Host: scheduler.Host{Name: "b"}, Weight: -2}},
		},
		{
			name:  "units do not matter: RAM in MB and vCPUs add on the same scale",
			hosts: []scheduler.Host{host("a", ram(100000, 0), cpus(1, 0)), host("b", ram(1000, 0), cpus(3, 0)), host("c", ram(50500, 0), cpus(2, 0))},
			cfg:   scheduler.Config{RAMAllocationRatio: 1, CPUAllocationRatio: 1, RAMWeightMultiplier: 1, CPUWeightMultiplier: 1},
			want:  []scheduler.Weighed{{Host: scheduler.Host{Name: "a"}, Weight: 1}, {Host: scheduler.Host{Name: "b"}, Weight: 1}, {Host: scheduler.Host{Name: "c"}, Weight: 1}},
		},
		{
			name:  "all equal: every weight 0, name order",
			hosts: []scheduler.Host{host("c"), host("a"), host("b")},
			cfg:   scheduler.DefaultConfig(),
			want:  []scheduler.Weighed{{Host: scheduler.Host{Name: "a"}, Weight: 0}, {Host: scheduler.Host{Name: "b"}, Weight: 0}, {Host: scheduler.Host{Name: "c"}, Weight: 0}},
		},
		{
			name:  "one host: weight 0",
			hosts: []scheduler.Host{host("only", ram(1, 0))},
			cfg:   scheduler.DefaultConfig(),
			want:  []scheduler.Weighed{{Host: scheduler.Host{Name: "only"}, Weight: 0}},
		},
		{
			name: "tie between different hosts broken by name",
			// y has the most RAM and the fewest vCPUs, x the reverse: 1+0 = 0+1.
			hosts: []scheduler.Host{host("y", ram(4096, 0), cpus(1, 0)), host("x", ram(1024, 0), cpus(4, 0))},
			cfg:   scheduler.DefaultConfig(),
			want:  []scheduler.Weighed{{Host: scheduler.Host{Name: "x"}, Weight: 1}, {Host: scheduler.Host{Name: "y"}, Weight: 1}},
		},
		{
			name: "allocation ratio changes the free value being weighed",
			// At RAM ratio 3: big 3000-500=2500, small 1800 -> big first.
			hosts: []scheduler.Host{host("small", ram(600, 0)), host("big", ram(1000, 500))},
			cfg:   scheduler.Config{RAMAllocationRatio: 3, RAMWeightMultiplier: 1},
			want:  []scheduler.Weighed{{Host: scheduler.Host{Name: "big"}, Weight: 1}, {Host: scheduler.Host{Name: "small"}, Weight: 0}},
		},
		{
			name: "allocation ratio 1: the other host is freer",
			// At RAM ratio 1: big 1000-500=500, small 600 -> small first.
			hosts: []scheduler.Host{host("small", ram(600, 0)), host("big", ram(1000, 500))},
			cfg:   scheduler.Config{RAMAllocationRatio: 1, RAMWeightMultiplier: 1},
			want:  []scheduler.Weighed{{Host: scheduler.Host{Name: "small"}, Weight: 1}, {Host: scheduler.Host{Name: "big"}, Weight: 0}},
		},
		{
			name: "overcommitted hosts weigh below the rest",
			// Free RAM at 1.5: over 1536-2000=-464, ok 1536.
			hosts: []scheduler.Host{host("over", ram(1024, 2000)), host("ok", ram(1024, 0))},
			cfg:   scheduler.DefaultConfig(),
			want:  []scheduler.Weighed{{Host: scheduler.Host{Name: "ok"}, Weight: 1}, {Host: scheduler.Host{Name: "over"}, Weight: 0}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := scheduler.Weigh(c.hosts, small, c.cfg)
			if len(got) != len(c.want) {
				t.Fatalf("got %d hosts, want %d", len(got), len(c.want))
			}
			for i, w := range c.want {
				if got[i].Host.Name != w.Host.Name || math.Abs(got[i].Weight-w.Weight) > 1e-12 {
					t.Errorf("[%d]: got %s=%v, want %s=%v (all: %v)", i, got[i].Host.Name, got[i].Weight, w.Host.Name, w.Weight, weights(got))
				}
			}
		})
	}
}

func TestWeighExtremesAreExact(t *testing.T) {
	// The freest host must get exactly the multiplier, the fullest exactly 0,
	// whatever the raw values, so that comparisons between hosts are exact.
	hosts := []scheduler.Host{host("a", ram(7, 3)), host("b", ram(1000003, 17)), host("c", ram(333, 1))}
	cfg := scheduler.Config{RAMAllocationRatio: 1.1, RAMWeightMultiplier: 0.3}
	w := weights(scheduler.Weigh(hosts, small, cfg))
	if w["b"] != 0.3 || w["a"] != 0 {
		t.Errorf("got max %v, min %v; want exactly 0.3 and 0", w["b"], w["a"])
	}
}

func TestWeighInput(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		if got := scheduler.Weigh(nil, small, scheduler.DefaultConfig()); len(got) != 0 {
			t.Errorf("got %v, want empty", got)
		}
	})
	t.Run("input not modified", func(t *testing.T) {
		hosts := []scheduler.Host{host("b", ram(1024, 0)), host("a", ram(2048, 0))}
		orig := slices.Clone(hosts)
		got := scheduler.Weigh(hosts, small, scheduler.DefaultConfig())
		if !reflect.DeepEqual(hosts, orig) {
			t.Errorf("input: got %+v, want %+v", hosts, orig)
		}
		got[0].Host.Name = "changed"
		if hosts[0].Name != "b" || hosts[1].Name != "a" {
			t.Errorf("result shares memory with input: got names %q, %q, want %q, %q", hosts[0].Name, hosts[1].Name, "b", "a")
		}
	})
}
