package scheduler_test

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/scheduler"
)

// host returns an enabled, up QEMU/x86_64 host in AZ "nova" with 8 vCPUs,
// 16 GiB RAM and 100 GB disk, nothing used, after applying opts.
func host(name string, opts ...func(*scheduler.Host)) scheduler.Host {
	h := scheduler.Host{
		Name: name, AZ: "nova", Enabled: true, Up: true,
		HypervisorType: "QEMU", Arch: "x86_64",
		VCPUs: 8, MemoryMB: 16384, DiskGB: 100,
	}
	for _, o := range opts {
		o(&h)
	}
	return h
}

func disabled(h *scheduler.Host) { h.Enabled = false }
func down(h *scheduler.Host)     { h.Up = false }

func inAZ(az string) func(*scheduler.Host) { return func(h *scheduler.Host) { h.AZ = az } }
func arch(a string) func(*scheduler.Host)  { return func(h *scheduler.Host) { h.Arch = a } }
func hv(t string) func(*scheduler.Host)    { return func(h *scheduler.Host) { h.HypervisorType = t } }

func ram(total, used int) func(*scheduler.Host) {
	return func(h *scheduler.Host) { h.MemoryMB, h.MemoryMBUsed = total, used }
}

func cpus(total, used int) func(*scheduler.Host) {
	return func(h *scheduler.Host) { h.VCPUs, h.VCPUsUsed = total, used }
}

func disk(total, used int) func(*scheduler.Host) {
	return func(h *scheduler.Host) { h.DiskGB, h.DiskGBUsed = total, used }
}

// small is a request every default host satisfies.
var small = scheduler.Request{VCPUs: 1, MemoryMB: 512, DiskGB: 1}

func withProps(kv ...string) scheduler.Request {
	r := small
	r.ImageProps = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		r.ImageProps[kv[i]] = kv[i+1]
	}
	return r
}

func TestFilterNames(t *testing.T) {
	want := []string{
		"IgnoreHostsFilter", "ComputeFilter", "AvailabilityZoneFilter", "ComputeCapabilitiesFilter",
		"ImagePropertiesFilter", "AggregateInstanceExtraSpecsFilter", "RamFilter", "AggregateRamFilter", "CoreFilter",
		"AggregateCoreFilter", "DiskFilter", "AggregateDiskFilter", "NumInstancesFilter", "AggregateNumInstancesFilter",
		"IoOpsFilter", "AggregateIoOpsFilter", "ServerGroupAffinityFilter", "ServerGroupAntiAffinityFilter",
	}
	if got := scheduler.FilterNames(); !slices.Equal(got, want) {
		t.Errorf("FilterNames: got %v, want %v", got, want)
	}
}

func TestDefaultConfig(t *testing.T) {
	want := scheduler.Config{
		CPUAllocationRatio: 16.0, RAMAllocationRatio: 1.5, DiskAllocationRatio: 1.0,
		RAMWeightMultiplier: 1.0, CPUWeightMultiplier: 1.0,
	}
	if got := scheduler.DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultConfig: got %+v, want %+v", got, want)
	}
}

