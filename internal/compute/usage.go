package compute

import (
	"context"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

// ServerUsage is what one instance used in a period: the hours it ran
// in it (from its launch to its termination, clipped to the period), as
// Nova's simple tenant usage counts them.
type ServerUsage struct {
	Instance model.Instance
	Hours    float64
	Ended    *time.Time // terminated (nil: still there)
	Uptime   int64      // seconds from launch to termination or the period's end
}

// ProjectUsage is a project's instances' usage in [Start, Stop) and its
// sums: hours, and vCPU-, MB- and GB-hours.
type ProjectUsage struct {
	ProjectID                                    string
	Start, Stop                                  time.Time
	Servers                                      []ServerUsage
	Hours, VCPUHours, MemoryMBHours, DiskGBHours float64
}

// Usage reports the usage of project in [start, stop), or of every
// project that used anything when project is "" (admins). An admin may
// ask for any project (deleted ones too: their usage stays); a
// project's readers for theirs, and another one is not found. Projects
// come in id order.
func (s *Service) Usage(ctx context.Context, caller *model.Token, project string, start, stop time.Time) ([]ProjectUsage, error) {
	op, target := policy.ShowUsage, policy.Target{ProjectID: project}
	if project == "" {
		op, target = policy.ListUsage, policy.Target{}
	}
	if !policy.Allowed(caller, op, target) {
		if project != "" { // another project's, as its quotas: not there
			return nil, fault.NotFound("Project %s could not be found.", project)
		}
		return nil, fault.ErrForbidden
	}
	if stop.Before(start) {
		return nil, fault.Invalid("start", "Invalid start time. The start time cannot occur after the end time.")
	}
	ins, err := s.store.UsageInstances(ctx, project, start, stop)
	if err != nil {
		return nil, err
	}
	var out []ProjectUsage
	now := time.Now()
	for _, in := range ins {
		if len(out) == 0 || out[len(out)-1].ProjectID != in.ProjectID {
			out = append(out, ProjectUsage{ProjectID: in.ProjectID, Start: start, Stop: stop})
		}
		p := &out[len(out)-1]
		u := serverUsage(in, start, stop, now)
		p.Servers = append(p.Servers, u)
		p.Hours += u.Hours
		p.VCPUHours += u.Hours * float64(in.VCPUs)
		p.MemoryMBHours += u.Hours * float64(in.MemoryMB)
		p.DiskGBHours += u.Hours * float64(in.RootGB)
	}
	if project != "" && len(out) == 0 {
		out = []ProjectUsage{{ProjectID: project, Start: start, Stop: stop}}
	}
	return out, nil
}

// serverUsage counts in's hours up to its termination, the period's end
// or now, whichever comes first: Nova counts a running instance's hours
// up to the period's end even when that is in the future, and a report
// for this month would bill the rest of it.
func serverUsage(in model.Instance, start, stop, now time.Time) ServerUsage {
	u := ServerUsage{Instance: in, Ended: in.TerminatedAt}
	from, to := *in.LaunchedAt, stop
	if now.Before(to) {
		to = now
	}
	if in.TerminatedAt != nil && in.TerminatedAt.Before(to) {
		to = *in.TerminatedAt
	}
	u.Uptime = int64(to.Sub(from) / time.Second)
	if from.Before(start) {
		from = start
	}
	if to.After(from) {
		u.Hours = to.Sub(from).Hours()
	}
	return u
}
