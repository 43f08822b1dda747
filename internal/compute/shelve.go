package compute

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// Shelve snapshots an instance into "<name>-shelved" and powers it off
// (SHELVED); its host is freed when it is offloaded, at once or after
// ShelvedOffload. Unshelve (Act) powers it on again where it is, or,
// offloaded, schedules it anew from the snapshot, which is then deleted.
func (s *Service) Shelve(ctx context.Context, caller *model.Token, id, requestID string) error {
	if s.opt.Images == nil {
		return fault.Conflict("shelving is not available: no image service")
	}
	cur, err := s.visibleInstance(ctx, caller, id, policy.ServerAction)
	if err != nil {
		return err
	}
	_, err = s.snapshotAct(ctx, caller, cur, ActionShelve, cur.Name+"-shelved", nil, requestID, true)
	return err
}

// afterJob is what a finished job leaves to do besides its state change:
// in the same transaction (the update u, a follow-up action), or once it
// has committed (an image to delete).
type afterJob struct {
	dropImage string // delete this image once committed
	offload   bool   // offload the instance now (shelved, ShelvedOffload 0)
	// chain is a move's next step, for chainHost; removeDisk the
	// migration whose relayed disk goes once committed.
	chain      *queue.Job
	chainHost  string
	removeDisk string
	// gone: the instance was deleted; its volumes are let go once committed.
	gone string
}

// jobEffects adds to a finished job's update what the job means beyond
// the table's states: a shelved instance's snapshot and clock, an
// offloaded one's freed host, an unshelved one's snapshot gone.
func (s *Service) jobEffects(ctx context.Context, tx *store.Store, in model.Instance, by Trigger, next Next, u *store.InstanceUpdate) (afterJob, error) {
	var after afterJob
	switch {
	case by.Kind == Done && next.VM == model.VMShelved:
		u.Shelved = true
		after.offload = s.opt.ShelvedOffload == 0
	case by.Kind == Failed && by.Job == queue.JobShelve:
		none := ""
		u.ShelvedImage = &none // the failed snapshot's image is discarded
	case by.Kind == Done && next.VM == model.VMShelvedOffloaded:
		// The host is free: no domain, no claim.
		power, port := model.PowerNoState, 0
		u.ClearHost, u.PowerState, u.VNCPort = true, &power, &port
		if err := tx.ReleaseClaim(ctx, in.ID); err != nil {
			return after, err
		}
	case by.Kind == Done && next.VM == model.VMSoftDeleted:
		u.SoftDeleted = true
	case by.Kind == Done && in.VMState == model.VMSoftDeleted:
		u.Restored = true
	case by.Kind == Done && next.VM == model.VMActive && in.ShelvedImageID != "":
		// Unshelved: the snapshot it was kept in goes, as Nova deletes it.
		none := ""
		u.ShelvedImage, after.dropImage = &none, in.ShelvedImageID
	}
	return after, nil
}

// offload begins offloading a shelved instance on Nimbus's own account.
func (s *Service) offload(ctx context.Context, tx *store.Store, in model.Instance) error {
	return s.beginOwn(ctx, tx, in, ActionOffload)
}

// beginOwn begins an action Nimbus takes itself (an offload, a reclaim),
// recorded for the instance's owner under a request id of its own, when
// the instance's state still allows it.
func (s *Service) beginOwn(ctx context.Context, tx *store.Store, in model.Instance, a Action) error {
	if _, err := Begin(a, in.VMState, in.TaskState); err != nil {
		return nil // moved on meanwhile
	}
	_, err := s.begin(ctx, tx, actor{in.UserID, in.ProjectID}, in, a, "req-"+uuid.NewString(), nil)
	return err
}

// OffloadShelved offloads instances shelved longer than ShelvedOffload
// (when it is positive). It returns how many it began to offload.
func (s *Service) OffloadShelved(ctx context.Context, now time.Time) (int, error) {
	if s.opt.ShelvedOffload <= 0 {
		return 0, nil
	}
	due, err := s.store.ShelvedBefore(ctx, now.Add(-s.opt.ShelvedOffload), 100)
	if err != nil {
		return 0, err
	}
	return s.beginOwnEach(ctx, due, ActionOffload)
}

// ReclaimDeleted deletes for good instances soft-deleted longer than
// Reclaim ago. It returns how many it began to delete.
func (s *Service) ReclaimDeleted(ctx context.Context, now time.Time) (int, error) {
	if s.opt.Reclaim <= 0 {
		return 0, nil
	}
	due, err := s.store.SoftDeletedBefore(ctx, now.Add(-s.opt.Reclaim), 100)
	if err != nil {
		return 0, err
	}
	return s.beginOwnEach(ctx, due, ActionForceDelete)
}

// beginOwnEach begins a on each instance (each in its own transaction,
// with the instance locked) whose state still allows it, and returns how
// many it began.
func (s *Service) beginOwnEach(ctx context.Context, ids []string, a Action) (int, error) {
	n := 0
	for _, id := range ids {
		err := s.store.Tx(ctx, func(tx *store.Store) error {
			in, err := tx.LockInstance(ctx, id)
			if err != nil {
				return ignoreNotFound(err)
			}
			if _, err := Begin(a, in.VMState, in.TaskState); err != nil {
				return nil // moved on meanwhile
			}
			n++
			return s.beginOwn(ctx, tx, in, a)
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

// dropImage deletes an image Nimbus made for an instance (a shelved
// snapshot no longer needed).
func (s *Service) dropImage(ctx context.Context, id string) {
	if id == "" || s.opt.Images == nil {
		return
	}
	if err := s.opt.Images.Drop(ctx, id); err != nil {
		s.log.Warn("delete a shelved instance's snapshot", "image_id", id, "error", err)
	}
}
