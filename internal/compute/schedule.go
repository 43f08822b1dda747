package compute

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/netspec"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/scheduler"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// noValidHost is the fault Nova shows when placement fails.
const noValidHost = "No valid host was found. "

// Schedule places a building instance: filters and weighers propose hosts
// (internal/scheduler), the first host whose claim succeeds in PostgreSQL
// wins, and the build job goes to that host's stream — all in one
// transaction. With no host the instance goes to ERROR with Nova's fault.
// A replayed job for an instance no longer scheduling does nothing.
func (s *Service) Schedule(ctx context.Context, job queue.Job) error {
	withPorts := false
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		in, err := tx.LockInstance(ctx, job.InstanceID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		placed, err := Transition(State{in.VMState, in.TaskState}, Trigger{Kind: Placed})
		if err != nil {
			return nil // done already, or deleted meanwhile
		}
		if in.TaskState == model.TaskResizePrep {
			return s.placeMove(ctx, tx, in, job, placed)
		}
		bootImage := in.ImageID
		if in.VMState == model.VMShelvedOffloaded {
			bootImage = in.ShelvedImageID // unshelved from its snapshot
		}
		var im model.Image
		rootGB := in.RootGB
		if bootsFromVolume(in) {
			rootGB = 0 // its root disk is a volume, not the host's
		} else if im, err = tx.Image(ctx, bootImage); err != nil {
			return s.failPlacement(ctx, tx, in, job.ActionID, "", Trigger{Kind: Unplaced}, "Image "+bootImage+" is gone.",
				"image missing at scheduling time")
		}
		now := time.Now()
		req := scheduler.Request{VCPUs: in.VCPUs, MemoryMB: in.MemoryMB, DiskGB: rootGB, AZ: in.AvailabilityZone,
			ImageProps: im.Properties, IgnoreHosts: in.TriedHosts}
		host, err := s.placeOn(ctx, tx, in, req, now, func(h string, r store.Ratios, live time.Time, skipBusy bool) (store.ClaimResult, error) {
			return tx.Claim(ctx, h, in.VCPUs, in.MemoryMB, rootGB, r, live, skipBusy)
		})
		if err != nil && !errors.Is(err, scheduler.ErrNoValidHost) {
			return err
		}
		if host != "" {
			u := store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState},
				FromTask: []model.TaskState{in.TaskState}, Host: &host, Claimed: true, TaskState: &placed.Task}
			if in.VMState == model.VMBuilding {
				// (Again from here when a failed build is placed anew.)
				step := model.StepScheduled
				u.BuildStep = &step
			}
			if err := tx.UpdateInstance(ctx, u); err != nil {
				return err
			}
			if err := tx.FinishEvent(ctx, job.ActionID, placed.Event, "", "Success", "", now); err != nil {
				return err
			}
			build, _ := Transition(placed.State, Trigger{Kind: Done, Job: placed.Job})
			if err := tx.StartEvent(ctx, job.ActionID, build.Event, host, now); err != nil {
				return err
			}
			withPorts = len(in.NICs) > 0
			spec := s.buildSpec(in, im)
			if len(in.Volumes) > 0 && s.opt.Volumes != nil {
				// Its volumes, as this host reads them (exported by
				// their hosts for it when they are elsewhere).
				if spec.Volumes, err = s.opt.Volumes.Disks(ctx, in.ID, host); err != nil {
					return s.failPlacement(ctx, tx, in, job.ActionID, host, Trigger{Kind: Unplaced},
						"Build of instance aborted: its volumes could not be given to its host.", err.Error())
				}
			}
			return tx.Enqueue(ctx, queue.HostStream(s.opt.RedisPrefix, host), queue.Job{
				V: queue.Version, Kind: placed.Job, InstanceID: in.ID, RequestID: job.RequestID, ActionID: job.ActionID,
				Build: spec,
			})
		}
		return s.failPlacement(ctx, tx, in, job.ActionID, "", Trigger{Kind: Unplaced}, noValidHost+"There are not enough hosts available.",
			unplacedDetails(err))
	})
	if err == nil {
		s.opt.Kick()
		if withPorts && s.opt.Network != nil {
			// The host's datapath document gains the ports now, while
			// the build job travels, rather than when the agent asks.
			s.opt.Network.HostsChanged(ctx)
		}
	}
	return err
}

