package compute

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// Act begins an action on an instance: it checks the lifecycle table
// and the lock, sets the task, records the action and enqueues the job,
// all in one transaction, and returns at once (the API answers 202).
func (s *Service) Act(ctx context.Context, caller *model.Token, id string, a Action, requestID string) error {
	_, err := s.act(ctx, caller, id, a, requestID, nil)
	return err
}

// definesDomain are the jobs that define the instance's domain again, so
// they carry its build spec.
var definesDomain = map[queue.JobKind]bool{queue.JobRebuild: true, queue.JobRescue: true, queue.JobUnrescue: true}

// shaper adds to an action's job and to the instance's change what the
// action carries (a rebuild's image, a snapshot's image); it runs with
// the instance locked, after the lifecycle table allowed the action.
type shaper func(tx *store.Store, in model.Instance, j *queue.Job, u *store.InstanceUpdate) error

// act is Act with a shaper; it returns the instance as it was when the
// action began.
func (s *Service) act(ctx context.Context, caller *model.Token, id string, a Action, requestID string, shape shaper) (model.Instance, error) {
	op := policy.ServerAction
	switch a {
	case ActionDelete, ActionForceDelete:
		op = policy.DeleteServer
	case ActionOffload:
		op = policy.ShelveOffload
	}
	cur, err := s.visibleInstance(ctx, caller, id, op)
	if err != nil {
		return model.Instance{}, err
	}
	// The canonical id from here on: jobs, agents' domain names and
	// console revocations are keyed by it, whatever case the path used.
	id = cur.ID
	var next Next
	var began model.Instance
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		in, err := tx.LockInstance(ctx, id)
		if err != nil {
			return fault.NotFoundAs(err, notFound(id))
		}
		began = in
		if err := checkLock(caller, in, a); err != nil {
			return err
		}
		if a == ActionDelete && in.TaskState == model.TaskDeleting {
			// Already being deleted: the job may have been lost, so a
			// repeated delete sends it again (or finishes the delete when
			// the host is down); the agent's delete is idempotent.
			return s.resend(ctx, tx, in, time.Now())
		}
		if a == ActionDelete && s.opt.Reclaim > 0 && in.LaunchedAt != nil {
			if _, err := Begin(ActionSoftDelete, in.VMState, in.TaskState); err == nil {
				a = ActionSoftDelete // restorable until reclaimed
			}
		}
		next, err = s.begin(ctx, tx, actor{caller.UserID, caller.ProjectID}, in, a, requestID, shape)
		if errors.Is(err, fault.ErrNotFound) {
			return notFound(id)
		}
		if err == nil && next.Job == "" {
			return s.setLock(ctx, tx, caller, in, a)
		}
		return err
	})
	if err == nil {
		s.opt.Kick()
		if a == ActionDelete && began.Host == "" {
			s.dropImage(ctx, began.ShelvedImageID) // deleted at once: no host had it
		}
		if next.EndsScreen {
			// The screen goes away (a hard reboot starts a new VNC
			// server): no console outlives the request that ended it.
			s.revokeConsoles(ctx, id)
		}
	}
	return began, err
}

// actor is who an action is recorded for: the caller, or for actions
// Nimbus takes itself (a shelved instance offloaded), the instance's
// owner.
type actor struct{ userID, projectID string }

// begin begins action a on in (locked by the caller's transaction): the
// lifecycle table's answer, the action record, and, when a host is to do
// something, the task, the kept job, the event and the job in the outbox
// (to the scheduler for a job that needs a host first).
// redefines are the actions that define the instance's domain anew.
var redefines = map[Action]bool{ActionRebuild: true, ActionRescue: true, ActionShelve: true,
	ActionResize: true, ActionMigrate: true}

