package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// versionOf reads the top-level "v" the way a reader of the format would:
// the message must be a JSON object whose "v" is the current version
// exactly. encoding/json matches keys case-insensitively and keeps the
// last of duplicates in document order, so this does too.
func versionOf(b []byte) (v int, ok bool) {
	if !json.Valid(b) {
		return 0, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, false
	}
	var raw json.RawMessage
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return 0, false
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return 0, false
		}
		if key, _ := k.(string); bytes.EqualFold([]byte(key), []byte("v")) {
			raw = val
		}
	}
	if raw == nil {
		return 0, true
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false
	}
	return v, true
}

// FuzzDecode: every input either decodes to a message of the current
// version or is refused with an error wrapping ErrPoison, so the consumer
// dead-letters it at once (TestUndecodableDeadLettered); never a message
// of another version, and never an error that would only be retried.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"v":2,"kind":"build","instance_id":"5d1e2f3a-0b0c-4d0e-8f00-00000000abcd","action_id":7,"build":{"vcpus":1,"memory_mb":512}}`,
		`{"v":2,"kind":"done","job":"build","host":"h1","at":"2024-01-01T00:00:00Z","instances":["a"]}`,
		`{"v":9,"kind":"build"}`, `{"kind":"build"}`, `{"v":"1"}`, `{"v":1.5}`, `{"v":2,"action_id":"x"}`,
		`{"v":2,"at":"yesterday"}`, `{"v":2,"V":9}`, `{"V":1}`, `[1]`, `null`, ``, `{`, "\xff", `{"v":2}garbage`,
		`{"v":2,"build":{"metadata":{"a":1}}}`, `{"v":1e0}`, `{"v":-1}`, `{"v":2,"instances":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := versionOf(b)
		var j queue.Job
		jerr := queue.Decode(b, &j)
		var ev queue.Event
		everr := queue.Decode(b, &ev)
		for _, c := range []struct {
			what string
			err  error
			v    int
		}{{"job", jerr, j.V}, {"event", everr, ev.V}} {
			if c.err != nil {
				if !errors.Is(c.err, queue.ErrPoison) {
					t.Fatalf("Decode(%q) as %s: %v, which does not wrap ErrPoison (it would be retried, not dead-lettered)", b, c.what, c.err)
				}
				continue
			}
			if !json.Valid(b) || !ok || v != queue.Version || c.v != queue.Version {
				t.Fatalf("Decode(%q) as %s accepted a message of version %d (read %d, %v), want only version %d",
					b, c.what, c.v, v, ok, queue.Version)
			}
		}
	})
}

// TestUndecodableDeadLettered: messages no handler can read (malformed
// JSON, an unknown version, wrong field types, an entry without the
// message field) go to the dead-letter stream on their first delivery,
// with their bytes and a reason, OnDead is told, and nothing stays
// pending: none is dropped and none waits for MaxDeliveries retries.
func TestUndecodableDeadLettered(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	stream, dead := prefix+"jobs", prefix+"dead"
	var deadCalls atomic.Int32
	// ClaimIdle far beyond the test: a message left pending would only
	// come back through a reclaim, so it would never reach the dead
	// letters here.
	c := &queue.Consumer{RDB: rdb, Stream: stream, Group: "g", Name: "a", DeadLetter: dead, ClaimIdle: time.Hour,
		Block: 50 * time.Millisecond, MaxDeliveries: 3, Log: quiet,
		OnDead: func(context.Context, []byte, string) { deadCalls.Add(1) }}
	if err := c.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	bad := []string{``, `{`, "\xff\xfe", `[1,2]`, `null`, `{"v":9,"kind":"build"}`, `{"kind":"build"}`,
		`{"v":"1"}`, `{"v":2,"action_id":"seven"}`, `{"v":2,"instance_id":7}`, `{"v":2}trailing`}
	for _, b := range bad {
		if err := queue.Publish(ctx, rdb, stream, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{"message": `{"v":2}`}}).Err(); err != nil {
		t.Fatal(err)
	}
	want := len(bad) + 1
	var handled atomic.Int32
	stop := runConsumer(t, c, func(ctx context.Context, b []byte) error {
		var j queue.Job
		if err := queue.Decode(b, &j); err != nil {
			return err
		}
		handled.Add(1)
		return nil
	})
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for n, _ := rdb.XLen(ctx, dead).Result(); n != int64(want); n, _ = rdb.XLen(ctx, dead).Result() {
		if time.Now().After(deadline) {
			t.Errorf("%d messages dead-lettered, want %d", n, want)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if handled.Load() != 0 {
		t.Errorf("%d undecodable messages handled", handled.Load())
	}
	if deadCalls.Load() != int32(want) {
		t.Errorf("OnDead called %d times, want %d", deadCalls.Load(), want)
	}
	if n, _ := rdb.XPending(ctx, stream, "g").Result(); n.Count != 0 {
		t.Errorf("pending after dead-lettering: %d, want 0", n.Count)
	}
	entries, err := rdb.XRange(ctx, dead, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range entries {
		m, _ := e.Values[queue.Field].(string)
		got[m] = true
		if r, _ := e.Values["reason"].(string); r == "" {
			t.Errorf("dead letter %q without a reason", m)
		}
	}
	for _, b := range bad {
		if !got[b] {
			t.Errorf("%q is not among the dead letters with its bytes", b)
		}
	}
}
