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
	"github.com/nimbus-cloud/nimbus/internal/seed"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// FuzzTokenValidate: an API token validates only as itself. Any other
// string (random, or the real token with one byte changed, one byte
// added or cut short) is refused with ErrUnauthorized, and the real
// token still validates afterwards (a refused guess poisons no cache).
func FuzzTokenValidate(f *testing.F) {
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	pool, err := pgxpool.New(ctx, testenv.DatabaseURL(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(pool.Close)
	st := store.New(pool)
	if _, err := seed.Apply(ctx, st, seed.Credentials{AdminPassword: "admin-pass-1", DemoPassword: "demo-pass-1"}); err != nil {
		f.Fatal(err)
	}
	rdb, prefix := testenv.Redis(f)
	svc, err := identity.New(st, rdb, slog.New(slog.NewTextHandler(io.Discard, nil)), identity.Options{TokenTTL: time.Hour,
		RedisPrefix: prefix, Throttle: config.Throttle{PerUser: 100, PerAddr: 100, Window: time.Minute}, HashQueue: 8})
	if err != nil {
		f.Fatal(err)
	}
	valid, _, err := svc.IssueWithPassword(ctx, identity.PasswordLogin{
		User: identity.UserRef{Name: "demo", DomainName: "Default"}, Password: "demo-pass-1"}, identity.Scope{})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "x", valid[:42], valid + "A", "gAAAAABk-fernet-looking-token", string(make([]byte, 43)),
		"x' OR 1=1 --                               ", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		f.Add(s, uint8(0), byte('A'))
	}
	f.Add("", uint8(42), byte('_'))
	f.Add("", uint8(20), byte(0))
	f.Fuzz(func(t *testing.T, s string, pos uint8, b byte) {
		refused := func(what, tok string) {
			if tok == valid {
				return
			}
			if tk, err := svc.Validate(ctx, tok); !errors.Is(err, fault.ErrUnauthorized) {
				t.Fatalf("%s %q: got %v, %v; want ErrUnauthorized", what, tok, tk, err)
			}
		}
		refused("random token", s)
		i := int(pos) % len(valid)
		altered := []byte(valid)
		altered[i] = b
		refused("the valid token with one byte changed", string(altered))
		refused("the valid token with a byte added", valid[:i]+string([]byte{b})+valid[i:])
		refused("the valid token with a byte appended", valid+string([]byte{b}))
		refused("the valid token cut short", valid[:i])
		if _, err := svc.Validate(ctx, valid); err != nil {
			t.Fatalf("the valid token after the others: %v", err)
		}
	})
}
