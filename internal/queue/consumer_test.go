package queue_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func runConsumer(t *testing.T, c *queue.Consumer, h queue.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, h) }()
	return func() { cancel(); wg.Wait() }
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReclaimFromDeadConsumer: a consumer takes a message and dies before
// acknowledging it; another in the group reclaims it with XAUTOCLAIM and
// handles it once.
func TestReclaimFromDeadConsumer(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	stream := prefix + "jobs"
	mk := func(name string) *queue.Consumer {
		return &queue.Consumer{RDB: rdb, Stream: stream, Group: "g", Name: name, ClaimIdle: 300 * time.Millisecond,
			Block: 100 * time.Millisecond, Log: quiet}
	}
	if err := mk("a").EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := queue.Publish(ctx, rdb, stream, []byte(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	// "a" reads the message and never acks: its handler blocks until the
	// test ends, as a process killed mid-job would never finish.
	took := make(chan struct{})
	block := make(chan struct{})
	stopA := runConsumer(t, mk("a"), func(ctx context.Context, b []byte) error {
		close(took)
		select {
		case <-block:
		case <-ctx.Done():
		}
		return errors.New("died")
	})
	<-took
	var handled atomic.Int32
	stopB := runConsumer(t, mk("b"), func(ctx context.Context, b []byte) error {
		handled.Add(1)
		return nil
	})
	waitUntil(t, "b to reclaim the message", func() bool { return handled.Load() == 1 })
	close(block)
	stopA()
	stopB()
	if n, _ := rdb.XPending(ctx, stream, "g").Result(); n.Count != 0 {
		t.Errorf("pending after reclaim: %d, want 0", n.Count)
	}
	if handled.Load() != 1 {
		t.Errorf("handled %d times, want once", handled.Load())
	}
}

// TestDeadLetter: poison goes to the dead-letter stream at once; a message
// whose handler keeps failing goes there after MaxDeliveries, and OnDead
// is told so the instance can be set to ERROR.
func TestDeadLetter(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	stream, dead := prefix+"jobs", prefix+"dead"
	var deadCalls atomic.Int32
	c := &queue.Consumer{RDB: rdb, Stream: stream, Group: "g", Name: "a", DeadLetter: dead, ClaimIdle: 200 * time.Millisecond,
		Block: 50 * time.Millisecond, MaxDeliveries: 3, Log: quiet,
		OnDead: func(context.Context, []byte, string) { deadCalls.Add(1) }}
	if err := c.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	queue.Publish(ctx, rdb, stream, []byte(`{"v":99}`))      // unknown version: poison
	queue.Publish(ctx, rdb, stream, []byte(`{"v":2,"x":1}`)) // always fails
	var attempts atomic.Int32
	stop := runConsumer(t, c, func(ctx context.Context, b []byte) error {
		var j queue.Job
		if err := queue.Decode(b, &j); err != nil {
			return err
		}
		attempts.Add(1)
		return errors.New("keeps failing")
	})
	defer stop()
	waitUntil(t, "both messages dead-lettered", func() bool { n, _ := rdb.XLen(ctx, dead).Result(); return n == 2 })
	if a := attempts.Load(); a != 3 {
		t.Errorf("the failing message was tried %d times, want MaxDeliveries = 3", a)
	}
	if deadCalls.Load() != 2 {
		t.Errorf("OnDead called %d times, want 2", deadCalls.Load())
	}
	if n, _ := rdb.XPending(ctx, stream, "g").Result(); n.Count != 0 {
		t.Errorf("pending after dead-lettering: %d", n.Count)
	}
}
