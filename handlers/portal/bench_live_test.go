package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestBenchLiveFanOut (NIMBUS_BENCH=1, make bench): 200 open page streams
// (100 tabs of a demo session, 100 of another project's) while 500
// changes a second are written for 30 s (BENCH_LIVE_SECONDS), half in
// each project, as single-row updates straight to PostgreSQL (each goes
// the whole way: trigger, outbox, relay, Redis stream, hub, SSE). It
// prints the delivery latency p50/p99 (from the update's commit to the
// stream's reading it) and the CPU the process used, controller and
// clients together (they share this process).
func TestBenchLiveFanOut(t *testing.T) {
	if os.Getenv("NIMBUS_BENCH") != "1" {
		t.Skip("set NIMBUS_BENCH=1 (make bench) to run the live fan-out benchmark")
	}
	seconds := 30
	if s, err := strconv.Atoi(os.Getenv("BENCH_LIVE_SECONDS")); err == nil && s > 0 {
		seconds = s
	}
	const rate, perProject, tabs = 500, 24, 100
	tc := controllertest.New(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	otherUser := tc.NewProjectMember(t, "bench-other")
	tokens := map[string]string{"demo": tc.DemoToken(t), "other": tc.Token(t, otherUser, controllertest.MemberPassword, "bench-other")}
	var nets []string // alternating projects
	for i := 0; i < perProject; i++ {
		for _, p := range []string{"demo", "other"} {
			nets = append(nets, createNetwork(t, tc, tokens[p], fmt.Sprintf("bench-%s-%d", p, i)))
		}
	}

	// Commit times of each network's k-th update.
	var mu sync.Mutex
	commits := map[string][]time.Time{}
	type stream struct{ events <-chan controllertest.Event }
	var streams []stream
	for _, p := range []string{"demo", "other"} {
		b := tc.NewFormClient(t)
		var page controllertest.Page
		if p == "demo" {
			page = b.Login("demo", tc.DemoPass)
		} else {
			page = b.Login(otherUser, controllertest.MemberPassword)
		}
		since := controllertest.LiveSince(page)
		for i := 0; i < tabs; i++ {
			ch, err := b.Events(ctx, since, "")
			if err != nil {
				t.Fatal(err)
			}
			streams = append(streams, stream{ch})
		}
	}
	// Each stream counts the updates per network and keeps the delay of
	// each from its commit.
	delays := make([][]time.Duration, len(streams))
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := map[string]int{}
			for ev := range s.events {
				var c liveChange
				if json.Unmarshal([]byte(ev.Data), &c) != nil || c.Op != "update" {
					continue
				}
				k := seen[c.ID]
				seen[c.ID] = k + 1
				mu.Lock()
				var at time.Time
				if k < len(commits[c.ID]) {
					at = commits[c.ID][k]
				}
				mu.Unlock()
				if !at.IsZero() {
					delays[i] = append(delays[i], ev.At.Sub(at))
				}
			}
		}()
	}

	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	pool := tc.Server.Pool()
	// Sixteen writers, each with its own share of the rate and of the
	// networks (48 = 3 x 16: network j is writer j%16's), so each
	// network's updates stay in order.
	const writers = 16
	var written sync.WaitGroup
	counts := make([]int, writers)
	for w := 0; w < writers; w++ {
		written.Add(1)
		go func() {
			defer written.Done()
			tick := time.NewTicker(time.Second * writers / rate)
			defer tick.Stop()
			for k := 0; time.Since(start) < time.Duration(seconds)*time.Second; k++ {
				<-tick.C
				id := nets[(k*writers+w)%len(nets)]
				// Stamped before the statement: the delay is from no
				// later than the commit.
				mu.Lock()
				commits[id] = append(commits[id], time.Now())
				mu.Unlock()
				if _, err := pool.Exec(ctx, `UPDATE networks SET name = $2 WHERE id = $1`, id, fmt.Sprintf("u-%d-%d", w, k)); err != nil {
					t.Error(err)
					return
				}
				counts[w]++
			}
		}()
	}
	written.Wait()
	n := 0
	for _, c := range counts {
		n += c
	}
	elapsed := time.Since(start)
	time.Sleep(2 * time.Second) // the last deliveries
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cancel()
	wg.Wait()

	var all []time.Duration
	for _, d := range delays {
		all = append(all, d...)
	}
	// Nets alternate demo/other and writer w writes nets of parity w%2:
	// each stream sees its project's writers' updates.
	demoN := 0
	for w, c := range counts {
		if w%2 == 0 {
			demoN += c
		}
	}
	want := tabs*demoN + tabs*(n-demoN)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) == 0 {
		t.Fatal("no deliveries")
	}
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	fmt.Printf("live fan-out: %d streams, %d changes in %.1f s (%.0f/s): %d of %d deliveries, p50 %v, p99 %v, max %v; process CPU %.0f%% of one core (controller and the 200 client streams together)\n",
		len(streams), n, elapsed.Seconds(), float64(n)/elapsed.Seconds(), len(all), want,
		all[len(all)/2].Round(time.Millisecond), all[len(all)*99/100].Round(time.Millisecond), all[len(all)-1].Round(time.Millisecond),
		100*cpu.Seconds()/(elapsed.Seconds()+2))
	if len(all) < want*99/100 {
		t.Errorf("%d of %d deliveries", len(all), want)
	}
}
