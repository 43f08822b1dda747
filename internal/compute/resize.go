package compute

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// Resize and cold migration (Nova's resize, migrate, confirmResize,
// revertResize). A move is a migration row (os-migrations) and the
// lifecycle's move rows (moveRows): the scheduler picks a destination and
// claims the new flavor there, the source powers the guest off, parks its
// files and sends the disk through the controller's relay
// (internal/image/disks.go), the destination fetches it, checks it, grows
// it to the new flavor and starts it (VERIFY_RESIZE). Confirm removes the
// source's parked copy; revert removes the destination's and starts the
// source's again. The migration holds both hosts' claims while it is
// open (store.InsertMigration); the instance's flavor is the new one from
// the request on, so quota counts it at once, and the old one again from
// a revert on.

// Resize begins a resize of an instance to flavorRef.
func (s *Service) Resize(ctx context.Context, caller *model.Token, id, flavorRef, requestID string) error {
	cur, err := s.visibleInstance(ctx, caller, id, policy.ServerAction)
	if err != nil {
		return err
	}
	f, err := s.Flavor(ctx, caller, flavorRef)
	if errors.Is(err, fault.ErrNotFound) {
		return fault.Invalid("flavorRef", "Unable to find flavor %s.", flavorRef)
	}
	if err != nil {
		return err
	}
	if f.ID == cur.FlavorID {
		return fault.Invalid("flavorRef", "When resizing, instances must change flavor!")
	}
	if f.DiskGB < cur.RootGB {
		return fault.Invalid("flavorRef", "Resizing to a smaller disk is not supported: flavor %s has a %d GB root disk, the instance %d GB.",
			f.Name, f.DiskGB, cur.RootGB)
	}
	return s.move(ctx, caller, cur.ID, ActionResize, f, "", requestID)
}

// Migrate begins an admin's cold migration to another host (host, when
// named, as Nova's 2.56).
func (s *Service) Migrate(ctx context.Context, caller *model.Token, id, host, requestID string) error {
	cur, err := s.visibleInstance(ctx, caller, id, policy.MigrateServer)
	if err != nil {
		return err
	}
	if host != "" {
		if _, err := s.store.Host(ctx, host); err != nil {
			return fault.NotFoundAs(err, fault.Invalid("host", "Compute host %s could not be found.", host))
		}
		if host == cur.Host {
			return fault.Invalid("host", "The target host can't be the same one.")
		}
	}
	return s.move(ctx, caller, cur.ID, ActionMigrate, cur.Flavor(), host, requestID)
}

// move begins a resize or migration to flavor f: the lock and the state
// as for any action, the quota for what f adds (403 before anything
// moves), the migration recorded and holding the source's claim, the
// instance given f.
func (s *Service) move(ctx context.Context, caller *model.Token, id string, a Action, f model.Flavor, host, requestID string) error {
	_, err := s.act(ctx, caller, id, a, requestID, func(tx *store.Store, in model.Instance, _ *queue.Job, u *store.InstanceUpdate) error {
		if in.Host == "" {
			return fault.Conflict("Cannot '%s' instance %s: it has no host", a, in.ID)
		}
		if err := s.moveFits(ctx, tx, in, f); err != nil {
			return err
		}
		typ := "resize"
		if a == ActionMigrate {
			typ = "migration"
		}
		if _, err := tx.InsertMigration(ctx, model.Migration{UUID: uuid.NewString(), InstanceID: in.ID,
			ProjectID: in.ProjectID, UserID: caller.UserID, Type: typ, SourceHost: in.Host, RequestedHost: host,
			OldFlavor: in.Flavor(), NewFlavor: f}); err != nil {
			if errors.Is(err, store.ErrDuplicate) {
				return fault.Conflict("Instance %s is already being moved.", in.ID)
			}
			return err
		}
		u.Flavor = &f
		return nil
	})
	return err
}

