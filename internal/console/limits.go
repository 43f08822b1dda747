package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limits caps open consoles. A zero cap is no cap.
type Limits struct {
	PerUser     int // open consoles of one user, on every proxy
	PerInstance int // open consoles of one instance, on every proxy
	PerProxy    int // open consoles (and connects under way) on one proxy
}

// ErrTooMany is every refusal for a cap; Refusal says which.
var ErrTooMany = errors.New("too many open consoles")

// Refusal is a cap a new console would exceed.
type Refusal struct {
	Cap string // "user", "instance" or "proxy"
	Max int
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("%s: at most %d per %s", ErrTooMany, r.Max, r.Cap)
}

// Unwrap makes errors.Is(err, ErrTooMany) true.
func (r *Refusal) Unwrap() error { return ErrTooMany }

// Leases count open consoles per user and per instance across every proxy.
// Each session holds a lease: a member of the user's and the instance's
// sorted sets scored with its expiry, which the proxy pushes forward while
// the session lives (every Lease/3) and removes when it ends. A proxy that
// dies stops refreshing, so its sessions stop counting after Lease. Times
// are Redis's own (TIME), so proxies' clocks do not matter.
type Leases struct {
	RDB    *redis.Client
	Prefix string
	Lease  time.Duration // default 30 s
	Log    *slog.Logger
}

// Lease is one session's place in the counts.
type Lease struct {
	id   string
	keys []string
}

func (l *Leases) lease() time.Duration {
	if l.Lease <= 0 {
		return 30 * time.Second
	}
	return l.Lease
}

func (l *Leases) userKey(id string) string     { return l.Prefix + "console:open:user:" + id }
func (l *Leases) instanceKey(id string) string { return l.Prefix + "console:open:instance:" + id }

// acquireScript drops expired leases from each set, refuses (returning
// the 1-based index of the full set) when a set holds its cap already,
// and otherwise, unless ARGV[3] is "dry", adds the lease to every set.
// ARGV: lease ms, member, "dry" or "", then one cap per key (0: none).
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local max = tonumber(ARGV[3 + i])
  if max > 0 and redis.call('ZCARD', key) >= max then return i end
end
if ARGV[3] == 'dry' then return 0 end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[2])
  redis.call('PEXPIRE', key, lease * 2)
end
return 0
`)

// refreshScript pushes a lease's expiry forward in the sets that still
// hold it (XX: a lease dropped as expired is not brought back).
var refreshScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + lease, ARGV[2])
  redis.call('PEXPIRE', key, lease * 2)
end
return 0
`)

func (l *Leases) keysAndCaps(t Target, lim Limits) ([]string, []any) {
	var keys []string
	var caps []any
	if t.UserID != "" { // tokens issued before tokens named their user have no user count
		keys, caps = append(keys, l.userKey(t.UserID)), append(caps, lim.PerUser)
	}
	keys, caps = append(keys, l.instanceKey(t.InstanceID)), append(caps, lim.PerInstance)
	return keys, caps
}

func (l *Leases) run(ctx context.Context, t Target, lim Limits, id, mode string) (*Lease, error) {
	keys, caps := l.keysAndCaps(t, lim)
	args := append([]any{l.lease().Milliseconds(), id, mode}, caps...)
	n, err := acquireScript.Run(ctx, l.RDB, keys, args...).Int()
	if err != nil {
		return nil, fmt.Errorf("count open consoles: %w", err)
	}
	if n > 0 {
		if keys[n-1] == l.instanceKey(t.InstanceID) {
			return nil, &Refusal{Cap: "instance", Max: lim.PerInstance}
		}
		return nil, &Refusal{Cap: "user", Max: lim.PerUser}
	}
	return &Lease{id: id, keys: keys}, nil
}

// Acquire counts a new session of t, or returns a *Refusal when its user
// or instance has as many open consoles as lim allows.
func (l *Leases) Acquire(ctx context.Context, t Target, lim Limits) (*Lease, error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return l.run(ctx, t, lim, hex.EncodeToString(b[:]), "")
}

// Check says, without counting anything, whether a session of t would be
// refused now (the console page asks before connecting).
func (l *Leases) Check(ctx context.Context, t Target, lim Limits) error {
	_, err := l.run(ctx, t, lim, "", "dry")
	return err
}

// Keep refreshes the lease until done is closed; Release it after.
func (l *Leases) Keep(le *Lease, done <-chan struct{}) {
	tick := time.NewTicker(l.lease() / 3)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.lease()/3)
			err := refreshScript.Run(ctx, l.RDB, le.keys, l.lease().Milliseconds(), le.id).Err()
			cancel()
			if err != nil && l.Log != nil {
				// Missed refreshes only make the session stop counting early.
				l.Log.Warn("console: refresh open-console count", "error", err)
			}
		}
	}
}

// Release stops counting the lease.
func (l *Leases) Release(le *Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pipe := l.RDB.Pipeline()
	for _, k := range le.keys {
		pipe.ZRem(ctx, k, le.id)
	}
	if _, err := pipe.Exec(ctx); err != nil && l.Log != nil {
		// The lease expires on its own after Lease.
		l.Log.Warn("console: release open-console count", "error", err)
	}
}
