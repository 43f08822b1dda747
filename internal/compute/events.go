package compute

import (
	"context"
	"errors"
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

// ApplyEvent applies what an agent reported. Every state change is guarded
// by the state it expects, so a replayed or late event changes nothing;
// the resource claim is released in the same transaction as the change
// that ends it, so it is released once.
func (s *Service) ApplyEvent(ctx context.Context, ev queue.Event) error {
	at := ev.At
	if at.IsZero() {
		at = time.Now()
	}
	revoke := false // the instance lost its screen: close its consoles after the commit
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		revoke = false
		in, err := tx.LockInstance(ctx, ev.InstanceID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && in.VMState == model.VMDeleted) {
			if ev.Kind == queue.EventPower && ev.Host != "" {
				// A domain on a host for an instance the database no longer
				// has: the host's reconciliation removes it.
				return tx.Enqueue(ctx, queue.HostStream(s.opt.RedisPrefix, ev.Host), queue.Job{V: queue.Version,
					Kind: queue.JobDelete, InstanceID: ev.InstanceID})
			}
			return nil
		}
		if err != nil {
			return err
		}
		// Events from a host the instance no longer lives on (an old
		// attempt) only matter for cleanup.
		stale := in.Host != ev.Host && ev.Kind != queue.EventDeleted
		switch ev.Kind {
		case queue.EventStarted:
			if ev.ActionID != 0 && ev.Step != "" {
				return tx.StartEvent(ctx, ev.ActionID, ev.Step, ev.Host, at)
			}
			return nil
		case queue.EventSpawned:
			if stale || in.VMState != model.VMBuilding || in.TaskState != model.TaskSpawning {
				if in.VMState != model.VMBuilding && in.TaskState != model.TaskDeleting {
					// A build finished after the instance gave up on it
					// (timeout, error): remove what it made.
					return tx.Enqueue(ctx, queue.HostStream(s.opt.RedisPrefix, ev.Host), queue.Job{V: queue.Version,
						Kind: queue.JobDelete, InstanceID: in.ID})
				}
				return nil
			}
			vm, task, power, port := model.VMActive, model.TaskNone, model.PowerRunning, ev.VNCPort
			if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{model.VMBuilding},
				FromTask: []model.TaskState{model.TaskSpawning}, VMState: &vm, TaskState: &task, PowerState: &power,
				VNCPort: &port, Launched: true}); err != nil {
				return ignoreConflict(err)
			}
			return tx.FinishEvent(ctx, ev.ActionID, jobEvent[queue.JobBuild], ev.Host, "Success", "", at)
		case queue.EventStopped:
			if stale {
				return nil
			}
			revoke = true
			vm, task, power := model.VMStopped, model.TaskNone, model.PowerShutdown
			if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromTask: []model.TaskState{model.TaskPoweringOff},
				VMState: &vm, TaskState: &task, PowerState: &power}); err != nil {
				return ignoreConflict(err)
			}
			return tx.FinishEvent(ctx, ev.ActionID, jobEvent[queue.JobStop], ev.Host, "Success", "", at)
		case queue.EventPoweredOn:
			if stale {
				return nil
			}
			vm, task, power, port := model.VMActive, model.TaskNone, model.PowerRunning, ev.VNCPort
			if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID,
				FromTask: []model.TaskState{model.TaskPoweringOn, model.TaskRebooting, model.TaskRebootingHard},
				VMState:  &vm, TaskState: &task, PowerState: &power, VNCPort: &port}); err != nil {
				return ignoreConflict(err)
			}
			return tx.FinishEvent(ctx, ev.ActionID, jobEvent[ev.Job], ev.Host, "Success", "", at)
		case queue.EventDeleted:
			if in.VMState == model.VMDeleted || in.TaskState != model.TaskDeleting || in.Host != ev.Host {
				return nil // cleanup of a stale domain, or a replay
			}
			revoke = true
			return s.finishDelete(ctx, tx, in, ev.ActionID, in.Host)
		case queue.EventFailed:
			if stale {
				return nil
			}
			return s.applyFailure(ctx, tx, in, ev, at)
		case queue.EventPower:
			if in.VMState == model.VMBuilding {
				return nil // the build's own events settle it
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
		if err := tx.ReleaseClaim(ctx, in.Host, in.VCPUs, in.MemoryMB, in.RootGB); err != nil {
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
			VMState: &vm, TaskState: &task, Fault: &model.Fault{Code: 500, Message: msg, Details: ev.Details, Created: at.UTC()}}); err != nil {
			return ignoreConflict(err)
		}
	default:
		// A failed stop, start or reboot leaves the instance as it was.
		task := model.TaskNone
		if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID,
			FromTask:  []model.TaskState{model.TaskPoweringOff, model.TaskPoweringOn, model.TaskRebooting, model.TaskRebootingHard},
			TaskState: &task}); err != nil {
			return ignoreConflict(err)
		}
	}
	return tx.FinishEvent(ctx, ev.ActionID, jobEvent[ev.Job], ev.Host, "Error", ev.Details, at)
}

// syncPower applies the agent's periodic power report: an instance shut
// down from inside becomes SHUTOFF, as Nova's power-state sync does.
func (s *Service) syncPower(ctx context.Context, tx *store.Store, in model.Instance, ev queue.Event) error {
	if in.Host != ev.Host {
		// A leftover of an earlier build attempt on another host.
		return tx.Enqueue(ctx, queue.HostStream(s.opt.RedisPrefix, ev.Host), queue.Job{V: queue.Version,
			Kind: queue.JobDelete, InstanceID: in.ID})
	}
	if in.TaskState != model.TaskNone {
		return nil // something is in progress; its own event will settle it
	}
	power := powerOf(ev.Power)
	u := store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState}, FromTask: []model.TaskState{model.TaskNone}}
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
