package scheduler

import (
	"cmp"
	"slices"
)

// Weighed is a host with its total weight.
type Weighed struct {
	Host   Host
	Weight float64 // sum over weighers of multiplier * normalised raw value
}

// Weigher names, in the order their weights are added up.
const (
	RAMWeigher = "RAMWeigher"
	CPUWeigher = "CPUWeigher"
)

// weigher scores one host (RAMWeigher, CPUWeigher); raw values are
// normalised across the candidates before the multiplier is applied.
type weigher struct {
	raw        func(h *Host, req *Request, cfg Config) float64
	multiplier func(cfg Config) float64
}

var weighers = [...]weigher{
	{func(h *Host, _ *Request, c Config) float64 { return freeRAMMB(h, c) }, func(c Config) float64 { return c.RAMWeightMultiplier }},
	{func(h *Host, _ *Request, c Config) float64 { return freeVCPUs(h, c) }, func(c Config) float64 { return c.CPUWeightMultiplier }},
	// The soft group policies (Nova's ServerGroupSoftAffinityWeigher and
	// ServerGroupSoftAntiAffinityWeigher, multiplier 1.0): hosts holding
	// more of the group's members first, or last.
	{groupMembersOn, func(Config) float64 { return 1 }},
}

// groupMembersOn is how many of the request's group members a host
// holds: positive for soft-affinity, negative for soft-anti-affinity, 0
// otherwise.
func groupMembersOn(h *Host, req *Request, _ Config) float64 {
	sign := 0.0
	switch req.GroupPolicy {
	case PolicySoftAffinity:
		sign = 1
	case PolicySoftAntiAffinity:
		sign = -1
	}
	n := 0
	for _, g := range req.GroupHosts {
		if g == h.Name {
			n++
		}
	}
	return sign * float64(n)
}

// Weigh scores hosts (Nova's normalisation: each weigher's raw values are
// normalised to [0,1] across the candidate hosts — min->0, max->1, all
// equal->0 — then multiplied by the weigher's multiplier and summed) and
// returns them best first; ties broken by host name ascending so the result
// is deterministic.
//
// RAMWeigher's raw value is the free RAM after the RAM allocation ratio,
// CPUWeigher's the free vCPUs after the CPU allocation ratio. A positive
// multiplier prefers the emptiest host (spreading), a negative one the
// fullest (stacking), zero ignores that weigher. Weigh does not filter: pass
// it the hosts Filter let through. req is accepted for parity with Nova's
// weighers, which may look at the request; the built-in ones do not.
func Weigh(hosts []Host, req Request, cfg Config) []Weighed {
	cfg = cfg.Effective()
	out := make([]Weighed, len(hosts))
	for i := range hosts {
		out[i].Host = hosts[i]
	}
	if len(hosts) == 0 {
		return out
	}

	raw := make([]float64, len(hosts))
	for _, w := range weighers {
		m := w.multiplier(cfg)
		if m == 0 {
			continue
		}
		for i := range hosts {
			raw[i] = w.raw(&hosts[i], &req, cfg)
		}
		lo, hi := slices.Min(raw), slices.Max(raw)
		if lo == hi {
			continue // all equal: every host normalises to 0
		}
		for i, v := range raw {
			out[i].Weight += m * ((v - lo) / (hi - lo))
		}
	}

	slices.SortStableFunc(out, func(a, b Weighed) int {
		if c := cmp.Compare(b.Weight, a.Weight); c != 0 {
			return c
		}
		return cmp.Compare(a.Host.Name, b.Host.Name)
	})
	return out
}
