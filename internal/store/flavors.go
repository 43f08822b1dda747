package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

const flavorCols = `id, name, vcpus, ram_mb, disk_gb, ephemeral_gb, swap_mb, rxtx_factor, is_public, description`

// CreateFlavor inserts f; an existing id is left as it is.
func (s *Store) CreateFlavor(ctx context.Context, f model.Flavor) error {
	_, err := s.db.Exec(ctx, `INSERT INTO flavors (`+flavorCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (id) DO NOTHING`,
		f.ID, f.Name, f.VCPUs, f.RAMMB, f.DiskGB, f.EphemeralGB, f.SwapMB, f.RXTXFactor, f.IsPublic, f.Description)
	return mapErr(err)
}

// Flavors lists every flavor, smallest first.
func (s *Store) Flavors(ctx context.Context) ([]model.Flavor, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+flavorCols+` FROM flavors ORDER BY ram_mb, vcpus, disk_gb, id`)
	fs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.Flavor, error) {
		var f model.Flavor
		err := row.Scan(&f.ID, &f.Name, &f.VCPUs, &f.RAMMB, &f.DiskGB, &f.EphemeralGB, &f.SwapMB, &f.RXTXFactor, &f.IsPublic, &f.Description)
		return f, err
	})
	return fs, mapErr(err)
}
