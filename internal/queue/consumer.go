package queue

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Field is the stream entry field that holds the JSON message.
const Field = "m"

// ErrPoison marks a message that can never be handled (malformed, unknown
// version); it goes to the dead-letter stream at once.
var ErrPoison = errors.New("poison message")

// Publish appends a message to a stream.
func Publish(ctx context.Context, rdb redis.Cmdable, stream string, payload []byte) error {
	return rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{Field: payload}}).Err()
}

// Consumer reads one stream as a member of a consumer group. A message is
// acknowledged only after its handler succeeds. Messages left pending by a
// consumer that died (or failed) are reclaimed with XAUTOCLAIM once idle
// for ClaimIdle; one delivered more than MaxDeliveries times, or poison,
// goes to the dead-letter stream and OnDead is told.
type Consumer struct {
	RDB           *redis.Client
	Stream        string
	Group         string
	Name          string
	DeadLetter    string
	Block         time.Duration // how long one read waits for new messages
	ClaimIdle     time.Duration
	MaxDeliveries int64
	Batch         int64
	Log           *slog.Logger
	// OnDead is called for a message given up on, before it is acked.
	OnDead func(ctx context.Context, payload []byte, reason string)
}

// Handler handles one message; an error leaves it pending for a retry.
type Handler func(ctx context.Context, payload []byte) error

// EnsureGroup creates the stream and group if missing.
func (c *Consumer) EnsureGroup(ctx context.Context) error {
	err := c.RDB.XGroupCreateMkStream(ctx, c.Stream, c.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// Run consumes until ctx ends.
func (c *Consumer) Run(ctx context.Context, h Handler) {
	if c.Block == 0 {
		c.Block = 2 * time.Second
	}
	if c.ClaimIdle == 0 {
		c.ClaimIdle = 30 * time.Second
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = 5
	}
	if c.Batch == 0 {
		c.Batch = 32
	}
	log := c.Log.With("stream", c.Stream, "group", c.Group, "consumer", c.Name)
	for ctx.Err() == nil {
		if err := c.EnsureGroup(ctx); err != nil {
			log.Warn("create consumer group", "error", err)
			sleep(ctx, time.Second)
			continue
		}
		break
	}
	// A consumer restarting under the same name first finishes what it
	// had been given before it stopped (its own pending entries).
	c.ownPending(ctx, log, h)
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		if time.Since(lastClaim) >= c.ClaimIdle/2 {
			lastClaim = time.Now()
			c.reclaim(ctx, log, h)
		}
		res, err := c.RDB.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: c.Group, Consumer: c.Name, Streams: []string{c.Stream, ">"},
			Count: c.Batch, Block: min(c.Block, c.ClaimIdle/2),
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				if strings.HasPrefix(err.Error(), "NOGROUP") {
					_ = c.EnsureGroup(ctx)
				} else {
					log.Warn("read stream", "error", err)
				}
				sleep(ctx, 500*time.Millisecond)
			}
			continue
		}
		for _, s := range res {
			for _, m := range s.Messages {
				c.handle(ctx, log, m, 1, h)
			}
		}
	}
}

func (c *Consumer) ownPending(ctx context.Context, log *slog.Logger, h Handler) {
	res, err := c.RDB.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: c.Group, Consumer: c.Name, Streams: []string{c.Stream, "0"}, Count: 1000,
	}).Result()
	if err != nil {
		return
	}
	for _, s := range res {
		for _, m := range s.Messages {
			// Counted like any redelivery: a message that crashes the
			// process would otherwise come back from its own pending list
			// at every start, for ever.
			deliveries := c.deliveries(ctx, m.ID)
			log.Info("resuming own pending message", "id", m.ID, "deliveries", deliveries)
			c.handle(ctx, log, m, deliveries, h)
		}
	}
}

// deliveries is how many times the group has handed out message id.
func (c *Consumer) deliveries(ctx context.Context, id string) int64 {
	p, err := c.RDB.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: c.Stream, Group: c.Group, Start: id, End: id, Count: 1,
	}).Result()
	if err != nil || len(p) != 1 {
		return 1
	}
	return p[0].RetryCount
}

// reclaim takes over pending messages idle for ClaimIdle (from dead
// consumers, or ones whose handler failed) and handles them again.
func (c *Consumer) reclaim(ctx context.Context, log *slog.Logger, h Handler) {
	start := "0-0"
	for ctx.Err() == nil {
		msgs, next, err := c.RDB.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: c.Stream, Group: c.Group, Consumer: c.Name, MinIdle: c.ClaimIdle, Start: start, Count: c.Batch,
		}).Result()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, redis.Nil) {
				log.Warn("reclaim pending", "error", err)
			}
			return
		}
		for _, m := range msgs {
			deliveries := c.deliveries(ctx, m.ID)
			log.Info("reclaimed pending message", "id", m.ID, "deliveries", deliveries)
			c.handle(ctx, log, m, deliveries, h)
		}
		if next == "0-0" || len(msgs) == 0 {
			return
		}
		start = next
	}
}

func (c *Consumer) handle(ctx context.Context, log *slog.Logger, m redis.XMessage, deliveries int64, h Handler) {
	raw, ok := m.Values[Field].(string)
	if !ok && len(m.Values) == 0 {
		// The entry is gone from the stream (deleted or trimmed while
		// pending; XAUTOCLAIM reports such ids without fields): nothing
		// is left to handle, so it stops being pending rather than being
		// claimed for ever.
		log.Warn("pending entry without a message; acknowledging it", "id", m.ID)
		_ = c.RDB.XAck(ctx, c.Stream, c.Group, m.ID).Err()
		return
	}
	if !ok {
		// Fields, but not our message field: something wrote an entry
		// Nimbus cannot read. It is kept, fields and all, where an
		// operator looks, not dropped.
		fields, _ := json.Marshal(m.Values)
		c.dead(ctx, log, m, fields, "entry without a "+Field+" field")
		return
	}
	if deliveries > c.MaxDeliveries {
		c.dead(ctx, log, m, []byte(raw), "delivered too many times")
		return
	}
	err := h(ctx, []byte(raw))
	switch {
	case err == nil:
		if err := c.RDB.XAck(ctx, c.Stream, c.Group, m.ID).Err(); err != nil {
			log.Warn("ack", "id", m.ID, "error", err)
		}
	case errors.Is(err, ErrPoison):
		c.dead(ctx, log, m, []byte(raw), err.Error())
	default:
		if ctx.Err() == nil {
			log.Warn("handler failed; the message stays pending for a retry", "id", m.ID, "error", err)
		}
	}
}

func (c *Consumer) dead(ctx context.Context, log *slog.Logger, m redis.XMessage, raw []byte, reason string) {
	log.Error("dead-lettering message", "id", m.ID, "reason", reason)
	if c.OnDead != nil {
		c.OnDead(ctx, raw, reason)
	}
	if c.DeadLetter != "" {
		if err := c.RDB.XAdd(ctx, &redis.XAddArgs{Stream: c.DeadLetter, Values: map[string]any{
			Field: raw, "stream": c.Stream, "id": m.ID, "reason": reason,
		}}).Err(); err != nil {
			log.Warn("dead-letter", "error", err)
			return
		}
	}
	_ = c.RDB.XAck(ctx, c.Stream, c.Group, m.ID).Err()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
