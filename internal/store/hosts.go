package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

var hostCols = `host, id, uuid::text, ` + hostAZ + `, hypervisor_type, arch, vcpus, memory_mb, disk_gb, vcpus_used, memory_mb_used, disk_gb_used,
	running_vms, ` + hostIoOps + `, disabled, disabled_reason, last_seen, created_at`

// hostIoOps counts a host's instances in I/O-heavy work (Nova's IoOpsFilter:
// building, resizing, rebuilding, snapshotting, rescuing, unshelving).
const hostIoOps = `(SELECT count(*) FROM instances i WHERE i.host = compute_hosts.host AND i.deleted_at IS NULL
	AND (i.vm_state = 'building' OR i.task_state IN ('resize_prep', 'resize_migrating', 'resize_finish', 'rebuilding',
	'image_snapshot', 'image_pending_upload', 'image_uploading', 'shelving', 'shelving_image_pending_upload',
	'shelving_image_uploading', 'rescuing', 'unshelving', 'spawning')))`

func scanHost(row pgx.CollectableRow) (model.ComputeHost, error) {
	var h model.ComputeHost
	err := row.Scan(&h.Host, &h.ID, &h.UUID, &h.AZ, &h.HypervisorType, &h.Arch, &h.VCPUs, &h.MemoryMB, &h.DiskGB, &h.VCPUsUsed,
		&h.MemoryMBUsed, &h.DiskGBUsed, &h.RunningVMs, &h.IoOps, &h.Disabled, &h.DisabledReason, &h.LastSeen, &h.CreatedAt)
	return h, err
}

// UpsertHost records a host's report (capacity and liveness); claims and
// the admin's enable/disable stay as they are.
func (s *Store) UpsertHost(ctx context.Context, h model.ComputeHost) error {
	_, err := s.db.Exec(ctx, `INSERT INTO compute_hosts (host, az, hypervisor_type, arch, vcpus, memory_mb, disk_gb, last_seen)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (host) DO UPDATE SET az = excluded.az, hypervisor_type = excluded.hypervisor_type, arch = excluded.arch,
			vcpus = excluded.vcpus, memory_mb = excluded.memory_mb, disk_gb = excluded.disk_gb,
			last_seen = greatest(least(compute_hosts.last_seen, now()), excluded.last_seen)`,
		h.Host, h.AZ, h.HypervisorType, h.Arch, h.VCPUs, h.MemoryMB, h.DiskGB, h.LastSeen)
	return mapErr(err)
}

// Hosts lists every compute host by name.
func (s *Store) Hosts(ctx context.Context) ([]model.ComputeHost, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+hostCols+` FROM compute_hosts ORDER BY host`)
	hs, err := pgx.CollectRows(rows, scanHost)
	return hs, mapErr(err)
}

// Host returns one compute host.
func (s *Store) Host(ctx context.Context, host string) (model.ComputeHost, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+hostCols+` FROM compute_hosts WHERE host = $1`, host)
	h, err := pgx.CollectExactlyOneRow(rows, scanHost)
	return h, mapErr(err)
}

// Ratios are the allocation ratios a claim is checked against.
type Ratios struct{ CPU, RAM, Disk float64 }

// ClaimResult says how a claim on one host went.
type ClaimResult int

const (
	Claimed ClaimResult = iota // the resources are taken
	NoRoom                     // the host is gone, down, disabled or full
	Busy                       // another transaction holds the host's row (only when skipBusy)
)

// Claim takes vcpus, memory and disk on host for one instance, atomically:
// it succeeds only if they still fit, so two launches cannot take the same
// last slot. (The ratios are cast to float8: an integer column times a bare
// parameter would make PostgreSQL read 1.5 as an integer.)
//
// With skipBusy a host whose row another transaction holds is not waited
// for but answered Busy. Concurrent schedulers all rank the same host first;
// waiting would queue every launch behind that host's row lock until its
// transaction commits, which capped scheduling near 100 launches per second.
// Skipping lets each take the next host in its ranking instead.
func (s *Store) Claim(ctx context.Context, host string, vcpus, memoryMB, diskGB int, r Ratios, liveSince time.Time, skipBusy bool) (ClaimResult, error) {
	lock := "FOR UPDATE"
	if skipBusy {
		lock = "FOR UPDATE SKIP LOCKED"
	}
	var locked, claimed int
	err := s.db.QueryRow(ctx, `WITH l AS (SELECT host FROM compute_hosts WHERE host = $1 `+lock+`),
		u AS (UPDATE compute_hosts h SET vcpus_used = vcpus_used + $2, memory_mb_used = memory_mb_used + $3,
				disk_gb_used = disk_gb_used + $4, running_vms = running_vms + 1
			FROM l WHERE h.host = l.host AND NOT h.disabled AND h.last_seen >= $8
			  AND h.vcpus_used + $2 <= h.vcpus * $5::float8 AND h.memory_mb_used + $3 <= h.memory_mb * $6::float8
			  AND h.disk_gb_used + $4 <= h.disk_gb * $7::float8
			RETURNING 1)
		SELECT (SELECT count(*) FROM l), (SELECT count(*) FROM u)`,
		host, vcpus, memoryMB, diskGB, r.CPU, r.RAM, r.Disk, liveSince).Scan(&locked, &claimed)
	switch {
	case err != nil:
		return NoRoom, mapErr(err)
	case claimed == 1:
		return Claimed, nil
	case locked == 0 && skipBusy:
		return Busy, nil
	}
	return NoRoom, nil
}

// ReleaseClaim gives back what Claim took for an instance, once: the
// instance records the host it holds a claim on (claim_host) and the
// release clears it in the same statement, so a second release (a failed
// build deleted later, a replayed event) gives nothing back.
func (s *Store) ReleaseClaim(ctx context.Context, instanceID string) error {
	_, err := s.db.Exec(ctx, `WITH old AS (
			SELECT id, claim_host, vcpus, memory_mb, root_gb FROM instances
			WHERE id = $1 AND claim_host IS NOT NULL FOR UPDATE),
		cleared AS (UPDATE instances SET claim_host = NULL WHERE id IN (SELECT id FROM old))
		UPDATE compute_hosts h SET vcpus_used = greatest(h.vcpus_used - old.vcpus, 0),
			memory_mb_used = greatest(h.memory_mb_used - old.memory_mb, 0),
			disk_gb_used = greatest(h.disk_gb_used - old.root_gb, 0),
			running_vms = greatest(h.running_vms - 1, 0)
		FROM old WHERE h.host = old.claim_host`, instanceID)
	return mapErr(err)
}

// SetHostDisabled enables or disables scheduling to a host.
func (s *Store) SetHostDisabled(ctx context.Context, host string, disabled bool, reason string) error {
	return affected(s.db.Exec(ctx, `UPDATE compute_hosts SET disabled = $2, disabled_reason = $3 WHERE host = $1`,
		host, disabled, reason))
}

// ZoneExists reports whether any host is in the availability zone; with no
// hosts at all only the default zone "nova" exists.
func (s *Store) ZoneExists(ctx context.Context, az string) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM compute_hosts WHERE `+hostAZ+` = $1)
		OR ($1 = 'nova' AND NOT EXISTS (SELECT 1 FROM compute_hosts))`, az).Scan(&ok)
	return ok, mapErr(err)
}
