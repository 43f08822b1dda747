package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

const domainCols = `id, name, description, enabled`

func scanDomain(row pgx.CollectableRow) (model.Domain, error) {
	var d model.Domain
	err := row.Scan(&d.ID, &d.Name, &d.Description, &d.Enabled)
	return d, err
}

// CreateDomain inserts d.
func (s *Store) CreateDomain(ctx context.Context, d model.Domain) error {
	_, err := s.db.Exec(ctx, `INSERT INTO domains (`+domainCols+`) VALUES ($1, $2, $3, $4)`,
		d.ID, d.Name, d.Description, d.Enabled)
	return mapErr(err)
}

// Domain returns the domain with id.
func (s *Store) Domain(ctx context.Context, id string) (model.Domain, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+domainCols+` FROM domains WHERE id = $1`, id)
	d, err := pgx.CollectExactlyOneRow(rows, scanDomain)
	return d, mapErr(err)
}

// DomainByName returns the domain named name.
func (s *Store) DomainByName(ctx context.Context, name string) (model.Domain, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+domainCols+` FROM domains WHERE name = $1`, name)
	d, err := pgx.CollectExactlyOneRow(rows, scanDomain)
	return d, mapErr(err)
}

// Domains lists domains, optionally only the one named name.
func (s *Store) Domains(ctx context.Context, name string) ([]model.Domain, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+domainCols+` FROM domains WHERE ($1 = '' OR name = $1) ORDER BY name`, name)
	ds, err := pgx.CollectRows(rows, scanDomain)
	return ds, mapErr(err)
}
