package stats_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/stats"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// TestBenchStats measures what the statistics cost per 1,000 VMs (make
// bench; NIMBUS_BENCH=1): Redis memory for full rings (an hour at 10 s
// and a day at a minute, with the newest sample's details) and the time
// to record one 10 s round of 1,000 VMs, sent as ten hosts' reports of
// 100, as agents send them. Full rings are made by recording a day of
// samples for a few VMs and measuring them; the round's time by
// recording rounds for 1,000.
func TestBenchStats(t *testing.T) {
	if os.Getenv("NIMBUS_BENCH") == "" {
		t.Skip("a benchmark: NIMBUS_BENCH=1 (make bench) runs it")
	}
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	st := stats.New(rdb, prefix)
	sample := func(id string, at int64, i uint64) model.DomainSample {
		// Counters of a realistic size: a guest up for days, its disks
		// and NICs in the hundreds of MB to GB.
		return model.DomainSample{InstanceID: id, At: at, CPUTime: 3_600_000_000_000 + i*2_500_000_000, VCPUs: 2,
			MemoryKiB: 2097152, MaxMemKiB: 2097152, RSSKiB: 1_500_000 + i%1000, UsedKiB: 900_000 + i%5000,
			Disk:      model.IOStat{ReadBytes: 5_000_000_000 + i*40960, ReadOps: 1_200_000 + i*10, WriteBytes: 9_000_000_000 + i*81920, WriteOps: 2_400_000 + i*20},
			Net:       model.IOStat{ReadBytes: 700_000_000 + i*15000, ReadOps: 900_000 + i*12, WriteBytes: 300_000_000 + i*9000, WriteOps: 600_000 + i*9},
			VCPUTimes: []uint64{1_800_000_000_000 + i, 1_800_000_000_000 + i},
			Disks:     []model.DiskStat{{Name: "vda", Errors: -1, IOStat: model.IOStat{ReadBytes: 5_000_000_000 + i*40960}}},
			NICs:      []model.NICStat{{Name: "tap0123456789a", MAC: "fa:16:3e:12:34:56", IOStat: model.IOStat{ReadBytes: 700_000_000 + i*15000}}}}
	}
	start := time.Now().Unix() - 86400
	const full = 5
	owners := map[string]string{}
	for v := 0; v < full; v++ {
		owners[fmt.Sprintf("00000000-0000-4000-8000-%012d", v)] = "p"
	}
	for i := 0; i < 8640; i++ {
		r := model.StatsReport{Host: model.HostSample{At: start + int64(i)*10, CPUPct: 40, MemoryKiB: 64 << 20}}
		for id := range owners {
			r.Domains = append(r.Domains, sample(id, start+int64(i)*10, uint64(i)))
		}
		if err := st.Record(ctx, "h", r, owners); err != nil {
			t.Fatal(err)
		}
	}
	var bytes int64
	for id := range owners {
		for _, k := range st.Keys(id) {
			n, err := rdb.MemoryUsage(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			bytes += n
		}
	}
	perVM := bytes / full
	t.Logf("Redis memory per VM with full rings (%d + %d samples and the newest's details): %d KiB; per 1,000 VMs: %.0f MiB",
		stats.FineLen, stats.CoarseLen, perVM/1024, float64(perVM)*1000/(1<<20))

	// Rounds of 1,000 VMs: ten reports of 100.
	owners = map[string]string{}
	for v := 0; v < 1000; v++ {
		owners[fmt.Sprintf("10000000-0000-4000-8000-%012d", v)] = "p"
	}
	ids := make([]string, 0, 1000)
	for id := range owners {
		ids = append(ids, id)
	}
	var rounds []time.Duration
	for round := 0; round < 15; round++ {
		at := time.Now().Unix() + int64(round)*10
		began := time.Now()
		for h := 0; h < 10; h++ {
			r := model.StatsReport{Host: model.HostSample{At: at}}
			for _, id := range ids[h*100 : h*100+100] {
				r.Domains = append(r.Domains, sample(id, at, uint64(round)))
			}
			if err := st.Record(ctx, fmt.Sprintf("h%d", h), r, owners); err != nil {
				t.Fatal(err)
			}
		}
		rounds = append(rounds, time.Since(began))
	}
	slices.Sort(rounds)
	t.Logf("recording one 10 s round of 1,000 VMs (10 reports of 100): median %v, max %v (%.1f%% of the interval)",
		rounds[len(rounds)/2].Round(time.Millisecond), rounds[len(rounds)-1].Round(time.Millisecond),
		100*rounds[len(rounds)/2].Seconds()/10)
}
