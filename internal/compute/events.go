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

// powerOf maps an agent's power word to Nova's number.
func powerOf(s string) model.PowerState {
	switch s {
	case "running":
		return model.PowerRunning
	case "shutoff":
		return model.PowerShutdown
	case "paused":
		return model.PowerPaused
	case "crashed":
		return model.PowerCrashed
	}
	return model.PowerNoState
}

// jobEvent is the action event name for each job, as Nova names them.
var jobEvent = map[string]string{
	queue.JobBuild: "compute__do_build_and_run_instance", queue.JobStart: "compute_start_instance",
	queue.JobStop: "compute_stop_instance", queue.JobReboot: "compute_reboot_instance",
	queue.JobDelete: "compute_delete_instance",
}

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
	revoke := false // the instance lost its screen: close its consoles after the commit
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		revoke = false
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
			return s.foreignDomain(ctx, tx, in, ev)
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
		at := ev.At.UTC()
		mine := currentAction(in, ev)
		switch ev.Kind {
		case queue.EventStarted:
			if ev.ActionID != 0 && ev.Step != "" {
				return tx.StartEvent(ctx, ev.ActionID, ev.Step, ev.Host, ev.At)
			}
			return nil
		case queue.EventSpawned:
			switch {
			case in.VMState == model.VMBuilding && in.TaskState == model.TaskSpawning:
				vm, task, power, port := model.VMActive, model.TaskNone, model.PowerRunning, ev.VNCPort
				if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{model.VMBuilding},
					FromTask: []model.TaskState{model.TaskSpawning}, VMState: &vm, TaskState: &task, PowerState: &power,
					VNCPort: &port, Launched: true, AgentAt: &at}); err != nil {
					return ignoreConflict(err)
				}
				return tx.FinishEvent(ctx, ev.ActionID, jobEvent[queue.JobBuild], ev.Host, "Success", "", ev.At)
			case in.LaunchedAt != nil:
				return nil // a replay of the build that launched it
			case in.VMState != model.VMBuilding && in.TaskState != model.TaskDeleting:
				// A build that finished after the instance gave up on it
				// (timeout, dead letter): the instance never ran, so what
				// the build made goes.
				return s.enqueueCleanup(ctx, tx, ev.Host, in.ID)
			}
			return nil
		case queue.EventStopped:
			if !mine {
				return nil
			}
			revoke = true
			vm, task, power := model.VMStopped, model.TaskNone, model.PowerShutdown
			if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromTask: []model.TaskState{model.TaskPoweringOff},
				ForAction: ev.ActionID, VMState: &vm, TaskState: &task, PowerState: &power, AgentAt: &at}); err != nil {
				return ignoreConflict(err)
			}
			return tx.FinishEvent(ctx, ev.ActionID, jobEvent[queue.JobStop], ev.Host, "Success", "", ev.At)
		case queue.EventPoweredOn:
			if !mine {
				return nil
			}
			vm, task, power, port := model.VMActive, model.TaskNone, model.PowerRunning, ev.VNCPort
			if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID,
				FromTask:  []model.TaskState{model.TaskPoweringOn, model.TaskRebooting, model.TaskRebootingHard},
				ForAction: ev.ActionID, VMState: &vm, TaskState: &task, PowerState: &power, VNCPort: &port, AgentAt: &at}); err != nil {
				return ignoreConflict(err)
			}
			return tx.FinishEvent(ctx, ev.ActionID, jobEvent[ev.Job], ev.Host, "Success", "", ev.At)
		case queue.EventDeleted:
			if in.TaskState != model.TaskDeleting || !mine {
				return nil // a replay, or the cleanup of an old attempt
			}
			revoke = true
			return s.finishDelete(ctx, tx, in, ev.ActionID, in.Host)
		case queue.EventFailed:
			if !mine {
				return nil
			}
			return s.applyFailure(ctx, tx, in, ev, ev.At)
		case queue.EventPower:
			if in.VMState == model.VMBuilding {
				return nil // the build's own events settle it
			}
			if in.AgentEventAt != nil && !ev.At.After(*in.AgentEventAt) {
				return nil // taken before the last event applied: stale
			}
			// Only the running -> off transition: a stopped instance is
			// reported again every minute and has no console to close.
			p := powerOf(ev.Power)
			revoke = in.VMState == model.VMActive && (p == model.PowerShutdown || p == model.PowerCrashed || p == model.PowerNoState)
			return s.syncPower(ctx, tx, in, ev)
		}
		return nil
	})
	if err == nil {
		s.opt.Kick()
		if revoke {
			s.revokeConsoles(ctx, ev.InstanceID)
		}
	}
	return err
}

