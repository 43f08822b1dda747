package compute

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/stats"
)

// recordStats keeps a host's report (internal/stats): the samples of the
// instances the database places on that host; a domain it does not
// place there (foreign, deleted, moving away) is not charted. One read
// per host per interval; the samples themselves never reach PostgreSQL.
func (s *Service) recordStats(ctx context.Context, ev queue.Event) error {
	if s.stats == nil || ev.Stats == nil {
		return nil
	}
	ids := make([]string, 0, len(ev.Stats.Domains))
	for _, d := range ev.Stats.Domains {
		ids = append(ids, d.InstanceID)
	}
	owners, err := s.store.InstanceOwners(ctx, ev.Host, ids)
	if err != nil {
		return err
	}
	return s.stats.Record(ctx, ev.Host, *ev.Stats, owners)
}

// InstanceStats is what in's charts show over r: the rates between its
// samples. in comes from Get, which checked that the caller may see it.
func (s *Service) InstanceStats(ctx context.Context, in model.Instance, r stats.Range) ([]stats.Point, error) {
	if s.stats == nil {
		return nil, nil
	}
	samples, err := s.stats.Series(ctx, in.ID, r)
	if err != nil {
		return nil, err
	}
	return stats.Rates(samples, stepOf(r)), nil
}

// stepOf is the seconds between two samples of a range, as the agent's
// default interval and the coarse ring make them.
func stepOf(r stats.Range) int64 {
	if r == stats.Day {
		return stats.CoarseStep
	}
	return 10
}

// Diagnostics is an instance's newest sample with every detail, for an
// admin (os-diagnostics). An instance that is not running is a
// conflict, as Nova; so is a running one its host has not sampled in the
// last ten minutes (started seconds ago, or its agent is down).
func (s *Service) Diagnostics(ctx context.Context, caller *model.Token, id string) (model.Instance, model.DomainSample, error) {
	if !policy.Allowed(caller, policy.ServerDiagnostics, policy.Target{}) {
		return model.Instance{}, model.DomainSample{}, fault.ErrForbidden
	}
	in, err := s.Get(ctx, caller, id)
	if err != nil {
		return in, model.DomainSample{}, err
	}
	if in.PowerState != model.PowerRunning {
		return in, model.DomainSample{}, fault.Conflict("Cannot 'get_diagnostics' instance %s while it is in power_state %s", id, in.PowerState)
	}
	noStats := fault.Conflict("The host of instance %s did not report its statistics; try again later", id)
	if s.stats == nil {
		return in, model.DomainSample{}, noStats
	}
	d, ok, err := s.stats.Latest(ctx, id)
	if err != nil {
		return in, d, err
	}
	if ok && time.Since(time.Unix(d.At, 0)) <= 10*time.Minute {
		return in, d, nil
	}
	// Not reported yet (started seconds ago: the host reports every
	// 10 s) or not lately: ask its agent for a sample now, as Nova asks
	// the hypervisor.
	rep, err := queue.Call(ctx, s.opt.RDB, s.opt.RedisPrefix, in.Host, queue.Request{Kind: queue.CallSample, InstanceID: in.ID},
		diagnosticsTimeout)
	if err != nil || rep.Error != "" || json.Unmarshal([]byte(rep.Output), &d) != nil {
		return in, model.DomainSample{}, noStats
	}
	return in, d, nil
}

// diagnosticsTimeout is how long os-diagnostics waits for an agent's
// sample.
const diagnosticsTimeout = 5 * time.Second

// HostLoad is each host's newest sample and its last hour, for the
// Hypervisors page.
func (s *Service) HostLoad(ctx context.Context, caller *model.Token, hosts []string) (map[string][]model.HostSample, error) {
	if !policy.Allowed(caller, policy.ListHosts, policy.Target{}) {
		return nil, fault.ErrForbidden
	}
	out := map[string][]model.HostSample{}
	if s.stats == nil {
		return out, nil
	}
	for _, h := range hosts {
		series, err := s.stats.HostSeries(ctx, h, stats.Hour)
		if err != nil {
			return nil, err
		}
		out[h] = series
	}
	return out, nil
}
