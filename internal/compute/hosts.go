package compute

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// RecordHosts stores the hosts' latest reports (capacity and liveness).
func (s *Service) RecordHosts(ctx context.Context, hosts []model.ComputeHost) error {
	for _, h := range hosts {
		if err := s.store.UpsertHost(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// HostView is a host with whether it is heard from.
type HostView struct {
	model.ComputeHost
	Up bool
}

// Hosts lists the compute hosts (admin).
func (s *Service) Hosts(ctx context.Context, caller *model.Token) ([]HostView, error) {
	if err := policy.Check(caller, policy.ListHosts, policy.Target{}); err != nil {
		return nil, err
	}
	return s.hostViews(ctx)
}

func (s *Service) hostViews(ctx context.Context) ([]HostView, error) {
	hs, err := s.store.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	now, live := time.Now(), s.liveness(ctx)
	out := make([]HostView, len(hs))
	for i, h := range hs {
		out[i] = HostView{ComputeHost: h, Up: live.up(h, now, s.opt.AgentLiveness)}
	}
	return out, nil
}

// Zones lists availability zones with their hosts. Everyone may list the
// zones; only admins see hosts.
func (s *Service) Zones(ctx context.Context, caller *model.Token) (map[string][]HostView, error) {
	if err := policy.Check(caller, policy.ListServers, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return nil, err
	}
	hs, err := s.hostViews(ctx)
	if err != nil {
		return nil, err
	}
	zones := map[string][]HostView{}
	for _, h := range hs {
		zones[h.AZ] = append(zones[h.AZ], h)
	}
	if len(zones) == 0 {
		zones["nova"] = nil
	}
	return zones, nil
}

// SetHostEnabled enables or disables scheduling to a host (admin), with a
// reason shown to admins.
func (s *Service) SetHostEnabled(ctx context.Context, caller *model.Token, host string, enabled bool, reason string) (model.ComputeHost, error) {
	if err := policy.Check(caller, policy.ManageHosts, policy.Target{}); err != nil {
		return model.ComputeHost{}, err
	}
	if err := validate.Text("disabled_reason", reason, 255); err != nil {
		return model.ComputeHost{}, err
	}
	if enabled {
		reason = ""
	}
	if err := s.store.SetHostDisabled(ctx, host, !enabled, reason); err != nil {
		return model.ComputeHost{}, fault.NotFoundAs(err, fault.NotFound("Host %s could not be found.", host))
	}
	return s.store.Host(ctx, host)
}

// UnrecognisedDomains lists the domains hosts report that the database
// does not place there, for an admin to decide about: Nimbus never
// destroys them itself.
func (s *Service) UnrecognisedDomains(ctx context.Context, caller *model.Token) ([]store.UnrecognisedDomain, error) {
	if err := policy.Check(caller, policy.ListHosts, policy.Target{}); err != nil {
		return nil, err
	}
	return s.store.UnrecognisedDomains(ctx)
}

// DeadLetter is a job or event given up on, as admins see it.
type DeadLetter struct {
	At         time.Time
	Stream     string // without the deployment's prefix
	Kind       string // the job or event kind, when the message could be read
	InstanceID string
	Reason     string
}

// DeadLetters returns the newest n messages given up on (delivered too
// many times, or unreadable) and how many are kept (the newest
// queue.DeadLetterMax, about).
func (s *Service) DeadLetters(ctx context.Context, caller *model.Token, n int64) ([]DeadLetter, int64, error) {
	if err := policy.Check(caller, policy.ListHosts, policy.Target{}); err != nil {
		return nil, 0, err
	}
	ds, total, err := queue.DeadLetters(ctx, s.opt.RDB, s.opt.RedisPrefix, n)
	if err != nil {
		return nil, 0, fault.Unavailable(err)
	}
	out := make([]DeadLetter, 0, len(ds))
	for _, d := range ds {
		var msg struct {
			Kind       string `json:"kind"`
			InstanceID string `json:"instance_id"`
		}
		_ = json.Unmarshal(d.Payload, &msg) // unreadable ones show without
		ms, _ := strconv.ParseInt(strings.SplitN(d.ID, "-", 2)[0], 10, 64)
		out = append(out, DeadLetter{At: time.UnixMilli(ms).UTC(), Stream: strings.TrimPrefix(d.Stream, s.opt.RedisPrefix),
			Kind: msg.Kind, InstanceID: msg.InstanceID, Reason: d.Reason})
	}
	return out, total, nil
}

// hostLiveness is how long ago each agent's heartbeat was, read from Redis
// where agents write it. The database's copy (compute_hosts.last_seen) is
// refreshed every 2 s by a worker, and not at all while PostgreSQL is
// down: after an outage longer than the liveness window it calls every
// host down until the worker catches up, and launches waiting for
// PostgreSQL would all fail with "no valid host". Without Redis, the
// database's copy is all there is.
type hostLiveness struct {
	ages map[string]time.Duration // nil: Redis could not be read
}

func (s *Service) liveness(ctx context.Context) hostLiveness {
	if s.opt.RDB == nil {
		return hostLiveness{}
	}
	ages, err := queue.HeartbeatAges(ctx, s.opt.RDB, s.opt.RedisPrefix)
	if err != nil {
		return hostLiveness{}
	}
	return hostLiveness{ages: ages}
}

// up says whether h has reported within liveness.
func (l hostLiveness) up(h model.ComputeHost, now time.Time, liveness time.Duration) bool {
	if age, ok := l.ages[h.Host]; ok {
		return age <= liveness
	}
	return now.Sub(h.LastSeen) <= liveness
}

// claimCutoff is the last_seen a claim requires: none when liveness was
// read from Redis (the filter checked it), the database's window otherwise.
func (l hostLiveness) claimCutoff(now time.Time, liveness time.Duration) time.Time {
	if l.ages != nil {
		return time.Time{}
	}
	return now.Add(-liveness)
}
