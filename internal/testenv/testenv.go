// Package testenv gives tests real backing services: a fresh PostgreSQL
// database per call, made from a migrated template, and a Redis client
// whose keys carry a prefix unique to the test. `make test` starts the
// services and sets NIMBUS_TEST_DATABASE_URL and NIMBUS_TEST_REDIS_URL.
// Without them a test is skipped, unless CI=true, where that is a failure.
package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/store"
)

func need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		msg := name + " is not set: run the tests with `make test`, which starts PostgreSQL and Redis"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return v
}

// DatabaseURL returns the URL of a new, migrated, empty database that is
// dropped when the test ends.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	admin := need(t, "NIMBUS_TEST_DATABASE_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	// One lock for every test process: template creation and copying
	// both need the template to have no other session.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(727274)`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock(727274)`)
	tmpl := "nimbus_tmpl_" + migrationsHash(t)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, tmpl).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE DATABASE `+tmpl); err != nil {
			t.Fatal(err)
		}
		if err := store.Migrate(ctx, withDB(t, admin, tmpl)); err != nil {
			conn.Exec(ctx, `DROP DATABASE `+tmpl)
			t.Fatalf("migrate template: %v", err)
		}
	}
	name := "nimbus_t_" + randHex(6)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE `+tmpl); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("drop test database: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("drop test database: %v", err)
		}
	})
	return withDB(t, admin, name)
}

func withDB(t testing.TB, raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	return u.String()
}

func migrationsHash(t testing.TB) string {
	h := sha256.New()
	err := fs.WalkDir(store.Migrations(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(store.Migrations(), path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// RedisURL returns the test Redis URL.
func RedisURL(t testing.TB) string {
	t.Helper()
	return need(t, "NIMBUS_TEST_REDIS_URL")
}

// Redis returns a client and a key prefix unique to this test; keys under
// the prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	prefix := fmt.Sprintf("test:%s:%s:", strings.ReplaceAll(t.Name(), "/", "_"), randHex(4))
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return rdb, prefix
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
