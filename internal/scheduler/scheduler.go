package scheduler

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Host is one compute host as the scheduler sees it.
//
// VCPUs, MemoryMB and DiskGB are physical capacity, before allocation ratios;
// the *Used fields are what instances on the host have claimed.
type Host struct {
	Name           string // unique host name, e.g. "compute-1"
	AZ             string // availability zone
	Enabled        bool   // the compute service is not disabled by an admin
	Up             bool   // heard from within the liveness window
	HypervisorType string // e.g. "QEMU", "Test"
	Arch           string // e.g. "x86_64"
	VCPUs          int
	VCPUsUsed      int
	MemoryMB       int
	MemoryMBUsed   int
	DiskGB         int
	DiskGBUsed     int
	RunningVMs     int // instances holding a claim on the host (NumInstancesFilter)
	IoOps          int // instances in an I/O-heavy task on the host (IoOpsFilter)
	// Aggregates is every value each metadata key has in the host's
	// aggregates (the aggregate filters read them).
	Aggregates map[string][]string
}

// Request is what one instance needs.
type Request struct {
	// VCPUs, MemoryMB and DiskGB come from the flavor.
	VCPUs       int
	MemoryMB    int
	DiskGB      int
	AZ          string            // "" = any
	ImageProps  map[string]string // image properties, e.g. hw_architecture, img_hv_type
	IgnoreHosts []string          // hosts already tried (rescheduling), or a move's source
	// OnlyHost is the one host an admin named (a migration's target).
	OnlyHost string
	// ExtraSpecs are the flavor's (ComputeCapabilitiesFilter,
	// AggregateInstanceExtraSpecsFilter).
	ExtraSpecs map[string]string
	// GroupPolicy is the policy of the server group the instance belongs
	// to ("" for none); GroupHosts the hosts of its other members, once
	// per member.
	GroupPolicy string
	GroupHosts  []string
}

// Config holds allocation ratios and weigher multipliers (Nova's defaults:
// cpu 16.0, ram 1.5, disk 1.0; ram and cpu weight multipliers 1.0 — positive
// spreads, negative stacks).
//
// An allocation ratio that is zero, negative, NaN or infinite is replaced by
// its default, so a zero Config filters like DefaultConfig. A multiplier of
// zero is meaningful (it switches that weigher off), so multipliers are used
// as given; only NaN or infinite multipliers are treated as zero.
type Config struct {
	CPUAllocationRatio  float64
	RAMAllocationRatio  float64
	DiskAllocationRatio float64
	RAMWeightMultiplier float64
	CPUWeightMultiplier float64
	// EnabledFilters are the filters that run (nil: all of them), Nova's
	// enabled_filters; MaxInstancesPerHost and MaxIoOpsPerHost are the
	// limits of NumInstancesFilter and IoOpsFilter (0: Nova's 50 and 8).
	EnabledFilters      []string
	MaxInstancesPerHost int
	MaxIoOpsPerHost     int
}

// enabledSet is the set of filters that run.
func (cfg Config) enabledSet() map[string]bool {
	on := map[string]bool{IgnoreHostsFilter: true}
	for _, f := range filters {
		if cfg.EnabledFilters == nil || slices.Contains(cfg.EnabledFilters, f.name) {
			on[f.name] = true
		}
	}
	return on
}

func (cfg Config) maxInstances() int {
	if cfg.MaxInstancesPerHost > 0 {
		return cfg.MaxInstancesPerHost
	}
	return DefaultMaxInstancesPerHost
}

func (cfg Config) maxIoOps() int {
	if cfg.MaxIoOpsPerHost > 0 {
		return cfg.MaxIoOpsPerHost
	}
	return DefaultMaxIoOpsPerHost
}

// Nova's default allocation ratios and weigher multipliers.
const (
	DefaultCPUAllocationRatio  = 16.0
	DefaultRAMAllocationRatio  = 1.5
	DefaultDiskAllocationRatio = 1.0
	DefaultRAMWeightMultiplier = 1.0
	DefaultCPUWeightMultiplier = 1.0
)

// DefaultConfig returns Nova's defaults.
func DefaultConfig() Config {
	return Config{
		CPUAllocationRatio:  DefaultCPUAllocationRatio,
		RAMAllocationRatio:  DefaultRAMAllocationRatio,
		DiskAllocationRatio: DefaultDiskAllocationRatio,
		RAMWeightMultiplier: DefaultRAMWeightMultiplier,
		CPUWeightMultiplier: DefaultCPUWeightMultiplier,
	}
}

