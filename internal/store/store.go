// Package store is the only package that talks to PostgreSQL. It holds raw
// SQL next to the Go that scans it, one file per table, and returns model
// types. Schema changes are the numbered files in migrations/.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

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
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(&Store{pool: s.pool, db: tx})
	})
}

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

// mapErr turns pgx's errors into the package's sentinels.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return fmt.Errorf("%w: %s", ErrDuplicate, pe.ConstraintName)
		case "23503":
			return fmt.Errorf("%w: %s", ErrConflict, pe.ConstraintName)
		case "23514", "22001", "22P02":
			return &fault.Validation{Message: "value refused by constraint " + pe.ConstraintName}
		}
	}
	return err
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
