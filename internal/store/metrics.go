package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// HostCapacity is one compute host's size and claims, for /metrics.
type HostCapacity struct {
	Host                                string
	VCPUs, MemoryMB, DiskGB             int
	VCPUsUsed, MemoryMBUsed, DiskGBUsed int
	RunningVMs                          int
	Disabled                            bool
}

// MetricsSnapshot is what /metrics reports from the database.
type MetricsSnapshot struct {
	InstancesByState map[string]int // vm_state -> instances not deleted
	Hosts            []HostCapacity
	OutboxUnsent     int // jobs and changes not yet on their streams
}

// Metrics reads the snapshot in one round trip.
func (s *Store) Metrics(ctx context.Context) (MetricsSnapshot, error) {
	m := MetricsSnapshot{InstancesByState: map[string]int{}}
	b := &pgx.Batch{}
	b.Queue(`SELECT vm_state, count(*) FROM instances WHERE deleted_at IS NULL GROUP BY vm_state`)
	b.Queue(`SELECT host, vcpus, memory_mb, disk_gb, vcpus_used, memory_mb_used, disk_gb_used, running_vms, disabled
		FROM compute_hosts ORDER BY host`)
	b.Queue(`SELECT count(*) FROM outbox WHERE sent_at IS NULL`)
	br := s.db.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return m, mapErr(err)
	}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return m, mapErr(err)
		}
		m.InstancesByState[st] = n
	}
	rows.Close()
	if rows, err = br.Query(); err != nil {
		return m, mapErr(err)
	}
	hosts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (HostCapacity, error) {
		var h HostCapacity
		err := r.Scan(&h.Host, &h.VCPUs, &h.MemoryMB, &h.DiskGB, &h.VCPUsUsed, &h.MemoryMBUsed, &h.DiskGBUsed, &h.RunningVMs, &h.Disabled)
		return h, err
	})
	if err != nil {
		return m, mapErr(err)
	}
	m.Hosts = hosts
	return m, mapErr(br.QueryRow().Scan(&m.OutboxUnsent))
}