// unplacedDetails says why placement found no host, for admins.
func unplacedDetails(err error) string {
	if err != nil {
		return err.Error()
	}
	return "every candidate host was taken by other launches before this claim"
}

// claimFunc claims what an instance needs on a host.
type claimFunc func(host string, r store.Ratios, liveSince time.Time, skipBusy bool) (store.ClaimResult, error)

// placeOn ranks the hosts for req (the instance's server group added) and
// claims on the first that takes the claim: first passing over hosts
// another launch is claiming right now, then waiting for those if nothing
// else fit. It returns the host, or "" with scheduler.ErrNoValidHost (the
// filters' report) or nil (every host taken meanwhile).
func (s *Service) placeOn(ctx context.Context, tx *store.Store, in model.Instance, req scheduler.Request, now time.Time, claim claimFunc) (string, error) {
	hosts, err := tx.Hosts(ctx)
	if err != nil {
		return "", err
	}
	meta, err := tx.HostMetadata(ctx)
	if err != nil {
		return "", err
	}
	live := s.liveness(ctx)
	cands := make([]scheduler.Host, 0, len(hosts))
	for _, h := range hosts {
		cands = append(cands, scheduler.Host{Name: h.Host, AZ: h.AZ, Enabled: !h.Disabled,
			Up: live.up(h, now, s.opt.AgentLiveness), HypervisorType: h.HypervisorType, Arch: h.Arch,
			VCPUs: h.VCPUs, VCPUsUsed: h.VCPUsUsed, MemoryMB: h.MemoryMB, MemoryMBUsed: h.MemoryMBUsed,
			DiskGB: h.DiskGB, DiskGBUsed: h.DiskGBUsed, RunningVMs: h.RunningVMs, IoOps: h.IoOps, Aggregates: meta[h.Host]})
	}
	if req.GroupPolicy, req.GroupHosts, err = tx.GroupPlacement(ctx, in.ID); err != nil {
		return "", err
	}
	if req.ExtraSpecs, err = tx.ExtraSpecs(ctx, in.FlavorID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err // (a flavor deleted since has no extra specs to match)
	}
	cfg := s.opt.Scheduler.Effective()
	ranked, placeErr := scheduler.Place(cands, req, cfg)
	if placeErr != nil && !errors.Is(placeErr, scheduler.ErrNoValidHost) {
		return "", placeErr
	}
	// The claim is checked with the ratios the filters used on that host
	// (an aggregate's, where it sets one).
	ratios := func(h scheduler.Host) store.Ratios {
		cpu, ram, disk := scheduler.HostRatios(h, cfg)
		return store.Ratios{CPU: cpu, RAM: ram, Disk: disk}
	}
	cutoff := live.claimCutoff(now, s.opt.AgentLiveness)
	var busy []scheduler.Host
	for _, h := range ranked {
		r, err := claim(h.Name, ratios(h), cutoff, true)
		if err != nil {
			return "", err
		}
		switch r {
		case store.Claimed:
			return h.Name, nil
		case store.Busy:
			busy = append(busy, h)
		}
	}
	for _, h := range busy {
		if r, err := claim(h.Name, ratios(h), cutoff, false); err != nil || r == store.Claimed {
			return h.Name, err
		}
	}
	return "", placeErr
}

