package scheduler_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/scheduler"
)

func agg(kv ...string) func(*scheduler.Host) {
	return func(h *scheduler.Host) {
		if h.Aggregates == nil {
			h.Aggregates = map[string][]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Aggregates[kv[i]] = append(h.Aggregates[kv[i]], kv[i+1])
		}
	}
}

// rejectedBy places req on hosts under cfg and returns, per host, the
// filter that rejected it ("" passed).
func rejectedBy(t *testing.T, hosts []scheduler.Host, req scheduler.Request, cfg scheduler.Config) map[string]string {
	t.Helper()
	passed, rejected := scheduler.Filter(hosts, req, cfg)
	out := map[string]string{}
	for _, h := range passed {
		out[h.Name] = ""
	}
	for _, r := range rejected {
		out[r.Host] = r.Filter
	}
	return out
}

// TestAggregateFilters: each aggregate filter refuses by the aggregate's
// metadata, and names itself; the plain filter defers to it for a host
// whose aggregate sets the key, and applies again when the aggregate
// filter is not enabled.
func TestAggregateFilters(t *testing.T) {
	cfg := scheduler.DefaultConfig()
	// 8 vCPUs * 16 = 128 by default; an aggregate ratio of 1.0 leaves 8.
	busy := host("tight", cpus(8, 8), agg(scheduler.KeyCPURatio, "1.0"))
	plain := host("plain", cpus(8, 8))
	got := rejectedBy(t, []scheduler.Host{busy, plain}, small, cfg)
	if got["tight"] != "AggregateCoreFilter" || got["plain"] != "" {
		t.Errorf("cpu ratio from the aggregate: %v", got)
	}
	onlyPlain := cfg
	onlyPlain.EnabledFilters = []string{"ComputeFilter", "CoreFilter"}
	if got := rejectedBy(t, []scheduler.Host{busy}, small, onlyPlain); got["tight"] != "" {
		t.Errorf("AggregateCoreFilter off: the configured ratio applies, got %v", got)
	}
	if cpu, _, _ := scheduler.HostRatios(busy, cfg); cpu != 1.0 {
		t.Errorf("HostRatios cpu %v, want the aggregate's 1.0", cpu)
	}
	if cpu, _, _ := scheduler.HostRatios(busy, onlyPlain); cpu != 16 {
		t.Errorf("HostRatios with AggregateCoreFilter off: cpu %v, want 16", cpu)
	}
	// Two aggregates: the smaller ratio; a value that is no number is ignored.
	two := host("two", ram(1000, 900), agg(scheduler.KeyRAMRatio, "2.0", scheduler.KeyRAMRatio, "1.0",
		scheduler.KeyDiskRatio, "lots"))
	if got := rejectedBy(t, []scheduler.Host{two}, small, cfg); got["two"] != "AggregateRamFilter" {
		t.Errorf("the smaller of two aggregates' ram ratios: %v", got)
	}

	full := host("full", func(h *scheduler.Host) { h.RunningVMs = 3 }, agg(scheduler.KeyMaxInstances, "3"))
	roomy := host("roomy", func(h *scheduler.Host) { h.RunningVMs = 3 })
	many := host("many", func(h *scheduler.Host) { h.RunningVMs = 50 })
	got = rejectedBy(t, []scheduler.Host{full, roomy, many}, small, cfg)
	if got["full"] != "AggregateNumInstancesFilter" || got["roomy"] != "" || got["many"] != "NumInstancesFilter" {
		t.Errorf("instance limits: %v", got)
	}
	limited := cfg
	limited.MaxIoOpsPerHost = 2
	ioBusy := host("io", func(h *scheduler.Host) { h.IoOps = 2 })
	ioAgg := host("ioagg", func(h *scheduler.Host) { h.IoOps = 2 }, agg(scheduler.KeyMaxIoOps, "5"))
	got = rejectedBy(t, []scheduler.Host{ioBusy, ioAgg}, small, limited)
	if got["io"] != "IoOpsFilter" || got["ioagg"] != "" {
		t.Errorf("I/O limits: %v", got)
	}
}

// TestExtraSpecFilters: AggregateInstanceExtraSpecsFilter matches scoped
// and unscoped extra specs against aggregate metadata (with Nova's
// operators); ComputeCapabilitiesFilter against what the host reports.
func TestExtraSpecFilters(t *testing.T) {
	cfg := scheduler.DefaultConfig()
	ssd := host("ssd", agg("disk", "ssd"), cpus(16, 0))
	hdd := host("hdd", agg("disk", "hdd"))
	none := host("none")
	req := small
	req.ExtraSpecs = map[string]string{"aggregate_instance_extra_specs:disk": "ssd", "hw:cpu_policy": "shared"}
	got := rejectedBy(t, []scheduler.Host{ssd, hdd, none}, req, cfg)
	if got["ssd"] != "" || got["hdd"] != "AggregateInstanceExtraSpecsFilter" || got["none"] != "AggregateInstanceExtraSpecsFilter" {
		t.Errorf("scoped extra spec: %v", got)
	}
	req.ExtraSpecs = map[string]string{"disk": "<or> ssd <or> nvme"}
	if got := rejectedBy(t, []scheduler.Host{ssd, hdd}, req, cfg); got["ssd"] != "" || got["hdd"] == "" {
		t.Errorf("unscoped <or>: %v", got)
	}
	req.ExtraSpecs = map[string]string{"capabilities:vcpus": ">= 12", "capabilities:hypervisor_type": "qemu"}
	if got := rejectedBy(t, []scheduler.Host{ssd, hdd}, req, cfg); got["ssd"] != "" || got["hdd"] != "ComputeCapabilitiesFilter" {
		t.Errorf("capabilities: %v", got)
	}
	req.ExtraSpecs = map[string]string{"capabilities:gpu": "yes"}
	_, err := scheduler.Place([]scheduler.Host{ssd}, req, cfg)
	var nv *scheduler.NoValidHostError
	if !errors.As(err, &nv) || !strings.Contains(err.Error(), "ComputeCapabilitiesFilter: 1") || !strings.Contains(err.Error(), "no capability gpu") {
		t.Errorf("an unknown capability: %v", err)
	}
}

func TestCheckFilterNames(t *testing.T) {
	if err := scheduler.CheckFilterNames([]string{"RamFilter", "AggregateIoOpsFilter"}); err != nil {
		t.Error(err)
	}
	if err := scheduler.CheckFilterNames([]string{"RamFilter", "NoSuchFilter"}); err == nil || !strings.Contains(err.Error(), "NoSuchFilter") {
		t.Errorf("an unknown filter: %v", err)
	}
}
