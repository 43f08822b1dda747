package compute

import (
	"context"
	"errors"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/model"
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
		hosts, err := tx.Hosts(ctx)
		if err != nil {
			return err
		}
		bootImage := in.ImageID
		if in.VMState == model.VMShelvedOffloaded {
			bootImage = in.ShelvedImageID // unshelved from its snapshot
		}
		im, err := tx.Image(ctx, bootImage)
		if err != nil {
			return s.failPlacement(ctx, tx, in, job.ActionID, "", Trigger{Kind: Unplaced}, "Image "+bootImage+" is gone.",
				"image missing at scheduling time")
		}
		now := time.Now()
		live := s.liveness(ctx)
		cands := make([]scheduler.Host, 0, len(hosts))
		for _, h := range hosts {
			cands = append(cands, scheduler.Host{Name: h.Host, AZ: h.AZ, Enabled: !h.Disabled,
				Up: live.up(h, now, s.opt.AgentLiveness), HypervisorType: h.HypervisorType, Arch: h.Arch,
				VCPUs: h.VCPUs, VCPUsUsed: h.VCPUsUsed, MemoryMB: h.MemoryMB, MemoryMBUsed: h.MemoryMBUsed,
				DiskGB: h.DiskGB, DiskGBUsed: h.DiskGBUsed, RunningVMs: h.RunningVMs})
		}
		groupPolicy, groupHosts, err := tx.GroupPlacement(ctx, in.ID)
		if err != nil {
			return err
		}
		req := scheduler.Request{VCPUs: in.VCPUs, MemoryMB: in.MemoryMB, DiskGB: in.RootGB, AZ: in.AvailabilityZone,
			ImageProps: im.Properties, IgnoreHosts: in.TriedHosts, GroupPolicy: groupPolicy, GroupHosts: groupHosts}
		cfg := s.opt.Scheduler.Effective() // the claim must use the ratios the filters used
		ranked, err := scheduler.Place(cands, req, cfg)
		if err != nil && !errors.Is(err, scheduler.ErrNoValidHost) {
			return err
		}
		ratios := store.Ratios{CPU: cfg.CPUAllocationRatio, RAM: cfg.RAMAllocationRatio, Disk: cfg.DiskAllocationRatio}
		// Claim in ranking order, first passing over hosts another launch
		// is claiming right now, then waiting for those if nothing else fit.
		var busy []scheduler.Host
		claim := func(h scheduler.Host, skipBusy bool) (bool, error) {
			r, err := tx.Claim(ctx, h.Name, in.VCPUs, in.MemoryMB, in.RootGB, ratios, live.claimCutoff(now, s.opt.AgentLiveness), skipBusy)
			if r == store.Busy {
				busy = append(busy, h)
			}
			return r == store.Claimed, err
		}
		var host string
		for _, h := range ranked {
			if ok, err := claim(h, true); err != nil {
				return err
			} else if ok {
				host = h.Name
				break
			}
		}
		for _, h := range busy {
			if host != "" {
				break
			}
			if ok, err := claim(h, false); err != nil {
				return err
			} else if ok {
				host = h.Name
			}
		}
		if host != "" {
			if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState},
				FromTask: []model.TaskState{in.TaskState}, Host: &host, Claimed: true, TaskState: &placed.Task}); err != nil {
				return err
			}
			if err := tx.FinishEvent(ctx, job.ActionID, placed.Event, "", "Success", "", now); err != nil {
				return err
			}
			build, _ := Transition(placed.State, Trigger{Kind: Done, Job: placed.Job})
			if err := tx.StartEvent(ctx, job.ActionID, build.Event, host, now); err != nil {
				return err
			}
			return tx.Enqueue(ctx, queue.HostStream(s.opt.RedisPrefix, host), queue.Job{
				V: queue.Version, Kind: placed.Job, InstanceID: in.ID, RequestID: job.RequestID, ActionID: job.ActionID,
				Build: s.buildSpec(in, im),
			})
		}
		details := "every candidate host was taken by other launches before this claim"
		if err != nil {
			details = err.Error()
		}
		return s.failPlacement(ctx, tx, in, job.ActionID, "", Trigger{Kind: Unplaced}, noValidHost+"There are not enough hosts available.", details)
	})
	if err == nil {
		s.opt.Kick()
	}
	return err
}

func (s *Service) buildSpec(in model.Instance, im model.Image) *queue.Build {
	b := &queue.Build{VCPUs: in.VCPUs, MemoryMB: in.MemoryMB, RootGB: in.RootGB, Name: in.Name, KeyName: in.KeyName,
		KeyData: in.KeyData, UserData: in.UserData, Metadata: in.Metadata, AZ: in.AvailabilityZone, ProjectID: in.ProjectID}
	ref := &queue.ImageRef{ID: im.ID, Checksum: im.Checksum, SHA512: im.OSHashValue, DiskFormat: im.DiskFormat,
		URL: s.opt.ImageURL(im.ID)}
	if im.Size != nil {
		ref.Size = *im.Size
	}
	if im.VirtualSize != nil {
		ref.VirtualSize = *im.VirtualSize
	}
	b.Image = ref
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
