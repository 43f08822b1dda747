package compute

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// ApplyEvent applies what an agent reported. Delivery is at least once,
// so every event may come twice, late, or after a newer one, and applying
// it again changes nothing:
//   - every state change is guarded by the state it expects, and an event
//     that finishes a task only finishes the task of its own action
//     (task_action_id), never a newer one;
//   - a power report older (by the agent's clock) than the last event
//     applied for the instance is ignored;
//   - a domain is destroyed only when the database says its instance is
//     deleted, or that the host held a failed attempt of it; a domain the
//     database does not place on the reporting host is recorded for an
//     admin (unrecognised_domains), never destroyed on sight.
//
// The resource claim is released in the same transaction as the change
// that ends it, so it is released once.
func (s *Service) ApplyEvent(ctx context.Context, ev queue.Event) error {
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	if ev.Kind == queue.EventInventory {
		return s.applyInventory(ctx, ev)
	}
	if ev.Kind == queue.EventStats {
		return s.recordStats(ctx, ev)
	}
	revoke := false // the instance lost its screen: close its consoles after the commit
	var after afterJob
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		revoke, after = false, afterJob{}
		in, err := tx.LockInstance(ctx, ev.InstanceID)
		if errors.Is(err, store.ErrNotFound) {
			if reportsDomain(ev) {
				return s.noteUnrecognised(ctx, tx, ev, store.UnknownInstance, "")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if ev.Host != "" && in.Host != ev.Host {
			moving, err := s.movingVia(ctx, tx, in, ev.Host)
			if err != nil {
				return err
			}
			if !moving {
				return s.foreignDomain(ctx, tx, in, ev)
			}
			if _, move := moveJobs[ev.Job]; !move {
				return nil // the other end of a move: its domain is the move's, its power not the instance's
			}
		}
		if in.VMState == model.VMDeleted {
			if reportsDomain(ev) {
				// The owner host still has the domain of a deleted
				// instance (a delete completed while the host was down,
				// or its job lost): remove it, as Nova reaps running
				// deleted instances.
				return s.enqueueCleanup(ctx, tx, ev.Host, in.ID)
			}
			return nil
		}
		switch ev.Kind {
		case queue.EventStarted:
			if ev.ActionID != 0 && ev.Step != "" {
				return tx.StartEvent(ctx, ev.ActionID, ev.Step, ev.Host, ev.At)
			}
			return nil
		case queue.EventStep:
			if step := model.BuildStep(ev.Step); in.VMState == model.VMBuilding && step.Known() {
				return tx.AdvanceBuild(ctx, in.ID, ev.ActionID, step, ev.Percent)
			}
			return nil
		case queue.EventProgress:
			next, err := Transition(State{in.VMState, in.TaskState}, Trigger{Kind: Progressed, Job: ev.Job})
			if err != nil || !currentAction(in, ev) {
				return nil // late, or the task moved on
			}
			return ignoreConflict(tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState},
				FromTask: []model.TaskState{in.TaskState}, ForAction: ev.ActionID, TaskState: &next.Task}))
		case queue.EventDone, queue.EventFailed:
			var err error
			revoke, after, err = s.finishJob(ctx, tx, in, ev)
			return err
		case queue.EventPower:
			if in.VMState == model.VMBuilding {
				return nil // the build's own events settle it
			}
			if in.AgentEventAt != nil && !ev.At.After(*in.AgentEventAt) {
				return nil // taken before the last event applied: stale
			}
			var err error
			revoke, err = s.syncPower(ctx, tx, in, ev)
			return err
		}
		return nil
	})
	if err == nil {
		s.opt.Kick()
		if revoke {
			s.revokeConsoles(ctx, ev.InstanceID)
		}
		s.discardFailedSnapshot(ctx, ev)
		s.dropImage(ctx, after.dropImage)
		s.removeDisk(after.removeDisk)
		s.releaseVolumes(ctx, after.gone)
	}
	return err
}

