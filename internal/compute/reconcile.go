package compute

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// Reconcile repairs tasks whose job never finished: a job lost with a
// Redis that restarted without its data, a host that went away. Every
// task whose job was sent more than TaskResend ago has it sent again
// (jobs are idempotent, and agents remember the jobs they have done, so a
// job that was only slow is not done twice); a delete whose host is down
// completes locally, and its domain is removed when the host returns (as
// Nova's local delete); another task on a down host is given up, the
// instance left as it was. Builds past their deadline are ReapBuilds'.
// It returns how many instances it acted on.
func (s *Service) Reconcile(ctx context.Context, now time.Time) (int, error) {
	stuck, err := s.store.InstancesInTask(ctx, now.Add(-s.opt.TaskResend), 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, in := range stuck {
		err := s.store.Tx(ctx, func(tx *store.Store) error {
			cur, err := tx.LockInstance(ctx, in.ID)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if cur.TaskState != in.TaskState || cur.TaskActionID != in.TaskActionID || !sameTime(cur.TaskSentAt, in.TaskSentAt) {
				return nil // moved on, or another controller re-sent it
			}
			n++
			return s.resend(ctx, tx, cur, now)
		})
		if err != nil {
			return n, err
		}
	}
	if n > 0 {
		s.opt.Kick()
	}
	return n, nil
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// resend sends again the job the instance's task waits for, in the
// caller's transaction, or settles the task when its host is down.
func (s *Service) resend(ctx context.Context, tx *store.Store, in model.Instance, now time.Time) error {
	job, hard, record := taskJob(State{in.VMState, in.TaskState})
	actionID := in.TaskActionID
	if actionID == 0 {
		id, err := tx.ActionByRequestKind(ctx, in.ID, record)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		actionID = id
	}
	if job == queue.JobSchedule {
		return s.sendAgain(ctx, tx, in, queue.SchedulerStream(s.opt.RedisPrefix), queue.Job{V: queue.Version,
			Kind: queue.JobSchedule, InstanceID: in.ID, ActionID: actionID})
	}
	if in.Host == "" {
		if in.TaskState == model.TaskDeleting {
			return s.finishDelete(ctx, tx, in, actionID, "")
		}
		return nil
	}
	var kept queue.Job
	if len(in.TaskJob) > 0 && json.Unmarshal(in.TaskJob, &kept) == nil && kept.ActionID == actionID && kept.Kind != "" {
		job = kept.Kind
	}
	target := in.Host
	end, move := moveJobs[job]
	if move {
		// A move's step runs on one of its two hosts.
		m, err := tx.OpenMigration(ctx, in.ID)
		if err != nil {
			return ignoreNotFound(err)
		}
		target = end.host(m)
	}
	up, err := s.hostUp(ctx, tx, target, now)
	if err != nil {
		return err
	}
	if move && !up {
		// Given up as if the host had failed it: the move's own rules
		// (claims, the next step on the other host) apply.
		_, _, err := s.finishJob(ctx, tx, in, queue.Event{Kind: queue.EventFailed, Job: job, InstanceID: in.ID,
			ActionID: actionID, Host: target, Details: "compute host " + target + " is down", At: now})
		return err
	}
	if !up {
		switch {
		case in.TaskState == model.TaskDeleting:
			s.log.Warn("host down: instance deleted locally; its domain goes when the host returns",
				"host", in.Host, "instance_id", in.ID)
			return s.finishDelete(ctx, tx, in, actionID, in.Host)
		case in.VMState == model.VMBuilding:
			return nil // the build deadline settles it (ReapBuilds)
		case in.TaskState == model.TaskSpawning:
			// An unshelve whose host died: offloaded again, its claim freed.
			if err := tx.ReleaseClaim(ctx, in.ID); err != nil {
				return err
			}
			return s.failPlacement(ctx, tx, in, actionID, in.Host, Trigger{Kind: Failed, Job: queue.JobBuild},
				"The compute host went away while unshelving the instance.", "compute host "+in.Host+" is down")
		}
		// Given up: as if the host had failed the job.
		next, err := Transition(State{in.VMState, in.TaskState}, Trigger{Kind: Failed, Job: job})
		if err != nil {
			return nil
		}
		if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromVM: []model.VMState{in.VMState},
			FromTask: []model.TaskState{in.TaskState}, VMState: &next.VM, TaskState: &next.Task}); err != nil {
			return ignoreConflict(err)
		}
		return tx.FinishEvent(ctx, actionID, "compute_"+record+"_instance", in.Host, "Error",
			"compute host "+in.Host+" is down", now)
	}
	j := queue.Job{V: queue.Version, Kind: job, Hard: hard, InstanceID: in.ID, ActionID: actionID}
	if kept.Kind != "" {
		j = kept // as sent, with what the row does not hold (a snapshot's image)
	}
	if j.Kind == "" {
		return nil
	}
	if j.Snapshot != nil {
		j.Snapshot.UploadURL = s.opt.UploadURL(j.Snapshot.ImageID) // a fresh signature
	}
	// Image URLs are signed for a while only: made afresh.
	if j.Kind == queue.JobBuild {
		var im model.Image
		if !bootsFromVolume(in) {
			var err error
			if im, err = tx.Image(ctx, in.ImageID); err != nil {
				return ignoreNotFound(err) // the build deadline settles it
			}
		}
		var vols []queue.VolumeDisk // given to this host when it was placed
		if j.Build != nil {
			vols = j.Build.Volumes
		}
		j.Build = s.buildSpec(in, im)
		j.Build.Volumes = vols
	} else if j.Build != nil {
		j.Build = s.buildSpec(in, s.instanceImage(ctx, in))
	}
	if j.Rescue != nil && j.Rescue.Image != nil {
		j.Rescue.Image.URL = s.opt.ImageURL(j.Rescue.Image.ID)
	}
	if j.Move != nil && j.Move.PutURL != "" {
		j.Move.PutURL = s.opt.DiskPutURL(j.Move.Migration)
	}
	if j.Move != nil && j.Move.GetURL != "" {
		j.Move.GetURL = s.opt.DiskGetURL(j.Move.Migration)
	}
	return s.sendAgain(ctx, tx, in, queue.HostStream(s.opt.RedisPrefix, target), j)
}

func (s *Service) sendAgain(ctx context.Context, tx *store.Store, in model.Instance, stream string, j queue.Job) error {
	s.log.Info("sending a task's job again", "instance_id", in.ID, "task", in.TaskState, "job", j.Kind)
	if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, FromTask: []model.TaskState{in.TaskState},
		Resent: true}); err != nil {
		return ignoreConflict(err)
	}
	return tx.Enqueue(ctx, stream, j)
}

// hostUp says whether host has reported within the liveness window.
func (s *Service) hostUp(ctx context.Context, tx *store.Store, host string, now time.Time) (bool, error) {
	h, err := tx.Host(ctx, host)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.liveness(ctx).up(h, now, s.opt.AgentLiveness), nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
