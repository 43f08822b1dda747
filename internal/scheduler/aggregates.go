package scheduler

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The filters that read host aggregates' metadata and flavors' extra
// specs, and the per-host limits (Nova's names and metadata keys).
const (
	ComputeCapabilitiesFilter         = "ComputeCapabilitiesFilter"
	AggregateInstanceExtraSpecsFilter = "AggregateInstanceExtraSpecsFilter"
	AggregateRamFilter                = "AggregateRamFilter"
	AggregateCoreFilter               = "AggregateCoreFilter"
	AggregateDiskFilter               = "AggregateDiskFilter"
	NumInstancesFilter                = "NumInstancesFilter"
	AggregateNumInstancesFilter       = "AggregateNumInstancesFilter"
	IoOpsFilter                       = "IoOpsFilter"
	AggregateIoOpsFilter              = "AggregateIoOpsFilter"
)

// Aggregate metadata keys the filters read.
const (
	KeyCPURatio     = "cpu_allocation_ratio"
	KeyRAMRatio     = "ram_allocation_ratio"
	KeyDiskRatio    = "disk_allocation_ratio"
	KeyMaxInstances = "max_instances_per_host"
	KeyMaxIoOps     = "max_io_ops_per_host"
)

// Nova's defaults of the per-host limits.
const (
	DefaultMaxInstancesPerHost = 50
	DefaultMaxIoOpsPerHost     = 8
)

// aggregateMin is the smallest positive number among the host's
// aggregates' values of key (Nova takes the minimum when a host is in
// several), and whether there was one. Values that are not numbers are
// ignored, as Nova ignores them with a warning.
func aggregateMin(h *Host, key string) (float64, bool) {
	best, ok := 0.0, false
	for _, v := range h.Aggregates[key] {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			continue
		}
		if !ok || f < best {
			best, ok = f, true
		}
	}
	return best, ok
}

// aggregateRules says which filter checks a resource on a host: the
// aggregate's filter when it is enabled and the host's aggregates set the
// key, else the plain one.
func (in *filterInput) aggregateRules(h *Host, aggFilter, key string) (float64, bool) {
	if !in.enabled[aggFilter] {
		return 0, false
	}
	return aggregateMin(h, key)
}

// HostRatios are the allocation ratios that apply to h under cfg: an
// aggregate's, where its filter is enabled and the aggregate sets one,
// else cfg's. A claim on h must use these, so it agrees with the filters.
func HostRatios(h Host, cfg Config) (cpu, ram, disk float64) {
	cfg = cfg.Effective()
	in := filterInput{cfg: cfg, enabled: cfg.enabledSet()}
	cpu, ram, disk = cfg.CPUAllocationRatio, cfg.RAMAllocationRatio, cfg.DiskAllocationRatio
	if r, ok := in.aggregateRules(&h, AggregateCoreFilter, KeyCPURatio); ok {
		cpu = r
	}
	if r, ok := in.aggregateRules(&h, AggregateRamFilter, KeyRAMRatio); ok {
		ram = r
	}
	if r, ok := in.aggregateRules(&h, AggregateDiskFilter, KeyDiskRatio); ok {
		disk = r
	}
	return cpu, ram, disk
}

func checkAggregateRAM(h *Host, in *filterInput) string {
	if r, ok := in.aggregateRules(h, AggregateRamFilter, KeyRAMRatio); ok {
		return withNote(checkCapacity("RAM", "MB", h.MemoryMB, h.MemoryMBUsed, r, in.req.MemoryMB), KeyRAMRatio)
	}
	return ""
}

func checkAggregateCore(h *Host, in *filterInput) string {
	if r, ok := in.aggregateRules(h, AggregateCoreFilter, KeyCPURatio); ok {
		return withNote(checkCapacity("vCPUs", "", h.VCPUs, h.VCPUsUsed, r, in.req.VCPUs), KeyCPURatio)
	}
	return ""
}

func checkAggregateDisk(h *Host, in *filterInput) string {
	if r, ok := in.aggregateRules(h, AggregateDiskFilter, KeyDiskRatio); ok {
		return withNote(checkCapacity("disk", "GB", h.DiskGB, h.DiskGBUsed, r, in.req.DiskGB), KeyDiskRatio)
	}
	return ""
}

// withNote says a refusal was made with an aggregate's value of key.
func withNote(reason, key string) string {
	if reason == "" {
		return ""
	}
	return reason + " (the host's aggregate sets " + key + ")"
}

func checkNumInstances(h *Host, in *filterInput) string {
	if _, ok := in.aggregateRules(h, AggregateNumInstancesFilter, KeyMaxInstances); ok {
		return "" // the aggregate's limit applies
	}
	return checkCount("instances", h.RunningVMs, in.cfg.maxInstances(), "max_instances_per_host")
}

func checkAggregateNumInstances(h *Host, in *filterInput) string {
	if max, ok := in.aggregateRules(h, AggregateNumInstancesFilter, KeyMaxInstances); ok {
		return checkCount("instances", h.RunningVMs, int(max), "the aggregate's "+KeyMaxInstances)
	}
	return ""
}

