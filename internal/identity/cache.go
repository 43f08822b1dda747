package identity

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

// tokenCache keeps validated tokens in memory so that validating a token
// costs a map lookup, not a database round trip.
//
// Correctness rests on invalidation, not on a short lifetime: every change
// that can end a token (revoke, password change, disable, role removal,
// delete) flushes the cache of the controller that made it before the call
// returns, and publishes on a Redis channel so every other controller
// flushes too. The cache is only used while the subscription is live; if it
// drops, each validation goes to the database until it is back. The epoch
// stops a validation that raced a flush from caching a stale answer.
type tokenCache struct {
	mu      sync.RWMutex
	entries map[string]*model.Token
	epoch   atomic.Uint64
	live    atomic.Bool // the revocation subscription is up
	max     int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{entries: make(map[string]*model.Token), max: max}
}

func (c *tokenCache) get(key string, now time.Time) *model.Token {
	if !c.live.Load() {
		return nil
	}
	c.mu.RLock()
	t := c.entries[key]
	c.mu.RUnlock()
	if t == nil || !now.Before(t.ExpiresAt) {
		return nil
	}
	return t
}

// put caches t unless the cache was flushed since epoch was read.
func (c *tokenCache) put(key string, t *model.Token, epoch uint64) {
	if !c.live.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch.Load() != epoch {
		return
	}
	if len(c.entries) >= c.max {
		clear(c.entries)
	}
	c.entries[key] = t
}

func (c *tokenCache) flush() {
	c.mu.Lock()
	c.epoch.Add(1)
	clear(c.entries)
	c.mu.Unlock()
}

// watch keeps the revocation subscription up until ctx ends, flushing on
// every message and whenever the subscription is lost or regained.
func (c *tokenCache) watch(ctx context.Context, rdb *redis.Client, channel string, log *slog.Logger) {
	for ctx.Err() == nil {
		sub := rdb.Subscribe(ctx, channel)
		if _, err := sub.Receive(ctx); err != nil {
			sub.Close()
			if ctx.Err() == nil {
				log.Warn("token revocation feed down; validating every token against the database", "error", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		// ReceiveMessage does not return on ctx alone; closing does it.
		stop := context.AfterFunc(ctx, func() { sub.Close() })
		c.flush()
		c.live.Store(true)
		for {
			msg, err := sub.ReceiveMessage(ctx)
			if err != nil {
				break
			}
			_ = msg
			c.flush()
		}
		c.live.Store(false)
		c.flush()
		stop()
		sub.Close()
	}
}