// placeMove places a resize or migration: a destination for the new
// flavor (never the source, unless a resize may stay there), its claim
// held by the migration, and the source told to send the disk out. With
// no destination the instance stays where it is, as it was.
func (s *Service) placeMove(ctx context.Context, tx *store.Store, in model.Instance, job queue.Job, placed Next) error {
	m, err := tx.OpenMigration(ctx, in.ID)
	if err != nil {
		return ignoreNotFound(err)
	}
	now := time.Now()
	req := scheduler.Request{VCPUs: m.NewFlavor.VCPUs, MemoryMB: m.NewFlavor.RAMMB, DiskGB: m.NewFlavor.DiskGB,
		AZ: in.AvailabilityZone}
	if m.Type == "migration" || !s.opt.AllowResizeToSameHost {
		req.IgnoreHosts = []string{m.SourceHost}
	}
	if m.RequestedHost != "" {
		req.OnlyHost = m.RequestedHost
	}
	if im, err := tx.Image(ctx, in.ImageID); err == nil {
		req.ImageProps = im.Properties
	}
	host, err := s.placeOn(ctx, tx, in, req, now, func(h string, r store.Ratios, live time.Time, skipBusy bool) (store.ClaimResult, error) {
		return tx.ClaimMigrationDest(ctx, m, h, r, live, skipBusy)
	})
	if err != nil && !errors.Is(err, scheduler.ErrNoValidHost) {
		return err
	}
	if host == "" {
		return s.unplacedMove(ctx, tx, in, m, job.ActionID, unplacedDetails(err))
	}
	m.DestHost = host
	j := queue.Job{V: queue.Version, Kind: placed.Job, InstanceID: in.ID, RequestID: job.RequestID, ActionID: job.ActionID}
	u := store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState}, FromTask: []model.TaskState{in.TaskState},
		TaskState: &placed.Task}
	src, err := s.shapeMove(ctx, tx, in, m, &j, &u)
	if err != nil {
		return err
	}
	if u.TaskJob, err = json.Marshal(j); err != nil {
		return err
	}
	if err := tx.UpdateInstance(ctx, u); err != nil {
		return err
	}
	if err := tx.FinishEvent(ctx, job.ActionID, moveEvents[queue.JobSchedule], "", "Success", "", now); err != nil {
		return err
	}
	if err := tx.StartEvent(ctx, job.ActionID, placed.Event, src, now); err != nil {
		return err
	}
	return tx.Enqueue(ctx, queue.HostStream(s.opt.RedisPrefix, src), j)
}

// unplacedMove ends a move no host could take: the instance stays on its
// source with its old flavor and claim, a fault says why.
func (s *Service) unplacedMove(ctx context.Context, tx *store.Store, in model.Instance, m model.Migration, actionID int64, details string) error {
	next, err := Transition(State{in.VMState, in.TaskState}, Trigger{Kind: Unplaced})
	if err != nil {
		return nil
	}
	now := time.Now().UTC()
	if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState},
		FromTask: []model.TaskState{in.TaskState}, TaskState: &next.Task, Flavor: &m.OldFlavor,
		Fault: &model.Fault{Code: 500, Message: noValidHost + "There are not enough hosts available.", Details: details, Created: now}}); err != nil {
		return ignoreConflict(err)
	}
	if err := tx.UpdateMigration(ctx, store.MigrationUpdate{ID: m.ID, Status: model.MigrationError}); err != nil {
		return err
	}
	if err := s.endMove(ctx, tx, m, source); err != nil {
		return err
	}
	return tx.FinishEvent(ctx, actionID, next.Event, "", "Error", details, now)
}

func (s *Service) buildSpec(in model.Instance, im model.Image) *queue.Build {
	b := &queue.Build{VCPUs: in.VCPUs, MemoryMB: in.MemoryMB, RootGB: in.RootGB, Name: in.Name, KeyName: in.KeyName,
		KeyData: in.KeyData, UserData: in.UserData, Metadata: in.Metadata, AZ: in.AvailabilityZone, ProjectID: in.ProjectID}
	for _, n := range in.NICs {
		b.NICs = append(b.NICs, queue.NIC{PortID: n.PortID, MAC: n.MAC, Device: netspec.TapDevice(n.PortID), MTU: n.MTU})
	}
	if im.ID != "" {
		b.Image = queue.NewImageRef(im, s.opt.ImageURL(im.ID))
	}
	return b
}