// reportsDomain says whether ev tells that a domain exists on ev.Host.
func reportsDomain(ev queue.Event) bool {
	return ev.Host != "" && (ev.Kind == queue.EventPower || (ev.Kind == queue.EventDone && ev.Job == queue.JobBuild))
}

// finishJob applies a job's outcome through the lifecycle table. It
// reports whether the instance lost its screen, and what is left to do
// once committed.
func (s *Service) finishJob(ctx context.Context, tx *store.Store, in model.Instance, ev queue.Event) (revoke bool, after afterJob, err error) {
	by := Trigger{Kind: Done, Job: ev.Job}
	if ev.Kind == queue.EventFailed {
		by.Kind = Failed
	}
	if by == (Trigger{Kind: Done, Job: queue.JobBuild}) && in.LaunchedAt == nil &&
		in.VMState != model.VMBuilding && in.TaskState != model.TaskDeleting {
		// A build that finished after the instance gave up on it
		// (timeout, dead letter): the instance never ran, so what the
		// build made goes.
		return false, after, s.enqueueCleanup(ctx, tx, ev.Host, in.ID)
	}
	if !currentAction(in, ev) {
		return false, after, nil // the outcome of an older action: its task is over
	}
	if by.Kind == Failed && ev.Job == queue.JobBuild && ev.Retryable && in.Attempts+1 < s.opt.MaxAttempts {
		by = Trigger{Kind: Retry}
	}
	next, err := Transition(State{in.VMState, in.TaskState}, by)
	if err != nil {
		return false, after, nil // a replay, or a report the state has moved past
	}
	at := ev.At.UTC()
	if next.VM == model.VMDeleted {
		return true, afterJob{dropImage: in.ShelvedImageID, gone: in.ID}, s.finishDelete(ctx, tx, in, ev.ActionID, in.Host)
	}
	if ev.Job == queue.JobBuild && by.Kind != Done {
		return false, after, s.failedBuild(ctx, tx, in, ev, next)
	}
	u := store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState}, FromTask: []model.TaskState{in.TaskState},
		ForAction: ev.ActionID, VMState: &next.VM, TaskState: &next.Task, AgentAt: &at}
	result := "Success"
	if by.Kind == Done {
		power := ev.Power
		if power == model.PowerNoState {
			power = naturalPower(next.VM)
		}
		u.PowerState = &power
		if next.VM == model.VMActive {
			port := ev.VNCPort
			u.VNCPort = &port
		}
		u.Launched = ev.Job == queue.JobBuild
	} else {
		result = "Error"
		if next.VM == model.VMError {
			u.Fault = &model.Fault{Code: 500, Message: failMessage(ev), Details: ev.Details, Created: at}
		}
	}
	if _, move := moveJobs[ev.Job]; move {
		after, err = s.moveEffects(ctx, tx, in, ev, by, next, &u)
	} else {
		after, err = s.jobEffects(ctx, tx, in, by, next, &u)
	}
	if err != nil {
		return false, after, err
	}
	if err := tx.UpdateInstance(ctx, u); err != nil {
		return false, afterJob{}, ignoreConflict(err)
	}
	if err := tx.FinishEvent(ctx, ev.ActionID, next.Event, ev.Host, result, ev.Details, ev.At); err != nil {
		return false, after, err
	}
	if after.chain != nil {
		if err := tx.StartEvent(ctx, ev.ActionID, moveEvents[after.chain.Kind], after.chainHost, ev.At); err != nil {
			return false, after, err
		}
		if err := tx.Enqueue(ctx, queue.HostStream(s.opt.RedisPrefix, after.chainHost), *after.chain); err != nil {
			return false, after, err
		}
	}
	if after.offload {
		in.VMState, in.TaskState = next.VM, next.Task
		if err := s.offload(ctx, tx, in); err != nil {
			return false, after, err
		}
	}
	return next.EndsScreen, after, nil
}