// moveFits checks the project's cores and RAM quota for what the new
// flavor adds (a smaller one always fits).
func (s *Service) moveFits(ctx context.Context, tx *store.Store, in model.Instance, f model.Flavor) error {
	cores, ram := f.VCPUs-in.VCPUs, f.RAMMB-in.MemoryMB
	if cores <= 0 && ram <= 0 {
		return nil
	}
	limits, used, err := tx.LockQuota(ctx, in.ProjectID)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		res        string
		used, more int
	}{{"cores", used.Cores, cores}, {"ram", used.RAMMB, ram}} {
		if l, ok := limits[c.res]; ok && l >= 0 && c.more > 0 && c.used+c.more > l {
			return &fault.OverQuota{Resource: c.res, Limit: l, Used: c.used, Requested: c.more}
		}
	}
	return nil
}

// ConfirmResize ends a resize (or migration) where it is: the source's
// copy goes.
func (s *Service) ConfirmResize(ctx context.Context, caller *model.Token, id, requestID string) error {
	return s.Act(ctx, caller, id, ActionConfirm, requestID)
}

// RevertResize takes a resized (or migrated) instance back to its old
// flavor and host, with the disk it had there.
func (s *Service) RevertResize(ctx context.Context, caller *model.Token, id, requestID string) error {
	return s.Act(ctx, caller, id, ActionRevert, requestID)
}

// moveJobs are the jobs of a move; each runs on one of its two hosts.
var moveJobs = map[queue.JobKind]migrationEnd{queue.JobResizeOut: source, queue.JobResizeIn: dest,
	queue.JobConfirmMove: source, queue.JobRevertMove: dest, queue.JobFinishRevert: source}

type migrationEnd int

const (
	source migrationEnd = iota
	dest
)

func (e migrationEnd) host(m model.Migration) string {
	if e == source {
		return m.SourceHost
	}
	return m.DestHost
}

// shapeMove fills a move job for the instance in (its migration m): what
// the host needs, and the migration's and instance's changes its sending
// makes. It returns the host the job goes to.
func (s *Service) shapeMove(ctx context.Context, tx *store.Store, in model.Instance, m model.Migration, j *queue.Job, u *store.InstanceUpdate) (string, error) {
	j.Move = &queue.Move{Migration: m.UUID, RootGB: m.NewFlavor.DiskGB}
	mu := store.MigrationUpdate{ID: m.ID}
	switch j.Kind {
	case queue.JobResizeOut:
		j.Move.PutURL, j.Move.RootGB = s.opt.DiskPutURL(m.UUID), m.OldFlavor.DiskGB
		// What the source needs to start its guest again if the disk
		// cannot be sent: its domain as it is.
		j.Build, j.KeepOff = s.buildWith(ctx, in, m.OldFlavor), in.VMState == model.VMStopped
		mu.Status = model.MigrationMigrating
	case queue.JobResizeIn:
		j.Move.GetURL, j.Move.SHA512, j.Move.Size = s.opt.DiskGetURL(m.UUID), m.DiskSHA512, m.DiskSize
		j.Build, j.KeepOff = s.buildWith(ctx, in, m.NewFlavor), in.VMState == model.VMStopped
		mu.Status = model.MigrationPostMigrating
	case queue.JobConfirmMove:
		mu.Status = model.MigrationConfirming
	case queue.JobRevertMove:
		mu.Status = model.MigrationReverting
		// The old flavor from here on: quota counts it again.
		u.Flavor = &m.OldFlavor
	case queue.JobFinishRevert:
		// The source's domain is defined again as it was, and started
		// unless the instance was off (before the resize, or resized).
		j.Build = s.buildWith(ctx, in, m.OldFlavor)
		j.KeepOff = in.VMState == model.VMStopped || (in.VMState == model.VMResized && in.PowerState.Off())
		u.Flavor = &m.OldFlavor
		mu.Status = model.MigrationReverting
	}
	if err := tx.UpdateMigration(ctx, mu); err != nil {
		return "", err
	}
	return moveJobs[j.Kind].host(m), nil
}

