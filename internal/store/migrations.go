package store

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

const migrationCols = `id, uuid::text, instance_id::text, project_id, user_id, migration_type, status, source_host,
	coalesce(dest_host, ''), coalesce(requested_host, ''), old_flavor_id, old_flavor_name, old_vcpus, old_memory_mb,
	old_root_gb, new_flavor_id, new_flavor_name, new_vcpus, new_memory_mb, new_root_gb, source_claim, dest_claim,
	coalesce(disk_sha512, ''), coalesce(disk_size, 0), created_at, updated_at, finished_at`

func scanMigration(row pgx.CollectableRow) (model.Migration, error) {
	var m model.Migration
	err := row.Scan(&m.ID, &m.UUID, &m.InstanceID, &m.ProjectID, &m.UserID, &m.Type, &m.Status, &m.SourceHost,
		&m.DestHost, &m.RequestedHost, &m.OldFlavor.ID, &m.OldFlavor.Name, &m.OldFlavor.VCPUs, &m.OldFlavor.RAMMB,
		&m.OldFlavor.DiskGB, &m.NewFlavor.ID, &m.NewFlavor.Name, &m.NewFlavor.VCPUs, &m.NewFlavor.RAMMB,
		&m.NewFlavor.DiskGB, &m.SourceClaim, &m.DestClaim, &m.DiskSHA512, &m.DiskSize, &m.CreatedAt, &m.UpdatedAt,
		&m.FinishedAt)
	return m, err
}

// InsertMigration records a migration beginning (pre-migrating) and
// moves the instance's claim on the source to it: from here until it is
// confirmed or reverted the migration holds the claims. It returns the
// migration's id.
func (s *Store) InsertMigration(ctx context.Context, m model.Migration) (int64, error) {
	var id int64
	err := s.db.QueryRow(ctx, `WITH held AS (
			UPDATE instances SET claim_host = NULL WHERE id = $2 AND claim_host = $6 RETURNING 1)
		INSERT INTO migrations (uuid, instance_id, project_id, user_id, migration_type, status, source_host,
			requested_host, old_flavor_id, old_flavor_name, old_vcpus, old_memory_mb, old_root_gb,
			new_flavor_id, new_flavor_name, new_vcpus, new_memory_mb, new_root_gb, source_claim)
		VALUES ($1, $2, $3, $4, $5, $7, $6, nullif($8, ''), $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
			EXISTS (SELECT 1 FROM held))
		RETURNING id`,
		m.UUID, m.InstanceID, m.ProjectID, m.UserID, m.Type, m.SourceHost, string(model.MigrationPreMigrating),
		m.RequestedHost, m.OldFlavor.ID, m.OldFlavor.Name, m.OldFlavor.VCPUs, m.OldFlavor.RAMMB, m.OldFlavor.DiskGB,
		m.NewFlavor.ID, m.NewFlavor.Name, m.NewFlavor.VCPUs, m.NewFlavor.RAMMB, m.NewFlavor.DiskGB).Scan(&id)
	return id, mapErr(err)
}

// OpenMigration returns the instance's open migration (ErrNotFound: none).
func (s *Store) OpenMigration(ctx context.Context, instanceID string) (model.Migration, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+migrationCols+` FROM migrations WHERE instance_id = $1
		AND status IN ('pre-migrating', 'migrating', 'post-migrating', 'finished', 'confirming', 'reverting')`, instanceID)
	m, err := pgx.CollectExactlyOneRow(rows, scanMigration)
	return m, mapErr(err)
}

// MigrationUpdate changes a migration; nil fields stay.
type MigrationUpdate struct {
	ID       int64
	Status   model.MigrationStatus
	DestHost *string
	// Disk records the relayed disk's checksum and size.
	DiskSHA512 *string
	DiskSize   int64
	Finished   bool // the instance reached VERIFY_RESIZE now
}

// UpdateMigration applies u.
func (s *Store) UpdateMigration(ctx context.Context, u MigrationUpdate) error {
	sets := []string{"updated_at = now()"}
	args := []any{u.ID}
	set := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, col+" = $"+strconv.Itoa(len(args)))
	}
	if u.Status != "" {
		set("status", string(u.Status))
	}
	if u.DestHost != nil {
		set("dest_host", *u.DestHost)
	}
	if u.DiskSHA512 != nil {
		set("disk_sha512", *u.DiskSHA512)
		set("disk_size", u.DiskSize)
	}
	if u.Finished {
		sets = append(sets, "finished_at = now()")
	}
	return affected(s.db.Exec(ctx, `UPDATE migrations SET `+strings.Join(sets, ", ")+` WHERE id = $1`, args...))
}

