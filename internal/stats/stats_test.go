package stats_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/stats"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

const vm, other = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"

func sample(id string, at int64, i uint64) model.DomainSample {
	return model.DomainSample{InstanceID: id, At: at, CPUTime: i * 5e9, VCPUs: 1, MemoryKiB: 524288, RSSKiB: 100000 + i,
		Disk: model.IOStat{ReadBytes: i * 1000, WriteBytes: i * 10}, Net: model.IOStat{ReadBytes: i * 7, WriteBytes: i * 3},
		Disks: []model.DiskStat{{Name: "vda", Errors: -1}}}
}

// TestRecordKeepsAnHourFineAndADayCoarse: a day of 10 s samples leaves
// the last hour at 10 s and the day at one a minute (the first of each),
// oldest first; a report delivered twice or late changes nothing; a
// domain the controller does not know is not kept; every report is
// announced with each instance's project.
func TestRecordKeepsAnHourFineAndADayCoarse(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	st := stats.New(rdb, prefix)
	sub := rdb.Subscribe(ctx, stats.Channel(prefix))
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription is in place
		t.Fatal(err)
	}
	owners := map[string]string{vm: "p1"}
	start := int64(1_700_000_000) - 1_700_000_000%60
	const day = 8640
	for i := 0; i < day; i++ {
		at := start + int64(i)*10
		r := model.StatsReport{Host: model.HostSample{At: at, CPUPct: 12.5, Load1: 0.5, MemoryKiB: 1 << 20, Domains: 1},
			Domains: []model.DomainSample{sample(vm, at, uint64(i)), sample(other, at, uint64(i))}}
		if err := st.Record(ctx, "h1", r, owners); err != nil {
			t.Fatal(err)
		}
	}
	fine, err := st.Series(ctx, vm, stats.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(fine) != stats.FineLen || fine[len(fine)-1].At != start+(day-1)*10 || fine[1].At-fine[0].At != 10 {
		t.Fatalf("fine ring: %d samples, last at %d", len(fine), fine[len(fine)-1].At)
	}
	coarse, _ := st.Series(ctx, vm, stats.Day)
	if len(coarse) != stats.CoarseLen {
		t.Fatalf("coarse ring: %d samples, want %d", len(coarse), stats.CoarseLen)
	}
	for i, s := range coarse {
		if s.At%60 != 0 || (i > 0 && s.At-coarse[i-1].At != 60) {
			t.Fatalf("coarse sample %d at %d (previous %d): want the first of each minute", i, s.At, coarse[max(i-1, 0)].At)
		}
	}
	if got := fine[0]; got.CPUTime != uint64(day-stats.FineLen)*5e9 || got.Disk.ReadBytes != uint64(day-stats.FineLen)*1000 {
		t.Errorf("a sample did not come back as written: %+v", got)
	}
	// Twice, and late: nothing changes.
	last := start + (day-1)*10
	for _, at := range []int64{last, last - 10} {
		r := model.StatsReport{Domains: []model.DomainSample{sample(vm, at, 0)}}
		if err := st.Record(ctx, "h1", r, owners); err != nil {
			t.Fatal(err)
		}
	}
	again, _ := st.Series(ctx, vm, stats.Hour)
	if len(again) != len(fine) || again[len(again)-1].CPUTime != fine[len(fine)-1].CPUTime {
		t.Errorf("a repeated or late report changed the ring: last %+v", again[len(again)-1])
	}
	if s, _ := st.Series(ctx, other, stats.Hour); len(s) != 0 {
		t.Errorf("a domain the controller does not know was kept: %d samples", len(s))
	}
	latest, ok, err := st.Latest(ctx, vm)
	if err != nil || !ok || len(latest.Disks) != 1 || latest.At != last {
		t.Errorf("latest: %+v %v %v", latest, ok, err)
	}
	hs, _ := st.HostSeries(ctx, "h1", stats.Hour)
	if len(hs) != stats.FineLen || hs[0].CPUPct != 12.5 || hs[0].Load1 != 0.5 || hs[0].Domains != 1 {
		t.Errorf("host ring: %d samples, first %+v", len(hs), hs[0])
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n stats.Notice
	if err := json.Unmarshal([]byte(msg.Payload), &n); err != nil || n.Host != "h1" || len(n.Instances) != 1 ||
		n.Instances[0] != (stats.Owned{ID: vm, Project: "p1"}) {
		t.Errorf("notice %s: %+v %v", msg.Payload, n, err)
	}
	// Keys expire: a deleted instance's samples go by themselves.
	for _, k := range st.Keys(vm) {
		if ttl := rdb.TTL(ctx, k).Val(); ttl <= 0 || ttl > 25*time.Hour {
			t.Errorf("%s: TTL %v", k, ttl)
		}
	}
}

// TestRecordAfterTheScriptIsLost: a Redis that forgot the append script
// (restarted, SCRIPT FLUSH) still takes reports.
func TestRecordAfterTheScriptIsLost(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	st := stats.New(rdb, prefix)
	owners := map[string]string{vm: "p1"}
	for i, at := range []int64{100, 110} {
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := st.Record(ctx, "h1", model.StatsReport{Domains: []model.DomainSample{sample(vm, at, uint64(i))}}, owners); err != nil {
			t.Fatal(err)
		}
	}
	if s, _ := st.Series(ctx, vm, stats.Hour); len(s) != 2 {
		t.Errorf("%d samples, want 2", len(s))
	}
}

// TestRates: CPU is a share of every vCPU, I/O bytes a second; a hole in
// the samples or a restarted domain (counters back to zero) breaks the
// line instead of drawing a spike.
func TestRates(t *testing.T) {
	s := []model.DomainSample{
		{At: 0, CPUTime: 0, VCPUs: 2},
		{At: 10, CPUTime: 10e9, VCPUs: 2, Disk: model.IOStat{ReadBytes: 1000}, RSSKiB: 5},  // 50% of 2 vCPUs
		{At: 20, CPUTime: 30e9, VCPUs: 2, Disk: model.IOStat{ReadBytes: 1000}, UsedKiB: 7}, // 100%
		{At: 100, CPUTime: 31e9, VCPUs: 2},                                                 // 80 s hole
		{At: 110, CPUTime: 32e9, VCPUs: 2},
		{At: 120, CPUTime: 1e9, VCPUs: 2}, // restarted
		{At: 130, CPUTime: 3e9, VCPUs: 2},
	}
	p := stats.Rates(s, 10)
	want := []stats.Point{
		{At: 10, CPUPct: 50, MemKiB: 5, DiskRead: 100, Gap: true},
		{At: 20, CPUPct: 100, MemKiB: 7},
		{At: 110, CPUPct: 5, Gap: true},
		{At: 130, CPUPct: 10, Gap: true},
	}
	if len(p) != len(want) {
		t.Fatalf("points %+v", p)
	}
	for i := range want {
		if p[i] != want[i] {
			t.Errorf("point %d: %+v, want %+v", i, p[i], want[i])
		}
	}
}