// moveEffects is what a move's finished step does besides its state
// change (called by jobEffects): the migration's status, the claims, the
// instance's host and flavor, the relayed disk, and the next step's job.
func (s *Service) moveEffects(ctx context.Context, tx *store.Store, in model.Instance, ev queue.Event, by Trigger, next Next,
	u *store.InstanceUpdate) (afterJob, error) {
	var after afterJob
	m, err := tx.OpenMigration(ctx, in.ID)
	if errors.Is(err, store.ErrNotFound) {
		return after, nil
	}
	if err != nil {
		return after, err
	}
	mu := store.MigrationUpdate{ID: m.ID}
	switch {
	case by == Trigger{Kind: Done, Job: queue.JobResizeOut}:
		mu.DiskSHA512, mu.DiskSize = &ev.SHA512, ev.Size
		m.DiskSHA512, m.DiskSize = ev.SHA512, ev.Size
	case by == Trigger{Kind: Done, Job: queue.JobResizeIn}:
		// On the destination now, until confirmed or reverted.
		u.Host = &m.DestHost
		mu.Status, mu.Finished = model.MigrationFinished, true
	case by == Trigger{Kind: Failed, Job: queue.JobResizeOut}:
		// Never left the source.
		mu.Status, after.removeDisk = model.MigrationError, m.UUID
		if err := s.backToSource(ctx, tx, m, u); err != nil {
			return after, err
		}
	case by == Trigger{Kind: Done, Job: queue.JobConfirmMove}, by == Trigger{Kind: Failed, Job: queue.JobConfirmMove}:
		mu.Status, after.removeDisk = model.MigrationConfirmed, m.UUID
		if by.Kind == Failed {
			mu.Status = model.MigrationError
		}
		if err := s.endMove(ctx, tx, m, dest); err != nil {
			return after, err
		}
	case by.Job == queue.JobFinishRevert || (by.Kind == Failed && by.Job == queue.JobRevertMove):
		// Back on the source (its guest started again, or, failed, in
		// ERROR there), with the old flavor.
		u.Host = &m.SourceHost
		mu.Status, after.removeDisk = model.MigrationReverted, m.UUID
		if by.Kind == Failed || in.VMState != model.VMResized {
			mu.Status = model.MigrationError // a failed revert, or a resize that failed on the destination
		}
		if err := s.backToSource(ctx, tx, m, u); err != nil {
			return after, err
		}
	}
	power := ev.Power // the source's guest, started again or not
	if by == (Trigger{Kind: Done, Job: queue.JobConfirmMove}) {
		power = in.PowerState // the source has no guest: the destination's, as last reported
		u.PowerState = &power
	}
	if by.Kind == Done && next.VM == model.VMActive && power.Off() {
		stopped := model.VMStopped // the guest is off: it stays so (Nova's rule)
		u.VMState = &stopped
	}
	if next.Job != "" {
		// The next step, on the other host, waits under the same action.
		j := queue.Job{V: queue.Version, Kind: next.Job, InstanceID: in.ID, RequestID: ev.RequestID, ActionID: ev.ActionID}
		host, err := s.shapeMove(ctx, tx, in, m, &j, u)
		if err != nil {
			return after, err
		}
		if u.TaskJob, err = json.Marshal(j); err != nil {
			return after, err
		}
		after.chain, after.chainHost = &j, host
		mu.Status = "" // shapeMove set it
	}
	if mu.Status != "" || mu.DiskSHA512 != nil {
		if err := tx.UpdateMigration(ctx, mu); err != nil {
			return after, err
		}
	}
	return after, nil
}

// buildWith is the build spec of in with flavor f's sizes (a move's
// domain on one of its hosts).
func (s *Service) buildWith(ctx context.Context, in model.Instance, f model.Flavor) *queue.Build {
	in.VCPUs, in.MemoryMB, in.RootGB = f.VCPUs, f.RAMMB, f.DiskGB
	return s.buildSpec(in, s.instanceImage(ctx, in))
}

