// Package scheduler chooses compute hosts for new instances the way Nova's
// FilterScheduler does: first every host goes through a chain of filters that
// each may reject it, then the survivors are scored by weighers and ranked.
//
//	                 +---------------------------+
//	[]Host --------> |          filters          | ---> []Rejection
//	(every host)     |  IgnoreHostsFilter        |      (host, filter, reason)
//	                 |  ComputeFilter            |
//	Request -------> |  AvailabilityZoneFilter   |
//	Config  -------> |  ImagePropertiesFilter    |
//	                 |  RamFilter                |
//	                 |  CoreFilter               |
//	                 |  DiskFilter               |
//	                 +-------------+-------------+
//	                               | hosts that passed all filters
//	                               v
//	                 +---------------------------+
//	                 |         weighers          |
//	                 |  RAMWeigher (free RAM)    |  each raw value normalised to
//	                 |  CPUWeigher (free vCPUs)  |  [0,1], times its multiplier,
//	                 +-------------+-------------+  summed per host
//	                               |
//	                               v
//	             candidates, best first (ties: name ascending)
//	             or ErrNoValidHost when no host survived
//
// A host leaves the filter chain at the first filter that rejects it, so each
// rejected host has exactly one Rejection naming that filter.
//
// Filter, Weigh and Place are pure functions: no I/O, no clocks, no global
// state, and their inputs are never modified, so the same inputs always give
// the same result.
//
// The scheduler only proposes. It works on a snapshot of host usage that may
// already be stale when Place returns, so it reserves nothing. The caller
// claims the resources itself, atomically in the database (for example a
// conditional UPDATE that re-checks free capacity), trying the first
// candidate and moving on to the next one when it loses a race to another
// request. When every candidate is lost or the build fails on the chosen
// host, the caller may call Place again with the hosts it already tried in
// Request.IgnoreHosts (Nova's rescheduling).
package scheduler
