package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

const snapshotCols = `id::text, volume_id::text, project_id, user_id, name, description, size_gb, status, metadata,
	error, status_at, created_at, updated_at`

func scanSnapshot(row pgx.CollectableRow) (model.VolumeSnapshot, error) {
	var s model.VolumeSnapshot
	err := row.Scan(&s.ID, &s.VolumeID, &s.ProjectID, &s.UserID, &s.Name, &s.Description, &s.SizeGB, &s.Status,
		&s.Metadata, &s.Error, &s.StatusAt, &s.CreatedAt, &s.UpdatedAt)
	s.Metadata = nonNilMap(s.Metadata)
	return s, err
}

// CreateSnapshot inserts a volume snapshot.
func (s *Store) CreateSnapshot(ctx context.Context, sn model.VolumeSnapshot) error {
	_, err := s.db.Exec(ctx, `INSERT INTO volume_snapshots (id, volume_id, project_id, user_id, name, description,
		size_gb, status, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		sn.ID, sn.VolumeID, sn.ProjectID, sn.UserID, sn.Name, sn.Description, sn.SizeGB, sn.Status, nonNilMap(sn.Metadata))
	return mapErr(err)
}

// Snapshot returns one volume snapshot.
func (s *Store) Snapshot(ctx context.Context, id string) (model.VolumeSnapshot, error) {
	if !isUUID(id) {
		return model.VolumeSnapshot{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+snapshotCols+` FROM volume_snapshots WHERE id = $1`, id)
	sn, err := pgx.CollectExactlyOneRow(rows, scanSnapshot)
	return sn, mapErr(err)
}

// LockSnapshot returns a snapshot with its row locked for the transaction.
func (s *Store) LockSnapshot(ctx context.Context, id string) (model.VolumeSnapshot, error) {
	if !isUUID(id) {
		return model.VolumeSnapshot{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+snapshotCols+` FROM volume_snapshots WHERE id = $1 FOR UPDATE`, id)
	sn, err := pgx.CollectExactlyOneRow(rows, scanSnapshot)
	return sn, mapErr(err)
}

// Snapshots lists a project's snapshots ("" : every project's), of one
// volume when volumeID is set, newest first.
func (s *Store) Snapshots(ctx context.Context, projectID, volumeID string) ([]model.VolumeSnapshot, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+snapshotCols+` FROM volume_snapshots
		WHERE ($1 = '' OR project_id = $1) AND ($2 = '' OR volume_id::text = $2) ORDER BY created_at DESC, id DESC`,
		projectID, volumeID)
	ss, err := pgx.CollectRows(rows, scanSnapshot)
	return ss, mapErr(err)
}

// SetSnapshotStatus moves a snapshot to status when it is in one of from
// (none: any); false when it was not.
func (s *Store) SetSnapshotStatus(ctx context.Context, id string, from []string, status, errMsg string) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE volume_snapshots SET status = $2, error = $3, status_at = now(), updated_at = now()
		WHERE id = $1 AND (coalesce(cardinality($4::text[]), 0) = 0 OR status = ANY($4))`, id, status, errMsg, from)
	if err != nil {
		return false, mapErr(err)
	}
	return tag.RowsAffected() == 1, nil
}

// UpdateSnapshot sets a snapshot's name, description and metadata.
func (s *Store) UpdateSnapshot(ctx context.Context, sn model.VolumeSnapshot) error {
	return affected(s.db.Exec(ctx, `UPDATE volume_snapshots SET name = $2, description = $3, metadata = $4,
		updated_at = now() WHERE id = $1`, sn.ID, sn.Name, sn.Description, nonNilMap(sn.Metadata)))
}

// DeleteSnapshot removes a snapshot's row.
func (s *Store) DeleteSnapshot(ctx context.Context, id string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM volume_snapshots WHERE id = $1`, id))
}

// BusySnapshots lists the snapshots creating or deleting (the reaper's).
func (s *Store) BusySnapshots(ctx context.Context) ([]model.VolumeSnapshot, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+snapshotCols+` FROM volume_snapshots WHERE status IN ('creating', 'deleting')`)
	ss, err := pgx.CollectRows(rows, scanSnapshot)
	return ss, mapErr(err)
}
