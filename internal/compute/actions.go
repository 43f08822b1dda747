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
	if a == ActionDelete {
		op = policy.DeleteServer
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
		next, err = Begin(a, in.VMState, in.TaskState)
		if err != nil {
			if errors.Is(err, fault.ErrNotFound) {
				return notFound(id)
			}
			return err
		}
		actionID, err := tx.InsertAction(ctx, model.InstanceAction{InstanceID: id, Action: next.Record,
			RequestID: requestID, UserID: caller.UserID, ProjectID: caller.ProjectID})
		if err != nil {
			return err
		}
		if next.Job == "" {
			return s.setLock(ctx, tx, caller, in, a)
		}
		if in.Host == "" {
			// Never placed (or placement failed): nothing runs anywhere.
			if a != ActionDelete {
				return fault.Conflict("Cannot '%s' instance %s: it has no host", a, id)
			}
			return s.finishDelete(ctx, tx, in, actionID, "")
		}
		j := queue.Job{V: queue.Version, Kind: next.Job, InstanceID: id, RequestID: requestID, ActionID: actionID, Hard: next.Hard}
		u := store.InstanceUpdate{ID: id, FromVM: []model.VMState{in.VMState}, FromTask: []model.TaskState{in.TaskState},
			VMState: &next.VM, TaskState: &next.Task, TaskAction: &actionID}
		if definesDomain[j.Kind] {
			// The domain is defined anew from what the instance is.
			j.Build = s.buildSpec(in, s.instanceImage(ctx, in))
		}
		if shape != nil {
			if err := shape(tx, in, &j, &u); err != nil {
				return err
			}
		}
		// The job is kept with the task, so it can be sent again as it was.
		if u.TaskJob, err = json.Marshal(j); err != nil {
			return err
		}
		if err := tx.UpdateInstance(ctx, u); err != nil {
			return err
		}
		if err := tx.StartEvent(ctx, actionID, next.Event, in.Host, time.Now()); err != nil {
			return err
		}
		return tx.Enqueue(ctx, queue.HostStream(s.opt.RedisPrefix, in.Host), j)
	})
	if err == nil {
		s.opt.Kick()
		if next.EndsScreen {
			// The screen goes away (a hard reboot starts a new VNC
			// server): no console outlives the request that ended it.
			s.revokeConsoles(ctx, id)
		}
	}
	return began, err
}