// failPlacement ends a build or an unshelve that could not be placed or
// started (by: Unplaced, TimedOut, Failed build) where the lifecycle table
// says, with a fault: message for everyone, details for admins only.
func (s *Service) failPlacement(ctx context.Context, tx *store.Store, in model.Instance, actionID int64, host string, by Trigger, message, details string) error {
	next, err := Transition(State{in.VMState, in.TaskState}, by)
	if err != nil {
		return nil // moved on meanwhile
	}
	now := time.Now().UTC()
	u := store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState}, FromTask: []model.TaskState{in.TaskState},
		VMState: &next.VM, TaskState: &next.Task, Fault: &model.Fault{Code: 500, Message: message, Details: details, Created: now}}
	if next.VM != model.VMError {
		u.ClearHost = true // an unshelve that found no host is offloaded still
	}
	if err := tx.UpdateInstance(ctx, u); err != nil {
		return ignoreConflict(err)
	}
	event := next.Event
	if host != "" {
		build, _ := Transition(State{in.VMState, model.TaskSpawning}, Trigger{Kind: Done, Job: queue.JobBuild})
		event = build.Event
	}
	return tx.FinishEvent(ctx, actionID, event, host, "Error", details, now)
}

// ReapBuilds sends builds that no agent picked up or finished in time to
// ERROR, so no instance is stuck in BUILD. A host it had is told to remove
// whatever it made. It returns how many it failed.
func (s *Service) ReapBuilds(ctx context.Context, now time.Time) (int, error) {
	late, err := s.store.OverdueBuilds(ctx, now, 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, in := range late {
		err := s.store.Tx(ctx, func(tx *store.Store) error {
			cur, err := tx.LockInstance(ctx, in.ID)
			if err != nil || cur.VMState != model.VMBuilding {
				return err
			}
			actionID, err := tx.ActionByRequestKind(ctx, in.ID, "create")
			if err != nil {
				return err
			}
			if err := s.failPlacement(ctx, tx, cur, actionID, cur.Host, Trigger{Kind: TimedOut}, "Build of instance "+in.ID+" timed out.",
				"no agent finished the build before its deadline"); err != nil {
				return err
			}
			if cur.Host == "" {
				return nil
			}
			if err := tx.ReleaseClaim(ctx, cur.ID); err != nil {
				return err
			}
			// The domain, if the agent made one after all, must not linger.
			return tx.Enqueue(ctx, queue.HostStream(s.opt.RedisPrefix, cur.Host), queue.Job{V: queue.Version,
				Kind: queue.JobDelete, InstanceID: cur.ID, ActionID: actionID})
		})
		if err != nil {
			return n, err
		}
		n++
	}
	if n > 0 {
		s.opt.Kick()
	}
	return n, nil
}

// ErrorInstance ends the placement of an instance whose scheduling job
// was given up on (the dead-letter path) as a placement without a host.
func (s *Service) ErrorInstance(ctx context.Context, id, message, details string) error {
	return s.store.Tx(ctx, func(tx *store.Store) error {
		in, err := tx.LockInstance(ctx, id)
		if err != nil {
			return ignoreNotFound(err)
		}
		actionID := in.TaskActionID
		if actionID == 0 { // a build: its create action
			_, _, record := taskJob(State{in.VMState, in.TaskState})
			if actionID, err = tx.ActionByRequestKind(ctx, in.ID, record); err != nil {
				return ignoreNotFound(err)
			}
		}
		return s.failPlacement(ctx, tx, in, actionID, "", Trigger{Kind: Unplaced}, message, details)
	})
}