func checkIoOps(h *Host, in *filterInput) string {
	if _, ok := in.aggregateRules(h, AggregateIoOpsFilter, KeyMaxIoOps); ok {
		return ""
	}
	return checkCount("I/O-heavy operations", h.IoOps, in.cfg.maxIoOps(), "max_io_ops_per_host")
}

func checkAggregateIoOps(h *Host, in *filterInput) string {
	if max, ok := in.aggregateRules(h, AggregateIoOpsFilter, KeyMaxIoOps); ok {
		return checkCount("I/O-heavy operations", h.IoOps, int(max), "the aggregate's "+KeyMaxIoOps)
	}
	return ""
}

func checkCount(what string, n, max int, limit string) string {
	if n < max {
		return ""
	}
	return fmt.Sprintf("host has %d %s, %s is %d", n, what, limit, max)
}

// checkAggregateExtraSpecs: each flavor extra spec scoped
// aggregate_instance_extra_specs: (or not scoped at all) must match a
// value of that key in one of the host's aggregates.
func checkAggregateExtraSpecs(h *Host, in *filterInput) string {
	for _, k := range slices.Sorted(maps.Keys(in.req.ExtraSpecs)) {
		key, ok := strings.CutPrefix(k, "aggregate_instance_extra_specs:")
		if !ok && strings.Contains(k, ":") {
			continue // another scope's
		}
		want := in.req.ExtraSpecs[k]
		vals := h.Aggregates[key]
		if !slices.ContainsFunc(vals, func(v string) bool { return specMatches(v, want) }) {
			if len(vals) == 0 {
				return fmt.Sprintf("flavor extra spec %s=%q: no aggregate of the host sets %s", k, want, key)
			}
			return fmt.Sprintf("flavor extra spec %s=%q does not match the host's aggregates' %s=%q", k, want, key, vals)
		}
	}
	return ""
}

// checkCapabilities: each flavor extra spec scoped capabilities: must
// match what the host reports of itself.
func checkCapabilities(h *Host, in *filterInput) string {
	for _, k := range slices.Sorted(maps.Keys(in.req.ExtraSpecs)) {
		key, ok := strings.CutPrefix(k, "capabilities:")
		if !ok {
			continue
		}
		want := in.req.ExtraSpecs[k]
		have, known := capability(h, key)
		if !known {
			return fmt.Sprintf("flavor extra spec %s: the host has no capability %s", k, key)
		}
		if !specMatches(have, want) {
			return fmt.Sprintf("flavor extra spec %s=%q does not match the host's %s=%q", k, want, key, have)
		}
	}
	return ""
}

// capability is what a host reports of itself under Nova's capability
// names.
func capability(h *Host, key string) (string, bool) {
	switch key {
	case "hypervisor_type":
		return h.HypervisorType, true
	case "cpu_arch", "cpu_info:arch":
		return h.Arch, true
	case "vcpus":
		return strconv.Itoa(h.VCPUs), true
	case "memory_mb":
		return strconv.Itoa(h.MemoryMB), true
	case "local_gb", "disk_gb":
		return strconv.Itoa(h.DiskGB), true
	case "host", "hypervisor_hostname":
		return h.Name, true
	}
	return "", false
}

// specMatches is Nova's extra spec operators (extra_specs_ops): "= n"
// (at least n), "== n", "!= n", ">= n", "<= n" (numbers), "s== x",
// "s!= x", "s>= x", "s> x", "s<= x", "s< x" (strings), "<in> x" (x is a
// substring), "<all-in> a b" (every word among the value's), "<or> a <or>
// b" (any of them); a plain value is string equality, case-insensitive
// as Nova's.
func specMatches(have, want string) bool {
	want = strings.TrimSpace(want)
	op, rest, _ := strings.Cut(want, " ")
	rest = strings.TrimSpace(rest)
	num := func(cmp func(a, b float64) bool) bool {
		a, err1 := strconv.ParseFloat(strings.TrimSpace(have), 64)
		b, err2 := strconv.ParseFloat(rest, 64)
		return err1 == nil && err2 == nil && cmp(a, b)
	}
	switch op {
	case "=":
		return num(func(a, b float64) bool { return a >= b })
	case "==":
		return num(func(a, b float64) bool { return a == b })
	case "!=":
		return num(func(a, b float64) bool { return a != b })
	case ">=":
		return num(func(a, b float64) bool { return a >= b })
	case "<=":
		return num(func(a, b float64) bool { return a <= b })
	case "s==":
		return have == rest
	case "s!=":
		return have != rest
	case "s>=":
		return have >= rest
	case "s>":
		return have > rest
	case "s<=":
		return have <= rest
	case "s<":
		return have < rest
	case "<in>":
		return strings.Contains(have, rest)
	case "<all-in>":
		words := strings.Fields(have)
		for _, w := range strings.Fields(rest) {
			if !slices.Contains(words, w) {
				return false
			}
		}
		return true
	case "<or>":
		for _, alt := range strings.Split(rest, "<or>") {
			if strings.TrimSpace(alt) == strings.TrimSpace(have) {
				return true
			}
		}
		return false
	}
	return strings.EqualFold(strings.TrimSpace(have), want)
}