// Effective returns the Config the scheduler actually uses: unusable ratios
// replaced by the defaults and non-finite multipliers replaced by zero.
// Callers that re-check capacity when they claim a host (in the database)
// should use its ratios, so that the claim agrees with the filters.
func (cfg Config) Effective() Config {
	ratio := func(v, def float64) float64 {
		if v > 0 && !math.IsInf(v, 0) { // false for NaN too
			return v
		}
		return def
	}
	mult := func(v float64) float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0
		}
		return v
	}
	return Config{
		CPUAllocationRatio:  ratio(cfg.CPUAllocationRatio, DefaultCPUAllocationRatio),
		RAMAllocationRatio:  ratio(cfg.RAMAllocationRatio, DefaultRAMAllocationRatio),
		DiskAllocationRatio: ratio(cfg.DiskAllocationRatio, DefaultDiskAllocationRatio),
		RAMWeightMultiplier: mult(cfg.RAMWeightMultiplier),
		CPUWeightMultiplier: mult(cfg.CPUWeightMultiplier),
		EnabledFilters:      cfg.EnabledFilters, MaxInstancesPerHost: cfg.MaxInstancesPerHost,
		MaxIoOpsPerHost: cfg.MaxIoOpsPerHost,
	}
}

// free is the capacity left after overcommit, total*ratio - used; negative
// when the host is already over its limit. All filters and weighers use it.
func free(total, used int, ratio float64) float64 {
	return float64(total)*ratio - float64(used)
}

func freeRAMMB(h *Host, cfg Config) float64 {
	return free(h.MemoryMB, h.MemoryMBUsed, cfg.RAMAllocationRatio)
}

func freeVCPUs(h *Host, cfg Config) float64 {
	return free(h.VCPUs, h.VCPUsUsed, cfg.CPUAllocationRatio)
}

// ErrNoValidHost is returned by Place when no host passes the filters. Its
// message is exactly "No valid host was found." (Nova's).
//
// Unlike the package's other error strings it is capitalised and ends with a
// full stop, because it is Nova's message verbatim and clients match on it.
var ErrNoValidHost = errors.New("No valid host was found.")

// maxListedRejections bounds how many hosts NoValidHostError.Error names one
// by one; the per-filter counts always cover every host.
const maxListedRejections = 10

// NoValidHostError is the error Place returns when no host passes the
// filters. It wraps ErrNoValidHost (errors.Is works) and carries every
// rejection for callers that want them (errors.As).
type NoValidHostError struct {
	// Rejections lists every host that was considered, in input order.
	Rejections []Rejection
}

// Error returns Nova's message followed by a summary: how many hosts each
// filter rejected and, for the first few hosts, the reason.
func (e *NoValidHostError) Error() string {
	var b strings.Builder
	b.WriteString(ErrNoValidHost.Error())
	if len(e.Rejections) == 0 {
		b.WriteString(" no hosts to choose from")
		return b.String()
	}

	counts := map[string]int{}
	var order []string
	for _, r := range e.Rejections {
		if counts[r.Filter] == 0 {
			order = append(order, r.Filter)
		}
		counts[r.Filter]++
	}
	slices.SortStableFunc(order, func(a, b string) int {
		return filterRank(a) - filterRank(b)
	})

	fmt.Fprintf(&b, " %d %s rejected (", len(e.Rejections), plural(len(e.Rejections), "host", "hosts"))
	for i, f := range order {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", f, counts[f])
	}
	b.WriteString("): ")
	for i, r := range e.Rejections {
		if i == maxListedRejections {
			fmt.Fprintf(&b, "; and %d more", len(e.Rejections)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s rejected by %s: %s", r.Host, r.Filter, r.Reason)
	}
	return b.String()
}

// Unwrap returns ErrNoValidHost.
func (e *NoValidHostError) Unwrap() error { return ErrNoValidHost }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Place filters then weighs and returns candidate hosts best first (callers
// try to claim the first, then the next on a lost race), or ErrNoValidHost
// (wrapped with the rejections summarised, errors.Is must work).
//
// The error, when there is one, is a *NoValidHostError.
func Place(hosts []Host, req Request, cfg Config) ([]Host, error) {
	passed, rejected := Filter(hosts, req, cfg)
	if len(passed) == 0 {
		return nil, &NoValidHostError{Rejections: rejected}
	}
	weighed := Weigh(passed, req, cfg)
	out := make([]Host, len(weighed))
	for i, w := range weighed {
		out[i] = w.Host
	}
	return out, nil
}