// naturalPower is the power an instance has once a job leaves it in vm,
// for reports that do not say.
func naturalPower(vm model.VMState) model.PowerState {
	switch vm {
	case model.VMActive:
		return model.PowerRunning
	case model.VMPaused:
		return model.PowerPaused
	case model.VMSuspend:
		return model.PowerSuspend
	case model.VMStopped:
		return model.PowerShutdown
	}
	return model.PowerNoState
}

func failMessage(ev queue.Event) string {
	if ev.Message != "" {
		return ev.Message
	}
	return "The compute host failed to carry out the request."
}

// currentAction reports whether ev belongs to the action the instance's
// task waits for. Events and rows without an action id (older rows,
// cleanup jobs) are taken as current; their state guards still apply.
func currentAction(in model.Instance, ev queue.Event) bool {
	return ev.ActionID == 0 || in.TaskActionID == 0 || ev.ActionID == in.TaskActionID
}

// foreignDomain handles an event from a host the instance does not live
// on. Its domain there is removed only when the database says that host
// held a failed attempt of this instance; otherwise (a host that came
// back under another name, a database restored from an older backup) it
// is recorded for an admin and left alone.
func (s *Service) foreignDomain(ctx context.Context, tx *store.Store, in model.Instance, ev queue.Event) error {
	if !reportsDomain(ev) {
		return nil // the outcome of a job on an earlier attempt: nothing to change
	}
	if slices.Contains(in.TriedHosts, ev.Host) {
		return s.enqueueCleanup(ctx, tx, ev.Host, in.ID)
	}
	return s.noteUnrecognised(ctx, tx, ev, store.PlacedElsewhere, in.Host)
}

// movingVia says whether the instance has an open move to or from host.
func (s *Service) movingVia(ctx context.Context, tx *store.Store, in model.Instance, host string) (bool, error) {
	m, err := tx.OpenMigration(ctx, in.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil && (m.SourceHost == host || m.DestHost == host), err
}

// enqueueCleanup tells host to remove an instance's domain and files.
func (s *Service) enqueueCleanup(ctx context.Context, tx *store.Store, host, id string) error {
	return tx.Enqueue(ctx, queue.HostStream(s.opt.RedisPrefix, host), queue.Job{V: queue.Version,
		Kind: queue.JobDelete, InstanceID: id})
}

// noteUnrecognised records a domain the database does not place on the
// reporting host. What happens next is the admin's decision.
func (s *Service) noteUnrecognised(ctx context.Context, tx *store.Store, ev queue.Event, reason, placedOn string) error {
	s.log.Warn("unrecognised domain left in place", "host", ev.Host, "instance_id", ev.InstanceID, "reason", reason,
		"placed_on", placedOn)
	return tx.NoteUnrecognised(ctx, store.UnrecognisedDomain{Host: ev.Host, InstanceID: ev.InstanceID, Power: ev.Power.String(),
		Reason: reason, PlacedOn: placedOn})
}

// applyInventory compares a host's full list of domains with the
// instances the database places there. A launched instance whose domain
// is gone (undefined by hand, host rebuilt) goes to ERROR with power
// NOSTATE, as Nova's power-state sync does, so it does not show ACTIVE
// for ever; instances that changed after the list was taken, or in the
// last half minute, are left for the next list. Unrecognised-domain
// records of domains no longer there are dropped.
func (s *Service) applyInventory(ctx context.Context, ev queue.Event) error {
	if ev.Host == "" {
		return nil
	}
	present := make(map[string]bool, len(ev.Instances))
	for _, id := range ev.Instances {
		present[id] = true
	}
	ins, err := s.store.InstancesOnHost(ctx, ev.Host)
	if err != nil {
		return err
	}
	settled := time.Now().Add(-inventorySettle)
	if ev.At.Before(settled) {
		settled = ev.At
	}
	for _, in := range ins {
		if present[in.ID] || in.LaunchedAt == nil || in.TaskState != model.TaskNone || !in.UpdatedAt.Before(settled) {
			continue
		}
		next, err := Transition(State{in.VMState, in.TaskState}, Trigger{Kind: Vanished})
		if err != nil {
			continue
		}
		power := model.PowerNoState
		err = s.store.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState},
			FromTask: []model.TaskState{model.TaskNone}, VMState: &next.VM, PowerState: &power,
			Fault: &model.Fault{Code: 500, Message: "The instance's virtual machine is missing from its host.",
				Details: "host " + ev.Host + " no longer has domain " + in.ID, Created: time.Now().UTC()}})
		if err := ignoreConflict(err); err != nil {
			return err
		}
		if err == nil {
			s.log.Warn("instance's domain is missing from its host", "host", ev.Host, "instance_id", in.ID)
			s.revokeConsoles(ctx, in.ID)
		}
	}
	return s.store.ForgetUnrecognised(ctx, ev.Host, ev.Instances)
}