// reportsDomain says whether ev tells that a domain exists on ev.Host.
func reportsDomain(ev queue.Event) bool {
	return ev.Host != "" && (ev.Kind == queue.EventPower || ev.Kind == queue.EventSpawned)
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
	return tx.NoteUnrecognised(ctx, store.UnrecognisedDomain{Host: ev.Host, InstanceID: ev.InstanceID, Power: ev.Power,
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
		switch in.VMState {
		case model.VMActive, model.VMStopped, model.VMPaused, model.VMSuspend:
		default:
			continue
		}
		vm, power := model.VMError, model.PowerNoState
		err := s.store.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState},
			FromTask: []model.TaskState{model.TaskNone}, VMState: &vm, PowerState: &power,
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

// applyFailure handles a failed job. A build that failed in a way another
// host might not is rescheduled, up to MaxAttempts hosts.
func (s *Service) applyFailure(ctx context.Context, tx *store.Store, in model.Instance, ev queue.Event, at time.Time) error {
	msg := ev.Message
	if msg == "" {
		msg = "The compute host failed to carry out the request."
	}
	switch ev.Job {
	case queue.JobBuild:
		if in.VMState != model.VMBuilding || in.TaskState != model.TaskSpawning {
			return nil
		}
		if err := tx.ReleaseClaim(ctx, in.ID); err != nil {
			return err
		}
		if err := tx.FinishEvent(ctx, ev.ActionID, jobEvent[queue.JobBuild], ev.Host, "Error", ev.Details, at); err != nil {
			return err
		}
		if ev.Retryable && in.Attempts+1 < s.opt.MaxAttempts {
			task := model.TaskScheduling
			if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{model.VMBuilding},
				FromTask: []model.TaskState{model.TaskSpawning}, TaskState: &task, ClearHost: true, Attempt: in.Host}); err != nil {
				return ignoreConflict(err)
			}
			if err := tx.StartEvent(ctx, ev.ActionID, "conductor_schedule_and_build_instances", "", at); err != nil {
				return err
			}
			return tx.Enqueue(ctx, queue.SchedulerStream(s.opt.RedisPrefix), queue.Job{V: queue.Version,
				Kind: queue.JobSchedule, InstanceID: in.ID, RequestID: ev.RequestID, ActionID: ev.ActionID})
		}
		return s.failBuild(ctx, tx, in, ev.ActionID, ev.Host, msg, ev.Details)
	case queue.JobDelete:
		vm, task := model.VMError, model.TaskNone
		if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromTask: []model.TaskState{model.TaskDeleting},
			ForAction: ev.ActionID, VMState: &vm, TaskState: &task, Fault: &model.Fault{Code: 500, Message: msg, Details: ev.Details, Created: at.UTC()}}); err != nil {
			return ignoreConflict(err)
		}
	default:
		// A failed stop, start or reboot leaves the instance as it was.
		task := model.TaskNone
		if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID,
			FromTask:  []model.TaskState{model.TaskPoweringOff, model.TaskPoweringOn, model.TaskRebooting, model.TaskRebootingHard},
			ForAction: ev.ActionID, TaskState: &task}); err != nil {
			return ignoreConflict(err)
		}
	}
	return tx.FinishEvent(ctx, ev.ActionID, jobEvent[ev.Job], ev.Host, "Error", ev.Details, at)
}

// syncPower applies the agent's periodic power report: an instance shut
// down from inside becomes SHUTOFF, as Nova's power-state sync does.
func (s *Service) syncPower(ctx context.Context, tx *store.Store, in model.Instance, ev queue.Event) error {
	if in.TaskState != model.TaskNone {
		return nil // something is in progress; its own event will settle it
	}
	power := powerOf(ev.Power)
	at := ev.At.UTC()
	u := store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState}, FromTask: []model.TaskState{model.TaskNone},
		AgentAt: &at}
	switch {
	case in.VMState == model.VMActive && (power == model.PowerShutdown || power == model.PowerCrashed || power == model.PowerNoState):
		vm := model.VMStopped
		u.VMState, u.PowerState = &vm, &power
	case power != in.PowerState && (in.VMState == model.VMActive || in.VMState == model.VMStopped):
		u.PowerState = &power
	case ev.VNCPort != 0 && ev.VNCPort != in.VNCPort:
		port := ev.VNCPort
		u.VNCPort = &port
	default:
		return nil
	}
	return ignoreConflict(tx.UpdateInstance(ctx, u))
}

func ignoreConflict(err error) error {
	if errors.Is(err, fault.ErrConflict) {
		return nil
	}
	return err
}
