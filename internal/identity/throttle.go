package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// throttle counts failed logins per user name and per client address in
// Redis, so every controller shares the count. Once a count reaches its
// limit, logins for that name or from that address are refused until the
// window that began with the first failure ends. Names are counted whether
// or not the user exists, so the refusal tells nothing about existence.
type throttle struct {
	rdb    *redis.Client
	prefix string
	cfg    config.Throttle
}

func (t *throttle) userKey(domain, name string) string {
	return t.prefix + "authfail:user:" + strings.ToLower(domain) + "/" + name
}

func (t *throttle) addrKey(addr string) string { return t.prefix + "authfail:addr:" + addr }

// check refuses with *fault.Throttled when either count is at its limit.
func (t *throttle) check(ctx context.Context, userKey, addr string) error {
	pipe := t.rdb.Pipeline()
	u := pipe.Get(ctx, userKey)
	uttl := pipe.PTTL(ctx, userKey)
	var a *redis.StringCmd
	var attl *redis.DurationCmd
	if addr != "" {
		a = pipe.Get(ctx, t.addrKey(addr))
		attl = pipe.PTTL(ctx, t.addrKey(addr))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return fmt.Errorf("login throttle: %w", err)
	}
	if n, _ := u.Int(); n >= t.cfg.PerUser {
		return &fault.Throttled{RetryAfter: max(uttl.Val(), time.Second)}
	}
	if a != nil {
		if n, _ := a.Int(); n >= t.cfg.PerAddr {
			return &fault.Throttled{RetryAfter: max(attl.Val(), time.Second)}
		}
	}
	return nil
}

// fail counts one failed login.
func (t *throttle) fail(ctx context.Context, userKey, addr string) error {
	pipe := t.rdb.TxPipeline()
	pipe.Incr(ctx, userKey)
	pipe.ExpireNX(ctx, userKey, t.cfg.Window)
	if addr != "" {
		pipe.Incr(ctx, t.addrKey(addr))
		pipe.ExpireNX(ctx, t.addrKey(addr), t.cfg.Window)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// reset clears the user's count after a successful login; the address
// count stays, so one good account cannot launder guesses at others.
func (t *throttle) reset(ctx context.Context, userKey string) error {
	return t.rdb.Del(ctx, userKey).Err()
}
