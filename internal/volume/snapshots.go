package volume

import (
	"context"
	"errors"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// Snapshots: a copy of a volume at one moment, kept on the volume's host.

// GetSnapshot returns a snapshot the caller may see.
func (s *Service) GetSnapshot(ctx context.Context, caller *model.Token, id string) (model.VolumeSnapshot, error) {
	sn, err := s.store.Snapshot(ctx, id)
	if err != nil {
		return sn, fault.NotFoundAs(err, SnapshotNotFound(id))
	}
	if !policy.Allowed(caller, policy.GetVolume, policy.Target{ProjectID: sn.ProjectID}) {
		return model.VolumeSnapshot{}, SnapshotNotFound(id)
	}
	return sn, nil
}

// Snapshots lists the caller's project's snapshots (every project's for
// an admin who asks), of one volume when volumeID is set.
func (s *Service) Snapshots(ctx context.Context, caller *model.Token, allProjects bool, volumeID string) ([]model.VolumeSnapshot, error) {
	if err := policy.Check(caller, policy.GetVolume, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return nil, err
	}
	project := caller.ProjectID
	if allProjects && policy.Allowed(caller, policy.ListAllVolumes, policy.Target{}) {
		project = ""
	}
	return s.store.Snapshots(ctx, project, volumeID)
}

// SnapshotInput is a new snapshot.
type SnapshotInput struct {
	VolumeID, Name, Description string
	Force                       bool
	Metadata                    map[string]string
}

// CreateSnapshot records a snapshot (creating) and has the volume's host
// copy the volume.
func (s *Service) CreateSnapshot(ctx context.Context, caller *model.Token, in SnapshotInput) (model.VolumeSnapshot, error) {
	sn := model.VolumeSnapshot{ID: newID(), VolumeID: in.VolumeID, ProjectID: caller.ProjectID, UserID: caller.UserID,
		Name: in.Name, Description: in.Description, Status: "creating", Metadata: in.Metadata}
	if err := validateText(in.Name, in.Description, in.Metadata); err != nil {
		return sn, err
	}
	var v model.Volume
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if v, err = changeable(ctx, tx, caller, in.VolumeID); err != nil {
			return err
		}
		if _, err := check(v, Ask{Op: OpSnapshot, Force: in.Force}); err != nil {
			return err
		}
		sn.ProjectID, sn.SizeGB = v.ProjectID, v.SizeGB
		if err := s.reserve(ctx, tx, v.ProjectID, v.TypeName, 0, v.SizeGB, 1); err != nil {
			return err
		}
		return tx.CreateSnapshot(ctx, sn)
	})
	if err != nil {
		return sn, err
	}
	s.background(ctx, func(ctx context.Context) {
		_, err := s.call(ctx, v.Host, queue.Request{Kind: queue.CallSnapshotCreate,
			Volume: &queue.VolumeCall{ID: v.ID, SnapshotID: sn.ID}}, copyCall)
		status, msg := "available", ""
		if err != nil {
			s.log.Warn("snapshot a volume", "volume_id", v.ID, "snapshot_id", sn.ID, "error", err)
			status, msg = "error", failure("snapshot", err)
		}
		if _, err := s.store.SetSnapshotStatus(ctx, sn.ID, []string{"creating"}, status, msg); err != nil {
			s.log.Error("record a snapshot's status", "snapshot_id", sn.ID, "error", err)
		}
	})
	return s.store.Snapshot(ctx, sn.ID)
}

// UpdateSnapshot changes a snapshot's name, description and metadata.
func (s *Service) UpdateSnapshot(ctx context.Context, caller *model.Token, id string, fn func(*model.VolumeSnapshot)) (model.VolumeSnapshot, error) {
	sn, err := s.GetSnapshot(ctx, caller, id)
	if err != nil {
		return sn, err
	}
	if err := policy.Check(caller, policy.ChangeVolume, policy.Target{ProjectID: sn.ProjectID}); err != nil {
		return sn, err
	}
	fn(&sn)
	if err := validateText(sn.Name, sn.Description, sn.Metadata); err != nil {
		return sn, err
	}
	if err := s.store.UpdateSnapshot(ctx, sn); err != nil {
		return sn, err
	}
	return s.store.Snapshot(ctx, id)
}

// DeleteSnapshot removes a snapshot that is available or error.
func (s *Service) DeleteSnapshot(ctx context.Context, caller *model.Token, id string) error {
	var sn model.VolumeSnapshot
	var v model.Volume
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if sn, err = tx.LockSnapshot(ctx, id); err != nil {
			return fault.NotFoundAs(err, SnapshotNotFound(id))
		}
		if !policy.Allowed(caller, policy.GetVolume, policy.Target{ProjectID: sn.ProjectID}) {
			return SnapshotNotFound(id)
		}
		if err := policy.Check(caller, policy.ChangeVolume, policy.Target{ProjectID: sn.ProjectID}); err != nil {
			return err
		}
		if sn.Status != "available" && sn.Status != "error" {
			return &Refusal{Message: "Invalid snapshot: Volume Snapshot status must be available or error, but it is '" + sn.Status + "'."}
		}
		if v, err = tx.Volume(ctx, sn.VolumeID); err != nil {
			return err
		}
		_, err = tx.SetSnapshotStatus(ctx, id, nil, "deleting", "")
		return err
	})
	if err != nil {
		return err
	}
	s.background(ctx, func(ctx context.Context) {
		if v.Host != "" {
			if _, err := s.call(ctx, v.Host, queue.Request{Kind: queue.CallSnapshotDelete,
				Volume: &queue.VolumeCall{ID: v.ID, SnapshotID: id}}, quickCall); err != nil {
				s.log.Warn("delete a snapshot", "snapshot_id", id, "error", err)
				_, _ = s.store.SetSnapshotStatus(ctx, id, []string{"deleting"}, "error_deleting", failure("delete the snapshot of", err))
				return
			}
		}
		if err := s.store.DeleteSnapshot(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("forget a deleted snapshot", "snapshot_id", id, "error", err)
		}
	})
	return nil
}
