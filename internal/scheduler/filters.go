package scheduler

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Rejection says which filter rejected a host.
type Rejection struct {
	Host   string // Host.Name of the rejected host
	Filter string // the filter that rejected it, one of the filter name constants
	Reason string // why, in lowercase English, with the numbers involved
}

// Filter names, as used in Rejection.Filter, in the order the filters run.
const (
	IgnoreHostsFilter      = "IgnoreHostsFilter"
	ComputeFilter          = "ComputeFilter"
	AvailabilityZoneFilter = "AvailabilityZoneFilter"
	ImagePropertiesFilter  = "ImagePropertiesFilter"
	RamFilter              = "RamFilter"
	CoreFilter             = "CoreFilter"
	DiskFilter             = "DiskFilter"
	// ServerGroupAffinityFilter keeps an affinity group's member on the
	// host its other members are on; ServerGroupAntiAffinityFilter off
	// every host one of them is on.
	ServerGroupAffinityFilter     = "ServerGroupAffinityFilter"
	ServerGroupAntiAffinityFilter = "ServerGroupAntiAffinityFilter"
)

// Server group policies (Nova's).
const (
	PolicyAffinity         = "affinity"
	PolicyAntiAffinity     = "anti-affinity"
	PolicySoftAffinity     = "soft-affinity"
	PolicySoftAntiAffinity = "soft-anti-affinity"
)

// Image property keys ImagePropertiesFilter looks at. When both the current
// and the legacy key are set, the current one wins.
const (
	PropArchitecture         = "hw_architecture"
	PropArchitectureLegacy   = "architecture"
	PropHypervisorType       = "img_hv_type"
	PropHypervisorTypeLegacy = "hypervisor_type"
)

// filterInput is what every filter sees besides the host.
type filterInput struct {
	req     *Request
	cfg     Config // effective
	ignore  map[string]struct{}
	enabled map[string]bool // the filters that run
}

// filter is one step of the chain: check returns "" when the host passes,
// otherwise the reason it does not.
type filter struct {
	name  string
	check func(h *Host, in *filterInput) string
}

// filters is the chain, in order. Which run is configuration
// (Config.EnabledFilters, Nova's enabled_filters); IgnoreHostsFilter
// always runs (it carries rescheduling and a move's source, not policy).
var filters = [...]filter{
	{IgnoreHostsFilter, checkIgnoreHosts},
	{ComputeFilter, checkCompute},
	{AvailabilityZoneFilter, checkAvailabilityZone},
	{ComputeCapabilitiesFilter, checkCapabilities},
	{ImagePropertiesFilter, checkImageProperties},
	{AggregateInstanceExtraSpecsFilter, checkAggregateExtraSpecs},
	{RamFilter, checkRAM},
	{AggregateRamFilter, checkAggregateRAM},
	{CoreFilter, checkCore},
	{AggregateCoreFilter, checkAggregateCore},
	{DiskFilter, checkDisk},
	{AggregateDiskFilter, checkAggregateDisk},
	{NumInstancesFilter, checkNumInstances},
	{AggregateNumInstancesFilter, checkAggregateNumInstances},
	{IoOpsFilter, checkIoOps},
	{AggregateIoOpsFilter, checkAggregateIoOps},
	{ServerGroupAffinityFilter, checkGroupAffinity},
	{ServerGroupAntiAffinityFilter, checkGroupAntiAffinity},
}

// CheckFilterNames refuses names that are not filters (a configuration
// error, found at start).
func CheckFilterNames(names []string) error {
	for _, n := range names {
		if filterRank(n) == len(filters) {
			return fmt.Errorf("unknown scheduler filter %q (known: %s)", n, strings.Join(FilterNames(), ", "))
		}
	}
	return nil
}

// FilterNames returns the names of the filters in the order they run.
func FilterNames() []string {
	names := make([]string, len(filters))
	for i, f := range filters {
		names[i] = f.name
	}
	return names
}

// filterRank orders filter names as the chain does; unknown names sort last.
func filterRank(name string) int {
	for i, f := range filters {
		if f.name == name {
			return i
		}
	}
	return len(filters)
}

// Filter returns the hosts that pass every filter, in input order, and why the
// others failed.
//
// Filters run in the order of FilterNames and a host stops at the first one
// that rejects it, so every input host appears exactly once: either among the
// returned hosts or in one Rejection (also in input order). The input slice is
// not modified and the result does not share memory with it.
func Filter(hosts []Host, req Request, cfg Config) ([]Host, []Rejection) {
	in := filterInput{req: &req, cfg: cfg.Effective()}
	in.enabled = in.cfg.enabledSet()
	if len(req.IgnoreHosts) > 0 {
		in.ignore = make(map[string]struct{}, len(req.IgnoreHosts))
		for _, name := range req.IgnoreHosts {
			in.ignore[name] = struct{}{}
		}
	}

	var passed []Host
	var rejected []Rejection
hosts:
	for i := range hosts {
		h := &hosts[i]
		for _, f := range filters {
			if !in.enabled[f.name] {
				continue
			}
			if reason := f.check(h, &in); reason != "" {
				rejected = append(rejected, Rejection{Host: h.Name, Filter: f.name, Reason: reason})
				continue hosts
			}
		}
		passed = append(passed, *h)
	}
	return passed, rejected
}

