package queue

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// MarkUnavailable makes every failure of rdb to reach Redis or to get an
// answer in time (refused, reset, EOF, timeout, pool exhausted, closed) a
// fault.ErrUnavailable, so that sessions, the login throttle, console
// tokens and the rest answer 503 when Redis is down rather than 500. The
// cause stays wrapped for errors.Is and the log. Redis's own replies
// (redis.Nil, WRONGTYPE, a failed transaction) are left as they are.
func MarkUnavailable(rdb *redis.Client) { rdb.AddHook(unavailableHook{}) }

type unavailableHook struct{}

func (unavailableHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (unavailableHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return unavailable(next(ctx, cmd)) // the client sets it on cmd
	}
}

func (unavailableHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			if e := c.Err(); e != nil {
				c.SetErr(unavailable(e))
			}
		}
		return unavailable(err)
	}
}

func unavailable(err error) error {
	var reply redis.Error
	if err == nil || errors.As(err, &reply) || errors.Is(err, redis.TxFailedErr) {
		return err
	}
	return fault.Unavailable(err)
}
