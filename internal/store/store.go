// Package store is the only package that talks to PostgreSQL. It holds raw
// SQL next to the Go that scans it, one file per table, and returns model
// types. Schema changes are the numbered files in migrations/.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Sentinel errors that callers branch on.
// They wrap the fault package's conditions so handlers map them with no
// knowledge of the store.
var (
	ErrNotFound  = fault.ErrNotFound
	ErrDuplicate = fmt.Errorf("already exists: %w", fault.ErrConflict)
	ErrConflict  = fmt.Errorf("still in use: %w", fault.ErrConflict)
	// ErrInvalid reports a value the database's constraints refused.
	ErrInvalid = &fault.Validation{Message: "invalid value"}
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded migration files.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// db is what both a pool and a transaction offer.
type db interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Store runs queries on a pool, or inside one transaction when made by Tx.
type Store struct {
	pool *pgxpool.Pool
	db   db
}

// New returns a Store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, db: pool} }

// Pool returns the underlying pool (health checks use it).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Tx runs fn inside one transaction; fn's Store sees and writes only
// through it. The transaction commits when fn returns nil.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	if _, nested := s.db.(pgx.Tx); nested {
		return fn(s)
	}
	return mapErr(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(&Store{pool: s.pool, db: tx})
	}))
}

// PoolConfig parses databaseURL into a pool configuration with maxConns
// connections, where getting a connection (from the pool, or a new one)
// gives up after acquireTimeout: when PostgreSQL is unreachable or every
// connection is stuck, requests fail over to a 503 in seconds instead of
// queueing until their own deadline. A URL without connect_timeout gets
// the same bound on connecting.
func PoolConfig(databaseURL string, maxConns int, acquireTimeout time.Duration) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(maxConns)
	if acquireTimeout > 0 {
		if cfg.ConnConfig.ConnectTimeout == 0 {
			cfg.ConnConfig.ConnectTimeout = acquireTimeout
		}
		if cfg.ConnConfig.Tracer == nil {
			cfg.ConnConfig.Tracer = acquireDeadline(acquireTimeout)
		}
	}
	return cfg, nil
}

// acquireDeadline bounds pgxpool's Acquire, which has no timeout of its
// own: the pool calls TraceAcquireStart first and waits with the context
// it returns. It traces nothing else.
type acquireDeadline time.Duration

type cancelKey struct{}

func (d acquireDeadline) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(d))
	return context.WithValue(ctx, cancelKey{}, cancel)
}

func (acquireDeadline) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}

func (acquireDeadline) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (acquireDeadline) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// Migrate applies every migration not yet applied. It holds an advisory
// lock while it runs, so several controllers may start at once.
func Migrate(ctx context.Context, databaseURL string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("connect for migrations: %w", err)
	}
	defer conn.Close(ctx)
	m, err := migrate.NewMigrator(ctx, conn, "schema_version")
	if err != nil {
		return fmt.Errorf("migrator: %w", err)
	}
	if err := m.LoadMigrations(Migrations()); err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// mapErr turns pgx's errors into the package's sentinels and fault's
// conditions. It is the one place that knows PostgreSQL's error classes:
//
//   - no row: ErrNotFound (404);
//   - 23505 unique violation: ErrDuplicate, 23503 foreign key: ErrConflict (409);
//   - 22 data exceptions (2201B bad regular expression, 22021 bad byte
//     sequence, 22003 number out of range, 22P02 bad text form, 22001
//     too long, ...) and 23502/23514 constraint refusals: a
//     *fault.Validation (400) whose message names the class, never the SQL;
//   - 40001 serialization failure, 40P01 deadlock, 55P03 lock not
//     available: fault.ErrUnavailable (503 with Retry-After; the
//     transaction rolled back and may simply be sent again);
//   - 08 connection exceptions, 53 insufficient resources, 57P01-57P03
//     shutdown, 57014 cancelled, and every failure to reach the server or
//     to get an answer in time: fault.ErrUnavailable (503).
//
// Anything else (a bug: bad SQL, a scan into the wrong type) stays as it
// is and becomes a logged 500 with a fixed message.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return &constraintErr{ErrDuplicate, pe.ConstraintName}
		case pe.Code == "23503":
			return &constraintErr{ErrConflict, pe.ConstraintName}
		case pe.Code == "23514" || pe.Code == "23502":
			return &fault.Validation{Code: "invalid", Message: "a value is outside what is allowed"}
		case strings.HasPrefix(pe.Code, "22"):
			return &fault.Validation{Code: "invalid", Message: dataException(pe.Code)}
		case pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "55P03" || pe.Code == "57014" ||
			strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "53") || strings.HasPrefix(pe.Code, "57P"):
			return fault.Unavailable(err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) || fault.IsUnavailable(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fault.Unavailable(err)
	}
	return err
}

// constraintErr is a unique or foreign-key violation with the constraint
// that refused it, for callers that answer each differently (an address
// taken meanwhile is retried, a duplicate rule is the caller's mistake).
type constraintErr struct {
	sentinel error
	name     string
}

func (e *constraintErr) Error() string { return e.sentinel.Error() + ": " + e.name }
func (e *constraintErr) Unwrap() error { return e.sentinel }

// Violated reports whether err is the violation of the named constraint.
func Violated(err error, constraint string) bool {
	var ce *constraintErr
	return errors.As(err, &ce) && ce.name == constraint
}

// dataException says what kind of value PostgreSQL refused (class 22).
func dataException(code string) string {
	switch code {
	case "2201B":
		return "invalid regular expression"
	case "22021", "22P05":
		return "text must be valid UTF-8 without NUL characters"
	case "22003":
		return "a number is out of range"
	case "22P02":
		return "a value does not have the expected form"
	case "22001":
		return "a value is too long"
	case "22007", "22008":
		return "a date or time is invalid"
	}
	return "a value is invalid"
}

// affected returns ErrNotFound when a write touched no row.
func affected(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Savepoint runs fn inside a savepoint of the current transaction (a
// transaction of its own outside one): an error from fn undoes fn's
// writes only, and the transaction goes on (an address taken meanwhile by
// another request is tried again with the next one).
func (s *Store) Savepoint(ctx context.Context, fn func(tx *Store) error) error {
	tx, ok := s.db.(pgx.Tx)
	if !ok {
		return s.Tx(ctx, fn)
	}
	return mapErr(pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		return fn(&Store{pool: s.pool, db: sp})
	}))
}