// ClaimMigrationDest takes the new flavor's resources on host for the
// migration (as Claim does for a build) and records it as the
// destination holding that claim.
func (s *Store) ClaimMigrationDest(ctx context.Context, m model.Migration, host string, r Ratios, liveSince time.Time, skipBusy bool) (ClaimResult, error) {
	res, err := s.Claim(ctx, host, m.NewFlavor.VCPUs, m.NewFlavor.RAMMB, m.NewFlavor.DiskGB, r, liveSince, skipBusy)
	if err != nil || res != Claimed {
		return res, err
	}
	return res, affected(s.db.Exec(ctx, `UPDATE migrations SET dest_host = $2, dest_claim = true, status = 'migrating',
		updated_at = now() WHERE id = $1`, m.ID, host))
}

// MigrationSide is one end of a migration.
type MigrationSide int

// The ends.
const (
	Source MigrationSide = iota
	Dest
)

// claimSQL is the claimed host and the amounts one side's claim holds,
// with the flag that says it is held.
func claimSQL(side MigrationSide) (host, vcpus, mem, disk, flag string) {
	if side == Source {
		return "source_host", "old_vcpus", "old_memory_mb", "old_root_gb", "source_claim"
	}
	return "dest_host", "new_vcpus", "new_memory_mb", "new_root_gb", "dest_claim"
}

// ReleaseMigrationClaim gives back one side's claim, once (the flag is
// cleared by the same statement).
func (s *Store) ReleaseMigrationClaim(ctx context.Context, migrationID int64, side MigrationSide) error {
	host, vcpus, mem, disk, flag := claimSQL(side)
	_, err := s.db.Exec(ctx, `WITH old AS (
			UPDATE migrations SET `+flag+` = false WHERE id = $1 AND `+flag+`
			RETURNING `+host+` AS host, `+vcpus+` AS vcpus, `+mem+` AS mem, `+disk+` AS disk)
		UPDATE compute_hosts h SET vcpus_used = greatest(h.vcpus_used - old.vcpus, 0),
			memory_mb_used = greatest(h.memory_mb_used - old.mem, 0),
			disk_gb_used = greatest(h.disk_gb_used - old.disk, 0),
			running_vms = greatest(h.running_vms - 1, 0)
		FROM old WHERE h.host = old.host`, migrationID)
	return mapErr(err)
}

// GiveMigrationClaim hands one side's claim to the instance: it now holds
// the claim on that host (whose amounts its flavor must be by then).
func (s *Store) GiveMigrationClaim(ctx context.Context, migrationID int64, side MigrationSide) error {
	host, _, _, _, flag := claimSQL(side)
	_, err := s.db.Exec(ctx, `WITH m AS (
			UPDATE migrations SET `+flag+` = false WHERE id = $1 AND `+flag+` RETURNING instance_id, `+host+` AS host)
		UPDATE instances i SET claim_host = m.host FROM m WHERE i.id = m.instance_id AND i.claim_host IS NULL`, migrationID)
	return mapErr(err)
}

// MigrationFilter selects migrations (os-migrations' query).
type MigrationFilter struct {
	InstanceID string
	ProjectID  string // "" : every project's
	Type       string
	Status     string
	Host       string // source or destination
	Open       bool   // only open ones (/servers/{id}/migrations lists in-progress ones)
}

// Migrations lists migrations, newest first.
func (s *Store) Migrations(ctx context.Context, f MigrationFilter) ([]model.Migration, error) {
	where := []string{"true"}
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.InstanceID != "" {
		if !isUUID(f.InstanceID) {
			return nil, nil
		}
		add("instance_id = ?", f.InstanceID)
	}
	if f.ProjectID != "" {
		add("project_id = ?", f.ProjectID)
	}
	if f.Type != "" {
		add("migration_type = ?", f.Type)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.Host != "" {
		add("(source_host = ? OR dest_host = ?)", f.Host) // one parameter, twice
	}
	if f.Open {
		where = append(where, `status IN ('pre-migrating', 'migrating', 'post-migrating', 'finished', 'confirming', 'reverting')`)
	}
	rows, _ := s.db.Query(ctx, `SELECT `+migrationCols+` FROM migrations WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at DESC, id DESC LIMIT 1000`, args...)
	ms, err := pgx.CollectRows(rows, scanMigration)
	return ms, mapErr(err)
}

// ResizedBefore returns instances in VERIFY_RESIZE since before t (the
// auto-confirm window).
func (s *Store) ResizedBefore(ctx context.Context, t time.Time, limit int) ([]string, error) {
	rows, _ := s.db.Query(ctx, `SELECT i.id::text FROM instances i JOIN migrations m ON m.instance_id = i.id
		WHERE i.vm_state = 'resized' AND i.task_state IS NULL AND m.status = 'finished' AND m.finished_at < $1
		ORDER BY m.finished_at LIMIT $2`, t, limit)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, mapErr(err)
}
