package identity_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/identity"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/seed"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// twoControllers returns two identity services sharing one database and
// one Redis prefix, as two nimbus processes would.
func twoControllers(t *testing.T) (a, b *identity.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pool, err := pgxpool.New(ctx, testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := store.New(pool)
	if _, err := seed.Apply(ctx, st, seed.Credentials{AdminPassword: "admin-pass-1", DemoPassword: "demo-pass-1"}); err != nil {
		t.Fatal(err)
	}
	rdb, prefix := testenv.Redis(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mk := func() *identity.Service {
		s, err := identity.New(st, rdb, log, identity.Options{TokenTTL: time.Hour, RedisPrefix: prefix,
			Throttle: config.Throttle{PerUser: 100, PerAddr: 100, Window: time.Minute}, HashQueue: 8})
		if err != nil {
			t.Fatal(err)
		}
		go s.Watch(ctx)
		deadline := time.Now().Add(5 * time.Second)
		for !s.CacheLive() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		return s
	}
	return mk(), mk()
}

func login(t *testing.T, s *identity.Service, user, pw string) (string, *model.Token) {
	t.Helper()
	tok, tk, err := s.IssueWithPassword(context.Background(), identity.PasswordLogin{
		User: identity.UserRef{Name: user, DomainName: "Default"}, Password: pw}, identity.Scope{})
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return tok, tk
}

// TestRevocationReachesOtherControllers: a token cached by controller B
// stops working there when controller A revokes it.
func TestRevocationReachesOtherControllers(t *testing.T) {
	a, b := twoControllers(t)
	ctx := context.Background()
	demo, _ := login(t, a, "demo", "demo-pass-1")
	_, admin := login(t, a, "admin", "admin-pass-1")
	for i := 0; i < 3; i++ { // the second and third are served from B's cache
		if _, err := b.Validate(ctx, demo); err != nil {
			t.Fatalf("validate on B: %v", err)
		}
	}
	if err := a.Revoke(ctx, admin, demo); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Validate(ctx, demo); !errors.Is(err, fault.ErrUnauthorized) {
		t.Errorf("on A right after revoke: got %v, want unauthorized", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := b.Validate(ctx, demo)
		if errors.Is(err, fault.ErrUnauthorized) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B still accepts the revoked token after 2s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestValidateRejectsMalformed(t *testing.T) {
	a, _ := twoControllers(t)
	for _, tok := range []string{"", "short", string(make([]byte, 43)), "x' OR 1=1 --                               "} {
		if _, err := a.Validate(context.Background(), tok); !errors.Is(err, fault.ErrUnauthorized) {
			t.Errorf("Validate(%q): got %v, want unauthorized", tok, err)
		}
	}
}

func TestSeedIsApplyOnce(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool)
	cred := seed.Credentials{AdminPassword: "admin-pass-1", DemoPassword: "demo-pass-1"}
	results := make(chan bool, 3)
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ { // three controllers starting at once
		go func() {
			ok, err := seed.Apply(ctx, st, cred)
			results <- ok
			errs <- err
		}()
	}
	seeded := 0
	for i := 0; i < 3; i++ {
		if <-results {
			seeded++
		}
		if err := <-errs; err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	if seeded != 1 {
		t.Errorf("seeded %d times, want 1", seeded)
	}
	fl, _ := st.Flavors(ctx)
	if len(fl) != 5 || fl[0].Name != "m1.tiny" || fl[4].Name != "m1.xlarge" {
		t.Errorf("flavors: got %v", fl)
	}
	q, _ := st.QuotaLimits(ctx, "")
	if q["instances"] != 10 || q["cores"] != 20 || q["ram"] != 51200 {
		t.Errorf("default quotas: got %v", q)
	}
	roles, _ := st.Roles(ctx, "")
	if len(roles) != 3 {
		t.Errorf("roles: got %v", roles)
	}
}