func (s *Service) begin(ctx context.Context, tx *store.Store, by actor, in model.Instance, a Action, requestID string, shape shaper) (Next, error) {
	next, err := Begin(a, in.VMState, in.TaskState)
	if err != nil {
		return next, err
	}
	if a == ActionSnapshot && bootsFromVolume(in) {
		// Nova snapshots the boot volume and makes an image naming it;
		// not yet here: the volume's own snapshot is the way.
		return next, fault.Conflict("Cannot 'createImage' instance %s: it boots from a volume; snapshot the volume instead.", in.ID)
	}
	if redefines[a] && len(in.Volumes) > 0 {
		// These make the domain anew (elsewhere, or from an image), and
		// the new one would not have the volumes: refused until it would.
		return next, fault.Conflict("Cannot '%s' instance %s while it has volumes attached; detach them first.", a, in.ID)
	}
	actionID, err := tx.InsertAction(ctx, model.InstanceAction{InstanceID: in.ID, Action: next.Record,
		RequestID: requestID, UserID: by.userID, ProjectID: by.projectID})
	if err != nil || next.Job == "" {
		return next, err
	}
	stream := queue.HostStream(s.opt.RedisPrefix, in.Host)
	switch {
	case next.Job == queue.JobSchedule:
		stream = queue.SchedulerStream(s.opt.RedisPrefix)
	case in.Host == "":
		// Never placed (or placement failed): nothing runs anywhere.
		if a != ActionDelete {
			return next, fault.Conflict("Cannot '%s' instance %s: it has no host", a, in.ID)
		}
		return next, s.finishDelete(ctx, tx, in, actionID, "")
	}
	j := queue.Job{V: queue.Version, Kind: next.Job, InstanceID: in.ID, RequestID: requestID, ActionID: actionID, Hard: next.Hard}
	u := store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState}, FromTask: []model.TaskState{in.TaskState},
		VMState: &next.VM, TaskState: &next.Task, TaskAction: &actionID}
	if _, move := moveJobs[j.Kind]; move {
		m, err := tx.OpenMigration(ctx, in.ID)
		if err != nil {
			return next, err
		}
		host, err := s.shapeMove(ctx, tx, in, m, &j, &u)
		if err != nil {
			return next, err
		}
		stream = queue.HostStream(s.opt.RedisPrefix, host)
	}
	if definesDomain[j.Kind] {
		// The domain is defined anew from what the instance is.
		j.Build = s.buildSpec(in, s.instanceImage(ctx, in))
	}
	if shape != nil {
		if err := shape(tx, in, &j, &u); err != nil {
			return next, err
		}
	}
	// The job is kept with the task, so it can be sent again as it was.
	if u.TaskJob, err = json.Marshal(j); err != nil {
		return next, err
	}
	if err := tx.UpdateInstance(ctx, u); err != nil {
		return next, err
	}
	if err := tx.StartEvent(ctx, actionID, next.Event, in.Host, time.Now()); err != nil {
		return next, err
	}
	return next, tx.Enqueue(ctx, stream, j)
}

// ResetState is an admin's os-resetState: the instance to ACTIVE (or
// ERROR) with no task, whatever was running; a late report of the job it
// waited for then changes nothing (the lifecycle table has no row for
// it).
func (s *Service) ResetState(ctx context.Context, caller *model.Token, id string, toError bool) error {
	cur, err := s.visibleInstance(ctx, caller, id, policy.ResetState)
	if err != nil {
		return err
	}
	by := Trigger{Kind: ResetActive}
	if toError {
		by.Kind = ResetError
	}
	var next Next
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		in, err := tx.LockInstance(ctx, cur.ID)
		if err != nil {
			return fault.NotFoundAs(err, notFound(cur.ID))
		}
		if next, err = Transition(State{in.VMState, in.TaskState}, by); err != nil {
			return notFound(cur.ID) // deleted
		}
		return tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState},
			FromTask: []model.TaskState{in.TaskState}, VMState: &next.VM, TaskState: &next.Task})
	})
	if err == nil && next.EndsScreen {
		s.revokeConsoles(ctx, cur.ID)
	}
	return err
}
