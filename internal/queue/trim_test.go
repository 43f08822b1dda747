package queue_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// TestTrimKeepsWhatAGroupStillNeeds: entries every group was given and
// acknowledged go; a pending entry, everything after it, and everything a
// group has not read yet stay; a stream no group reads is left whole.
func TestTrimKeepsWhatAGroupStillNeeds(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	stream := prefix + "trim"
	var ids []string
	for i := 0; i < 10; i++ {
		id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{queue.Field: "{}"}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	left := func() []string {
		t.Helper()
		ms, err := rdb.XRange(ctx, stream, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	trim := func() int64 {
		t.Helper()
		n, err := queue.Trim(ctx, rdb, stream)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := trim(); n != 0 || len(left()) != 10 {
		t.Fatalf("no group yet: trimmed %d, %d left; want nothing trimmed", n, len(left()))
	}
	// Group g read six entries and acknowledged the first four.
	if err := rdb.XGroupCreate(ctx, stream, "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{stream, ">"}, Count: 6}).Result(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAck(ctx, stream, "g", ids[:4]...).Err(); err != nil {
		t.Fatal(err)
	}
	if n := trim(); n != 4 || left()[0] != ids[4] {
		t.Fatalf("trimmed %d, first left %v; want the 4 acknowledged entries gone and %s (pending) first", n, left(), ids[4])
	}
	// A second group that has read nothing holds everything.
	if err := rdb.XGroupCreate(ctx, stream, "late", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAck(ctx, stream, "g", ids[4:6]...).Err(); err != nil {
		t.Fatal(err)
	}
	if n := trim(); n != 0 || len(left()) != 6 {
		t.Fatalf("a group that read nothing: trimmed %d, %d left; want 0 and 6", n, len(left()))
	}
	if err := rdb.XGroupDestroy(ctx, stream, "late").Err(); err != nil {
		t.Fatal(err)
	}
	// g has acknowledged everything it was given: what it was not given stays.
	if n := trim(); n != 2 || len(left()) != 4 || left()[0] != ids[6] {
		t.Fatalf("trimmed %d, left %v; want entries from %s on", n, left(), ids[6])
	}
}

// TestPendingEntryGoneFromStream: an entry deleted (or trimmed) while
// pending is acknowledged when reclaimed, not handed to the handler nor
// claimed for ever.
func TestPendingEntryGoneFromStream(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	stream := prefix + "gone"
	c := &queue.Consumer{RDB: rdb, Stream: stream, Group: "g", Name: "b", ClaimIdle: 200 * time.Millisecond,
		Block: 50 * time.Millisecond, Log: quiet}
	if err := c.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{queue.Field: `{"v":2}`}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "dead", Streams: []string{stream, ">"}}).Result(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XDel(ctx, stream, id).Err(); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	stop := runConsumer(t, c, func(context.Context, []byte) error { calls.Add(1); return nil })
	defer stop()
	waitUntil(t, "the vanished entry to stop being pending", func() bool {
		p, err := rdb.XPending(ctx, stream, "g").Result()
		return err == nil && p.Count == 0
	})
	if calls.Load() != 0 {
		t.Fatalf("handler called %d times for an entry that no longer exists", calls.Load())
	}
}

// TestOwnPendingCountsDeliveries: a message whose handling kills the
// process comes back from the consumer's own pending list at each start;
// those deliveries count, so it is dead-lettered after MaxDeliveries
// instead of replaying for ever.
func TestOwnPendingCountsDeliveries(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	stream, dlq := prefix+"crash", prefix+"dead"
	mk := func() *queue.Consumer {
		return &queue.Consumer{RDB: rdb, Stream: stream, Group: "g", Name: "same", ClaimIdle: time.Hour,
			Block: 50 * time.Millisecond, MaxDeliveries: 3, DeadLetter: dlq, Log: quiet}
	}
	if err := mk().EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := queue.Publish(ctx, rdb, stream, []byte(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("crashed")
	var handled atomic.Int32
	for start := 0; start < 6; start++ {
		took := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			mk().Run(ctx, func(context.Context, []byte) error {
				handled.Add(1)
				took <- struct{}{}
				<-ctx.Done() // the process dies mid-job
				return crash
			})
		}()
		select {
		case <-took:
		case <-time.After(500 * time.Millisecond):
		}
		cancel()
		<-done
	}
	if n, _ := rdb.XLen(ctx, dlq).Result(); n != 1 {
		t.Fatalf("dead letters: %d, want the crashing message dead-lettered once", n)
	}
	if h := handled.Load(); h != 3 {
		t.Fatalf("handled %d times over 6 starts, want 3 (MaxDeliveries)", h)
	}
}
