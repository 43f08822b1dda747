package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// TestClaimUsesFractionalRatios: a host with all its RAM claimed still
// takes more under a 1.5 RAM allocation ratio, and claims stop exactly at
// the limit. (A bare parameter next to an integer column was once read as
// an integer, turning 1.5 into 1.)
func TestClaimUsesFractionalRatios(t *testing.T) {
	ctx := context.Background()
	_, st := newStore(t)
	now := time.Now()
	if err := st.UpsertHost(ctx, model.ComputeHost{Host: "h", VCPUs: 2, MemoryMB: 1000, DiskGB: 10, LastSeen: now}); err != nil {
		t.Fatal(err)
	}
	r := store.Ratios{CPU: 16, RAM: 1.5, Disk: 1}
	claimed := 0
	for i := 0; i < 10; i++ {
		res, err := st.Claim(ctx, "h", 1, 250, 1, r, now.Add(-time.Minute), false)
		if err != nil {
			t.Fatal(err)
		}
		if res == store.Claimed {
			claimed++
		}
	}
	if claimed != 6 { // 1000 MB * 1.5 / 250 MB
		t.Errorf("claims of 250 MB on 1000 MB at ratio 1.5: got %d, want 6", claimed)
	}
	if res, _ := st.Claim(ctx, "h", 1, 1, 1, r, now.Add(time.Minute), false); res != store.NoRoom {
		t.Error("a claim on a host not heard from since the cut-off succeeded")
	}
}

// TestClaimSkipsBusyHost: while another transaction holds a host's row, a
// skipping claim answers Busy at once instead of waiting, and takes
// nothing; a waiting claim succeeds once that transaction commits.
func TestClaimSkipsBusyHost(t *testing.T) {
	ctx := context.Background()
	pool, st := newStore(t)
	now := time.Now()
	if err := st.UpsertHost(ctx, model.ComputeHost{Host: "busy", VCPUs: 8, MemoryMB: 8000, DiskGB: 100, LastSeen: now}); err != nil {
		t.Fatal(err)
	}
	r := store.Ratios{CPU: 1, RAM: 1, Disk: 1}
	hold, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hold.Exec(ctx, `SELECT 1 FROM compute_hosts WHERE host = 'busy' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	res, err := st.Claim(qctx, "busy", 1, 100, 1, r, now.Add(-time.Minute), true)
	cancel()
	if err != nil || res != store.Busy {
		t.Fatalf("skipping claim on a held host: %v, %v; want Busy at once", res, err)
	}
	done := make(chan store.ClaimResult, 1)
	go func() {
		res, _ := st.Claim(ctx, "busy", 1, 100, 1, r, now.Add(-time.Minute), false)
		done <- res
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case res := <-done:
		t.Fatalf("waiting claim answered %v while the row was held", res)
	default:
	}
	if err := hold.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res != store.Claimed {
		t.Fatalf("waiting claim after commit: %v, want Claimed", res)
	}
	h, err := st.Host(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if h.VCPUsUsed != 1 || h.MemoryMBUsed != 100 {
		t.Errorf("host usage after one claim: %d vCPUs, %d MB; want 1, 100", h.VCPUsUsed, h.MemoryMBUsed)
	}
}

func newStore(t *testing.T) (*pgxpool.Pool, *store.Store) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, store.New(pool)
}
