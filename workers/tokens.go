// Package workers holds the controller's background loops. Each runs until
// its context ends; web starts them beside the HTTP server.
package workers

import (
	"context"
	"log/slog"
	"time"
)

// TokenPurger deletes expired tokens.
type TokenPurger interface {
	PurgeExpired(ctx context.Context) (int64, error)
}

// PurgeTokens deletes expired tokens every interval until ctx ends, so the
// token table holds only live tokens. Several controllers doing it at once
// is harmless.
func PurgeTokens(ctx context.Context, p TokenPurger, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := p.PurgeExpired(ctx)
			if err != nil && ctx.Err() == nil {
				log.Warn("purge expired tokens", "error", err)
			} else if n > 0 {
				log.Debug("purged expired tokens", "count", n)
			}
		}
	}
}
