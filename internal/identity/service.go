// Package identity is Keystone's core: users, projects, roles and their
// assignments, password checks and tokens. Every method that acts for a
// caller takes the caller's token and checks the policy table first, so the
// API and the portal enforce the same rules.
package identity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"runtime"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// Service is the identity service shared by the API and the portal.
type Service struct {
	store    *store.Store
	rdb      *redis.Client
	log      *slog.Logger
	ttl      time.Duration
	channel  string // Redis channel of revocation notices
	cache    *tokenCache
	gate     *gate
	throttle *throttle
	dummy    string // a hash checked for unknown users, to take the same time
	now      func() time.Time
	consoles Consoles // nil: no console proxy to tell
}

// Options are the settings the service needs from the configuration.
type Options struct {
	TokenTTL        time.Duration
	RedisPrefix     string
	Throttle        config.Throttle
	HashConcurrency int // 0: number of CPUs
	HashQueue       int
	// Consoles, when set, is told when access ends so open consoles
	// close on every proxy.
	Consoles Consoles
}

// Consoles closes open consoles, on every proxy, when the access that
// opened them ends (console.Tokens implements it): a user's (userID), a
// user's on one project (userID and projectID), a project's (projectID),
// or those opened with a token or one made from it (auditID).
type Consoles interface {
	RevokeConsoles(ctx context.Context, userID, projectID, auditID string) error
}

// New returns a Service. Run Watch in a goroutine to enable the token cache.
func New(st *store.Store, rdb *redis.Client, log *slog.Logger, o Options) (*Service, error) {
	if o.HashConcurrency <= 0 {
		o.HashConcurrency = runtime.NumCPU()
	}
	dummy, err := hashPassword(randomHex(16))
	if err != nil {
		return nil, err
	}
	return &Service{
		store:    st,
		rdb:      rdb,
		log:      log.With("component", "identity"),
		ttl:      o.TokenTTL,
		channel:  o.RedisPrefix + "identity:revocations",
		cache:    newTokenCache(100_000),
		gate:     newGate(o.HashConcurrency, o.HashQueue),
		throttle: &throttle{rdb: rdb, prefix: o.RedisPrefix, cfg: o.Throttle},
		dummy:    dummy,
		now:      time.Now,
		consoles: o.Consoles,
	}, nil
}

// Watch follows revocation notices from other controllers until ctx ends;
// while it runs, validated tokens are cached in memory.
func (s *Service) Watch(ctx context.Context) {
	s.cache.watch(ctx, s.rdb, s.channel, s.log)
}

// CacheLive reports whether the token cache is in use (tests wait on it).
func (s *Service) CacheLive() bool { return s.cache.live.Load() }

// revoked flushes this controller's token cache and tells the others.
// Call it after the change that ended the tokens has committed.
func (s *Service) revoked(ctx context.Context) {
	s.cache.flush()
	if err := s.rdb.Publish(ctx, s.channel, "flush").Err(); err != nil {
		// Other controllers would keep serving cached tokens: log loudly.
		s.log.Error("publish token revocation", "error", err)
	}
}

// closeConsoles ends the consoles of access that just ended (see
// Consoles). Failure is logged, not returned: the change is committed,
// and a console left open still ends at its lifetime or idle limit.
func (s *Service) closeConsoles(ctx context.Context, userID, projectID, auditID string) {
	if s.consoles == nil {
		return
	}
	if err := s.consoles.RevokeConsoles(context.WithoutCancel(ctx), userID, projectID, auditID); err != nil {
		s.log.Error("close consoles of ended access", "user_id", userID, "project_id", projectID, "error", err)
	}
}

// PurgeExpired deletes expired tokens from the database.
func (s *Service) PurgeExpired(ctx context.Context) (int64, error) {
	return s.store.PurgeExpiredTokens(ctx, s.now())
}

// NewID returns a Keystone-style id: 32 hex digits.
func NewID() string { return randomHex(16) }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}
