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

// throttle counts failed logins per account and per client address in
// Redis, so every controller shares the count. Once a count reaches its
// limit, logins for that account or from that address are refused until
// the window that began with the first failure ends. Names are counted
// whether or not the user exists, so the refusal tells nothing about
// existence.
type throttle struct {
	rdb    *redis.Client
	prefix string
	cfg    config.Throttle
}

// accountKey names the count of one account: a known user by id, however
// the login named it (by id, or by name in a domain given by id or by
// name), so three spellings of one account share one count; an unknown
// one by its domain and lower-cased name.
func (t *throttle) accountKey(userID, domain, name string) string {
	if userID != "" {
		return t.prefix + "authfail:user:id/" + userID
	}
	return t.prefix + "authfail:user:" + strings.ToLower(domain) + "/" + strings.ToLower(name)
}

func (t *throttle) addrKey(addr string) string { return t.prefix + "authfail:addr:" + addr }

// take counts an attempt before its password is checked, atomically: of
// any number of guesses sent at once, at most the limit get to the
// (expensive) check, because each takes its place in the count first.
// It refuses with *fault.Throttled when the account's or the address's
// count is over its limit. The attempt then ends with the returned
// function: a success clears the account's count and gives the address
// its place back; a check that never ran (the server too busy to hash)
// gives both places back; a failure keeps them.
func (t *throttle) take(ctx context.Context, userKey, addr string) (end func(ctx context.Context, o outcome) error, err error) {
	pipe := t.rdb.TxPipeline()
	u := pipe.Incr(ctx, userKey)
	pipe.ExpireNX(ctx, userKey, t.cfg.Window)
	uttl := pipe.PTTL(ctx, userKey)
	var a *redis.IntCmd
	var attl *redis.DurationCmd
	if addr != "" {
		a = pipe.Incr(ctx, t.addrKey(addr))
		pipe.ExpireNX(ctx, t.addrKey(addr), t.cfg.Window)
		attl = pipe.PTTL(ctx, t.addrKey(addr))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("login throttle: %w", err)
	}
	if u.Val() > int64(t.cfg.PerUser) {
		return nil, &fault.Throttled{RetryAfter: max(uttl.Val(), time.Second)}
	}
	if a != nil && a.Val() > int64(t.cfg.PerAddr) {
		return nil, &fault.Throttled{RetryAfter: max(attl.Val(), time.Second)}
	}
	return func(ctx context.Context, o outcome) error {
		if o == failed {
			return nil
		}
		pipe := t.rdb.TxPipeline()
		if o == succeeded {
			pipe.Del(ctx, userKey)
		} else {
			pipe.Decr(ctx, userKey)
		}
		if addr != "" {
			pipe.Decr(ctx, t.addrKey(addr))
		}
		_, err := pipe.Exec(ctx)
		return err
	}, nil
}

// outcome is how a counted login attempt ended.
type outcome int

const (
	failed outcome = iota
	succeeded
	notTried
)