// backToSource ends a move with the instance on its source: its old
// flavor back (u), the source's claim given back to it, the destination's
// (if any) released.
func (s *Service) backToSource(ctx context.Context, tx *store.Store, m model.Migration, u *store.InstanceUpdate) error {
	u.Flavor = &m.OldFlavor
	return s.endMove(ctx, tx, m, source)
}

// endMove closes a migration's claims with the instance living on keep:
// that end's claim goes to the instance, the other end's is released.
func (s *Service) endMove(ctx context.Context, tx *store.Store, m model.Migration, keep migrationEnd) error {
	release, give := store.Dest, store.Source
	if keep == dest {
		release, give = store.Source, store.Dest
	}
	if err := tx.ReleaseMigrationClaim(ctx, m.ID, release); err != nil {
		return err
	}
	return tx.GiveMigrationClaim(ctx, m.ID, give)
}

// abandonMove closes an open migration of a deleted instance: both
// claims released, the relayed disk and the other host's copy removed.
func (s *Service) abandonMove(ctx context.Context, tx *store.Store, in model.Instance) (string, error) {
	m, err := tx.OpenMigration(ctx, in.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	for _, side := range []store.MigrationSide{store.Source, store.Dest} {
		if err := tx.ReleaseMigrationClaim(ctx, m.ID, side); err != nil {
			return "", err
		}
	}
	if err := tx.UpdateMigration(ctx, store.MigrationUpdate{ID: m.ID, Status: model.MigrationError}); err != nil {
		return "", err
	}
	for _, h := range []string{m.SourceHost, m.DestHost} {
		if h != "" && h != in.Host {
			if err := s.enqueueCleanup(ctx, tx, h, in.ID); err != nil {
				return "", err
			}
		}
	}
	return m.UUID, nil
}

// removeDisk removes a migration's relayed disk once the move is over.
func (s *Service) removeDisk(id string) {
	if id == "" || s.opt.Images == nil {
		return
	}
	if err := s.opt.Images.RemoveDisk(id); err != nil {
		s.log.Warn("remove a migration's relayed disk", "migration", id, "error", err)
	}
}

// ConfirmResized confirms resizes left in VERIFY_RESIZE longer than
// ResizeConfirmWindow (Nova's resize_confirm_window; 0: never). It
// returns how many it began to confirm.
func (s *Service) ConfirmResized(ctx context.Context, now time.Time) (int, error) {
	if s.opt.ResizeConfirmWindow <= 0 {
		return 0, nil
	}
	due, err := s.store.ResizedBefore(ctx, now.Add(-s.opt.ResizeConfirmWindow), 100)
	if err != nil {
		return 0, err
	}
	return s.beginOwnEach(ctx, due, ActionConfirm)
}

// Migrations lists moves (os-migrations; admin): filtered as asked.
func (s *Service) Migrations(ctx context.Context, caller *model.Token, f store.MigrationFilter) ([]model.Migration, error) {
	if err := policy.Check(caller, policy.ListMigrations, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return nil, err
	}
	return s.store.Migrations(ctx, f)
}

// ServerMigrations lists an instance's moves in progress
// (/servers/{id}/migrations; admin).
func (s *Service) ServerMigrations(ctx context.Context, caller *model.Token, id string) ([]model.Migration, error) {
	in, err := s.visibleInstance(ctx, caller, id, policy.ListMigrations)
	if err != nil {
		return nil, err
	}
	return s.store.Migrations(ctx, store.MigrationFilter{InstanceID: in.ID, Open: true})
}

// OpenMigration returns an instance's move in progress (or waiting in
// VERIFY_RESIZE) for whoever may see the instance: the portal's banner
// names the flavor a revert goes back to.
func (s *Service) OpenMigration(ctx context.Context, caller *model.Token, id string) (model.Migration, error) {
	in, err := s.visibleInstance(ctx, caller, id, policy.GetServer)
	if err != nil {
		return model.Migration{}, err
	}
	return s.store.OpenMigration(ctx, in.ID)
}
