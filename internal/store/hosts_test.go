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
	pool, err := pgxpool.New(ctx, testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool)
	now := time.Now()
	if err := st.UpsertHost(ctx, model.ComputeHost{Host: "h", VCPUs: 2, MemoryMB: 1000, DiskGB: 10, LastSeen: now}); err != nil {
		t.Fatal(err)
	}
	r := store.Ratios{CPU: 16, RAM: 1.5, Disk: 1}
	claimed := 0
	for i := 0; i < 10; i++ {
		ok, err := st.Claim(ctx, "h", 1, 250, 1, r, now.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			claimed++
		}
	}
	if claimed != 6 { // 1000 MB * 1.5 / 250 MB
		t.Errorf("claims of 250 MB on 1000 MB at ratio 1.5: got %d, want 6", claimed)
	}
	if ok, _ := st.Claim(ctx, "h", 1, 1, 1, r, now.Add(time.Minute)); ok {
		t.Error("a claim on a host not heard from since the cut-off succeeded")
	}
}