func TestConfigEffective(t *testing.T) {
	def := scheduler.DefaultConfig()
	cases := []struct {
		name string
		cfg  scheduler.Config
		want scheduler.Config
	}{
		{"defaults unchanged", def, def},
		{"zero config: default ratios, multipliers off", scheduler.Config{},
			scheduler.Config{CPUAllocationRatio: 16, RAMAllocationRatio: 1.5, DiskAllocationRatio: 1}},
		{"negative, NaN and infinite ratios: defaults", scheduler.Config{CPUAllocationRatio: -1, RAMAllocationRatio: math.NaN(), DiskAllocationRatio: math.Inf(1)},
			scheduler.Config{CPUAllocationRatio: 16, RAMAllocationRatio: 1.5, DiskAllocationRatio: 1}},
		{"set values kept, negative multipliers too", scheduler.Config{CPUAllocationRatio: 4, RAMAllocationRatio: 1, DiskAllocationRatio: 2, RAMWeightMultiplier: -1, CPUWeightMultiplier: 0.5},
			scheduler.Config{CPUAllocationRatio: 4, RAMAllocationRatio: 1, DiskAllocationRatio: 2, RAMWeightMultiplier: -1, CPUWeightMultiplier: 0.5}},
		{"non-finite multipliers: zero", scheduler.Config{RAMWeightMultiplier: math.NaN(), CPUWeightMultiplier: math.Inf(-1)},
			scheduler.Config{CPUAllocationRatio: 16, RAMAllocationRatio: 1.5, DiskAllocationRatio: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.cfg.Effective(); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Effective: got %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestFilterEachFilter runs one host through the chain and checks whether
// it passes or which filter rejects it, and that the reason says why.
func TestFilterEachFilter(t *testing.T) {
	def := scheduler.DefaultConfig()
	cases := []struct {
		name       string
		host       scheduler.Host
		req        scheduler.Request
		cfg        scheduler.Config
		wantFilter string // "" = the host passes
		wantReason string // substring of Rejection.Reason
	}{
		// IgnoreHostsFilter
		{"ignore: host was tried", host("c1"), scheduler.Request{IgnoreHosts: []string{"c0", "c1"}}, def,
			"IgnoreHostsFilter", "already tried"},
		{"ignore: other hosts were tried", host("c1"), scheduler.Request{IgnoreHosts: []string{"c0", "c2"}}, def, "", ""},
		{"ignore: names match exactly", host("c1"), scheduler.Request{IgnoreHosts: []string{"C1", "c10"}}, def, "", ""},

		// ComputeFilter
		{"compute: enabled and up", host("c1"), small, def, "", ""},
		{"compute: disabled", host("c1", disabled), small, def, "ComputeFilter", "disabled"},
		{"compute: down", host("c1", down), small, def, "ComputeFilter", "down"},
		{"compute: disabled and down", host("c1", disabled, down), small, def, "ComputeFilter", "disabled and down"},

		// AvailabilityZoneFilter
		{"az: any zone requested", host("c1", inAZ("az9")), small, def, "", ""},
		{"az: same zone", host("c1", inAZ("az1")), scheduler.Request{AZ: "az1"}, def, "", ""},
		{"az: other zone", host("c1", inAZ("az2")), scheduler.Request{AZ: "az1"}, def,
			"AvailabilityZoneFilter", `"az2", not the requested "az1"`},
		{"az: zone names are case-sensitive", host("c1", inAZ("AZ1")), scheduler.Request{AZ: "az1"}, def,
			"AvailabilityZoneFilter", "az1"},

		// ImagePropertiesFilter
		{"image: no properties", host("c1"), small, def, "", ""},
		{"image: unrelated properties", host("c1"), withProps("hw_disk_bus", "virtio", "os_distro", "ubuntu"), def, "", ""},
		{"image: arch matches", host("c1"), withProps("hw_architecture", "x86_64"), def, "", ""},
		{"image: arch matches case-insensitively", host("c1"), withProps("hw_architecture", "X86_64"), def, "", ""},
		{"image: amd64 is x86_64", host("c1"), withProps("hw_architecture", "amd64"), def, "", ""},
		{"image: host reporting AMD64 is x86_64", host("c1", arch("AMD64")), withProps("hw_architecture", "x86_64"), def, "", ""},
		{"image: arch differs", host("c1"), withProps("hw_architecture", "aarch64"), def,
			"ImagePropertiesFilter", `hw_architecture="aarch64" does not match host architecture "x86_64"`},
		{"image: legacy architecture matches", host("c1"), withProps("architecture", "x86_64"), def, "", ""},
		{"image: legacy architecture differs", host("c1"), withProps("architecture", "ppc64le"), def,
			"ImagePropertiesFilter", `architecture="ppc64le"`},
		{"image: hw_architecture wins over legacy", host("c1"), withProps("hw_architecture", "aarch64", "architecture", "x86_64"), def,
			"ImagePropertiesFilter", "hw_architecture"},
		{"image: blank hw_architecture falls back to legacy", host("c1"), withProps("hw_architecture", "", "architecture", "aarch64"), def,
			"ImagePropertiesFilter", `architecture="aarch64"`},
		{"image: host without arch", host("c1", arch("")), withProps("hw_architecture", "x86_64"), def,
			"ImagePropertiesFilter", "host architecture"},
		{"image: hv qemu on QEMU", host("c1"), withProps("img_hv_type", "qemu"), def, "", ""},
		{"image: hv kvm on QEMU", host("c1"), withProps("img_hv_type", "kvm"), def, "", ""},
		{"image: hv KVM on QEMU", host("c1"), withProps("img_hv_type", "KVM"), def, "", ""},
		{"image: hv test on Test", host("c1", hv("Test")), withProps("img_hv_type", "test"), def, "", ""},
		{"image: hv kvm on Test", host("c1", hv("Test")), withProps("img_hv_type", "kvm"), def,
			"ImagePropertiesFilter", `img_hv_type="kvm" does not match host hypervisor type "Test"`},
		{"image: legacy hypervisor_type matches", host("c1"), withProps("hypervisor_type", "QEMU"), def, "", ""},
		{"image: legacy hypervisor_type differs", host("c1"), withProps("hypervisor_type", "xen"), def,
			"ImagePropertiesFilter", `hypervisor_type="xen"`},
		{"image: arch and hv both match", host("c1"), withProps("hw_architecture", "x86_64", "img_hv_type", "kvm"), def, "", ""},
		{"image: arch matches, hv differs", host("c1"), withProps("hw_architecture", "x86_64", "img_hv_type", "vmware"), def,
			"ImagePropertiesFilter", "img_hv_type"},

		// RamFilter: 1024 MB * 1.5 = 1536 MB usable.
		{"ram: exact fit with ratio", host("c1", ram(1024, 0)), scheduler.Request{MemoryMB: 1536}, def, "", ""},
		{"ram: one MB over", host("c1", ram(1024, 0)), scheduler.Request{MemoryMB: 1537}, def,
			"RamFilter", "free RAM 1536 MB (1024 MB * 1.5 allocation ratio - 0 MB used) is less than the requested 1537 MB"},
		{"ram: used counted", host("c1", ram(1024, 1000)), scheduler.Request{MemoryMB: 600}, def,
			"RamFilter", "free RAM 536 MB"},
		{"ram: ratio 1.0 from config", host("c1", ram(1024, 0)), scheduler.Request{MemoryMB: 1536},
			scheduler.Config{RAMAllocationRatio: 1.0}, "RamFilter", "1 allocation ratio"},
		{"ram: overcommitted host fails an empty request", host("c1", ram(1024, 2000)), scheduler.Request{}, def,
			"RamFilter", "free RAM -464 MB"},

		// CoreFilter: 8 vCPUs * 16 = 128 usable.
		{"core: exact fit with ratio", host("c1", cpus(8, 120)), scheduler.Request{VCPUs: 8}, def, "", ""},
		{"core: one over", host("c1", cpus(8, 120)), scheduler.Request{VCPUs: 9}, def,
			"CoreFilter", "free vCPUs 8 (8 * 16 allocation ratio - 120 used) is less than the requested 9"},
		{"core: ratio 1.0 from config", host("c1", cpus(8, 0)), scheduler.Request{VCPUs: 9},
			scheduler.Config{CPUAllocationRatio: 1.0}, "CoreFilter", "free vCPUs 8"},
		{"core: ratio 2.0 from config", host("c1", cpus(8, 0)), scheduler.Request{VCPUs: 16},
			scheduler.Config{CPUAllocationRatio: 2.0}, "", ""},

		// DiskFilter: 100 GB * 1.0.
		{"disk: exact fit", host("c1", disk(100, 60)), scheduler.Request{DiskGB: 40}, def, "", ""},
		{"disk: one over", host("c1", disk(100, 60)), scheduler.Request{DiskGB: 41}, def,
			"DiskFilter", "free disk 40 GB (100 GB * 1 allocation ratio - 60 GB used) is less than the requested 41 GB"},
		{"disk: ratio 2.0 from config", host("c1", disk(100, 60)), scheduler.Request{DiskGB: 140},
			scheduler.Config{DiskAllocationRatio: 2.0}, "", ""},

		// Unusable ratios fall back to Nova's defaults (16, 1.5, 1.0).
		{"zero config: cpu ratio 16", host("c1", cpus(1, 0)), scheduler.Request{VCPUs: 16}, scheduler.Config{}, "", ""},
		{"zero config: cpu ratio 16 is the limit", host("c1", cpus(1, 0)), scheduler.Request{VCPUs: 17}, scheduler.Config{}, "CoreFilter", "16 allocation ratio"},
		{"zero config: ram ratio 1.5", host("c1", ram(1000, 0)), scheduler.Request{MemoryMB: 1500}, scheduler.Config{}, "", ""},
		{"zero config: disk ratio 1.0", host("c1", disk(10, 0)), scheduler.Request{DiskGB: 11}, scheduler.Config{}, "DiskFilter", "1 allocation ratio"},
		{"negative ratios: defaults", host("c1", ram(1000, 0)), scheduler.Request{MemoryMB: 1501},
			scheduler.Config{RAMAllocationRatio: -3}, "RamFilter", "1.5 allocation ratio"},
		{"NaN ratio: default", host("c1", cpus(1, 0)), scheduler.Request{VCPUs: 16},
			scheduler.Config{CPUAllocationRatio: math.NaN()}, "", ""},
		{"infinite ratio: default", host("c1", disk(10, 0)), scheduler.Request{DiskGB: 11},
			scheduler.Config{DiskAllocationRatio: math.Inf(1)}, "DiskFilter", "1 allocation ratio"},

		// A host stops at the first filter that rejects it.
		{"order: ignored beats disabled", host("c1", disabled), scheduler.Request{IgnoreHosts: []string{"c1"}}, def, "IgnoreHostsFilter", ""},
		{"order: disabled beats wrong zone", host("c1", disabled, inAZ("b")), scheduler.Request{AZ: "a"}, def, "ComputeFilter", ""},
		{"order: wrong zone beats wrong arch", host("c1", inAZ("b")), func() scheduler.Request {
			r := withProps("hw_architecture", "aarch64")
			r.AZ = "a"
			return r
		}(), def, "AvailabilityZoneFilter", ""},
		{"order: wrong arch beats no RAM", host("c1", ram(1, 1)), func() scheduler.Request {
			r := withProps("hw_architecture", "aarch64")
			r.MemoryMB = 10
			return r
		}(), def, "ImagePropertiesFilter", ""},
		{"order: RAM before cores and disk", host("c1", ram(1, 1), cpus(1, 16), disk(1, 1)),
			scheduler.Request{VCPUs: 1, MemoryMB: 1, DiskGB: 1}, def, "RamFilter", ""},
		{"order: cores before disk", host("c1", cpus(1, 16), disk(1, 1)),
			scheduler.Request{VCPUs: 1, DiskGB: 1}, def, "CoreFilter", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			passed, rejected := scheduler.Filter([]scheduler.Host{c.host}, c.req, c.cfg)
			if c.wantFilter == "" {
				if len(passed) != 1 || !reflect.DeepEqual(passed[0], c.host) || len(rejected) != 0 {
					t.Fatalf("got passed %v, rejected %+v; want the host to pass", passed, rejected)
				}
				return
			}
			if len(passed) != 0 || len(rejected) != 1 {
				t.Fatalf("got passed %v, rejected %+v; want one rejection by %s", passed, rejected, c.wantFilter)
			}
			r := rejected[0]
			if r.Host != c.host.Name {
				t.Errorf("Rejection.Host: got %q, want %q", r.Host, c.host.Name)
			}
			if r.Filter != c.wantFilter {
				t.Errorf("Rejection.Filter: got %q, want %q (reason %q)", r.Filter, c.wantFilter, r.Reason)
			}
			if r.Reason == "" || !strings.Contains(r.Reason, c.wantReason) {
				t.Errorf("Rejection.Reason: got %q, want it to contain %q", r.Reason, c.wantReason)
			}
		})
	}
}

func TestFilterKeepsOrderAndInput(t *testing.T) {
	hosts := []scheduler.Host{
		host("e", ram(1024, 1024)),
		host("d"),
		host("c", disabled),
		host("b"),
		host("a", inAZ("other")),
	}
	orig := slices.Clone(hosts)
	req := scheduler.Request{VCPUs: 1, MemoryMB: 1024, DiskGB: 1, AZ: "nova"}

	passed, rejected := scheduler.Filter(hosts, req, scheduler.DefaultConfig())

	var gotPassed []string
	for _, h := range passed {
		gotPassed = append(gotPassed, h.Name)
	}
	if want := []string{"d", "b"}; !slices.Equal(gotPassed, want) {
		t.Errorf("passed: got %v, want %v", gotPassed, want)
	}
	wantRejected := []scheduler.Rejection{{Host: "e", Filter: "RamFilter"}, {Host: "c", Filter: "ComputeFilter"}, {Host: "a", Filter: "AvailabilityZoneFilter"}}
	if len(rejected) != len(wantRejected) {
		t.Fatalf("rejected: got %+v, want %+v", rejected, wantRejected)
	}
	for i, w := range wantRejected {
		if rejected[i].Host != w.Host || rejected[i].Filter != w.Filter {
			t.Errorf("rejected[%d]: got %s by %s, want %s by %s", i, rejected[i].Host, rejected[i].Filter, w.Host, w.Filter)
		}
	}
	if !reflect.DeepEqual(hosts, orig) {
		t.Errorf("input modified: got %+v, want %+v", hosts, orig)
	}
	passed[0].Name = "changed"
	if hosts[1].Name != "d" {
		t.Errorf("result shares memory with input: hosts[1].Name got %q, want %q", hosts[1].Name, "d")
	}
}

func TestFilterEmpty(t *testing.T) {
	passed, rejected := scheduler.Filter(nil, small, scheduler.DefaultConfig())
	if len(passed) != 0 || len(rejected) != 0 {
		t.Errorf("got passed %v, rejected %v; want both empty", passed, rejected)
	}
}

// TestServerGroupFilters: affinity keeps a member to its group's host,
// anti-affinity off every host a member is on, and a group with no member
// placed yet goes anywhere; the soft forms only reorder.
func TestServerGroupFilters(t *testing.T) {
	hosts := []scheduler.Host{host("a"), host("b"), host("c")}
	names := func(hs []scheduler.Host) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.Name)
		}
		slices.Sort(out)
		return out
	}
	cases := []struct {
		policy string
		on     []string
		want   []string
		filter string
	}{
		{scheduler.PolicyAffinity, nil, []string{"a", "b", "c"}, ""},
		{scheduler.PolicyAffinity, []string{"b", "b"}, []string{"b"}, scheduler.ServerGroupAffinityFilter},
		{scheduler.PolicyAntiAffinity, []string{"a", "c"}, []string{"b"}, scheduler.ServerGroupAntiAffinityFilter},
		{scheduler.PolicyAntiAffinity, []string{"a", "b", "c"}, nil, scheduler.ServerGroupAntiAffinityFilter},
		{scheduler.PolicySoftAntiAffinity, []string{"a", "b", "c"}, []string{"a", "b", "c"}, ""},
	}
	for _, c := range cases {
		req := scheduler.Request{VCPUs: 1, MemoryMB: 512, GroupPolicy: c.policy, GroupHosts: c.on}
		passed, rejected := scheduler.Filter(hosts, req, scheduler.DefaultConfig())
		if got := names(passed); !slices.Equal(got, c.want) {
			t.Errorf("%s with members on %v: passed %v, want %v", c.policy, c.on, got, c.want)
		}
		for _, r := range rejected {
			if r.Filter != c.filter {
				t.Errorf("%s: %s rejected by %s, want %s", c.policy, r.Host, r.Filter, c.filter)
			}
		}
	}
	// Soft: equal hosts, so the members decide the order.
	for policy, first := range map[string]string{scheduler.PolicySoftAffinity: "c", scheduler.PolicySoftAntiAffinity: "a"} {
		req := scheduler.Request{VCPUs: 1, MemoryMB: 512, GroupPolicy: policy, GroupHosts: []string{"c", "c", "b"}}
		placed, err := scheduler.Place(hosts, req, scheduler.DefaultConfig())
		if err != nil || placed[0].Name != first {
			t.Errorf("%s: first %v (%v), want %s", policy, placed, err, first)
		}
	}
}