func checkGroupAffinity(h *Host, in *filterInput) string {
	if in.req.GroupPolicy != PolicyAffinity || len(in.req.GroupHosts) == 0 || slices.Contains(in.req.GroupHosts, h.Name) {
		return ""
	}
	return "the server group's policy is affinity and its members are on " + strings.Join(uniq(in.req.GroupHosts), ", ")
}

func checkGroupAntiAffinity(h *Host, in *filterInput) string {
	if in.req.GroupPolicy != PolicyAntiAffinity || !slices.Contains(in.req.GroupHosts, h.Name) {
		return ""
	}
	return "the server group's policy is anti-affinity and a member is on this host"
}

func uniq(xs []string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Compact(out)
}

func checkIgnoreHosts(h *Host, in *filterInput) string {
	if _, ok := in.ignore[h.Name]; ok {
		return "host was already tried for this request, or is where the instance moves from"
	}
	if in.req.OnlyHost != "" && h.Name != in.req.OnlyHost {
		return "the request names host " + in.req.OnlyHost
	}
	return ""
}

func checkCompute(h *Host, _ *filterInput) string {
	switch {
	case !h.Enabled && !h.Up:
		return "compute service is disabled and down"
	case !h.Enabled:
		return "compute service is disabled"
	case !h.Up:
		return "compute service is down"
	}
	return ""
}

func checkAvailabilityZone(h *Host, in *filterInput) string {
	if in.req.AZ != "" && h.AZ != in.req.AZ {
		return fmt.Sprintf("host is in availability zone %q, not the requested %q", h.AZ, in.req.AZ)
	}
	return ""
}

func checkImageProperties(h *Host, in *filterInput) string {
	if want, key := imageProp(in.req.ImageProps, PropArchitecture, PropArchitectureLegacy); want != "" {
		if canonicalArch(want) != canonicalArch(h.Arch) {
			return fmt.Sprintf("image property %s=%q does not match host architecture %q", key, want, h.Arch)
		}
	}
	if want, key := imageProp(in.req.ImageProps, PropHypervisorType, PropHypervisorTypeLegacy); want != "" {
		if canonicalHVType(want) != canonicalHVType(h.HypervisorType) {
			return fmt.Sprintf("image property %s=%q does not match host hypervisor type %q", key, want, h.HypervisorType)
		}
	}
	return ""
}

// imageProp returns the value of key, or of legacy when key is unset or
// blank, and the key it came from; "" when neither is set.
func imageProp(props map[string]string, key, legacy string) (value, from string) {
	if v := strings.TrimSpace(props[key]); v != "" {
		return v, key
	}
	if v := strings.TrimSpace(props[legacy]); v != "" {
		return v, legacy
	}
	return "", ""
}

// canonicalArch folds case and maps "amd64" to "x86_64", as Nova's
// architecture canonicalisation does.
func canonicalArch(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "amd64" {
		return "x86_64"
	}
	return s
}

// canonicalHVType folds case and treats "kvm" and "qemu" as one type: both
// run on a libvirt/QEMU host, which reports itself as "QEMU".
func canonicalHVType(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "kvm" {
		return "qemu"
	}
	return s
}

// RamFilter, CoreFilter and DiskFilter use the configured ratio, but for
// a host whose aggregate sets one while the aggregate's filter runs: that
// filter checks it instead.
func checkRAM(h *Host, in *filterInput) string {
	if _, ok := in.aggregateRules(h, AggregateRamFilter, KeyRAMRatio); ok {
		return ""
	}
	return checkCapacity("RAM", "MB", h.MemoryMB, h.MemoryMBUsed, in.cfg.RAMAllocationRatio, in.req.MemoryMB)
}

func checkCore(h *Host, in *filterInput) string {
	if _, ok := in.aggregateRules(h, AggregateCoreFilter, KeyCPURatio); ok {
		return ""
	}
	return checkCapacity("vCPUs", "", h.VCPUs, h.VCPUsUsed, in.cfg.CPUAllocationRatio, in.req.VCPUs)
}

func checkDisk(h *Host, in *filterInput) string {
	if _, ok := in.aggregateRules(h, AggregateDiskFilter, KeyDiskRatio); ok {
		return ""
	}
	return checkCapacity("disk", "GB", h.DiskGB, h.DiskGBUsed, in.cfg.DiskAllocationRatio, in.req.DiskGB)
}

// checkCapacity passes when total*ratio - used >= requested; it is the shared
// body of RamFilter, CoreFilter and DiskFilter.
func checkCapacity(what, unit string, total, used int, ratio float64, requested int) string {
	left := free(total, used, ratio)
	if left >= float64(requested) {
		return ""
	}
	u := ""
	if unit != "" {
		u = " " + unit
	}
	return fmt.Sprintf("free %s %s%s (%d%s * %s allocation ratio - %d%s used) is less than the requested %d%s",
		what, formatFloat(left), u, total, u, formatFloat(ratio), used, u, requested, u)
}

func formatFloat(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}