// inventorySettle is how long a change must be past before an inventory
// may contradict it: the list and the change may cross in flight.
const inventorySettle = 30 * time.Second

// failedBuild releases a failed build's claim and sends it to another
// host (next is scheduling again: Retry) or to where the table says (a
// build: ERROR; an unshelve: back to SHELVED_OFFLOADED), with a fault.
func (s *Service) failedBuild(ctx context.Context, tx *store.Store, in model.Instance, ev queue.Event, next Next) error {
	if err := tx.ReleaseClaim(ctx, in.ID); err != nil {
		return err
	}
	build, _ := Transition(State{in.VMState, in.TaskState}, Trigger{Kind: Done, Job: queue.JobBuild})
	if err := tx.FinishEvent(ctx, ev.ActionID, build.Event, ev.Host, "Error", ev.Details, ev.At); err != nil {
		return err
	}
	if next.Task == model.TaskNone {
		return s.failPlacement(ctx, tx, in, ev.ActionID, ev.Host, Trigger{Kind: Failed, Job: queue.JobBuild},
			failMessage(ev), ev.Details)
	}
	if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState},
		FromTask: []model.TaskState{in.TaskState}, TaskState: &next.Task, ClearHost: true, Attempt: in.Host}); err != nil {
		return ignoreConflict(err)
	}
	if err := tx.StartEvent(ctx, ev.ActionID, next.Event, "", ev.At); err != nil {
		return err
	}
	return tx.Enqueue(ctx, queue.SchedulerStream(s.opt.RedisPrefix), queue.Job{V: queue.Version,
		Kind: queue.JobSchedule, InstanceID: in.ID, RequestID: ev.RequestID, ActionID: ev.ActionID})
}

// syncPower applies the agent's periodic power report: an instance
// whose guest went off by itself becomes SHUTOFF, as Nova's power-state
// sync does; otherwise the power and console port follow the host's. It
// reports whether the instance lost its screen.
func (s *Service) syncPower(ctx context.Context, tx *store.Store, in model.Instance, ev queue.Event) (bool, error) {
	if in.TaskState != model.TaskNone {
		return false, nil // something is in progress; its own event will settle it
	}
	power := ev.Power
	at := ev.At.UTC()
	u := store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState}, FromTask: []model.TaskState{model.TaskNone},
		AgentAt: &at}
	revoke := false
	if next, err := Transition(State{in.VMState, in.TaskState}, Trigger{Kind: PoweredOff}); err == nil && power.Off() {
		u.VMState, u.PowerState, revoke = &next.VM, &power, next.EndsScreen
	} else if power != in.PowerState {
		u.PowerState = &power
	} else if ev.VNCPort != 0 && ev.VNCPort != in.VNCPort {
		port := ev.VNCPort
		u.VNCPort = &port
	} else {
		return false, nil
	}
	return revoke, ignoreConflict(tx.UpdateInstance(ctx, u))
}

func ignoreConflict(err error) error {
	if errors.Is(err, fault.ErrConflict) {
		return nil
	}
	return err
}
