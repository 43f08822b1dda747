package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

const flavorCols = `id, name, vcpus, ram_mb, disk_gb, ephemeral_gb, swap_mb, rxtx_factor, is_public, description`

func scanFlavor(row pgx.CollectableRow) (model.Flavor, error) {
	var f model.Flavor
	err := row.Scan(&f.ID, &f.Name, &f.VCPUs, &f.RAMMB, &f.DiskGB, &f.EphemeralGB, &f.SwapMB, &f.RXTXFactor, &f.IsPublic, &f.Description)
	return f, err
}

// CreateFlavor inserts f; an existing id is left as it is.
func (s *Store) CreateFlavor(ctx context.Context, f model.Flavor) error {
	_, err := s.db.Exec(ctx, `INSERT INTO flavors (`+flavorCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (id) DO NOTHING`,
		f.ID, f.Name, f.VCPUs, f.RAMMB, f.DiskGB, f.EphemeralGB, f.SwapMB, f.RXTXFactor, f.IsPublic, f.Description)
	return mapErr(err)
}

// InsertFlavor inserts f; a duplicate id or name is ErrDuplicate.
func (s *Store) InsertFlavor(ctx context.Context, f model.Flavor) error {
	_, err := s.db.Exec(ctx, `INSERT INTO flavors (`+flavorCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		f.ID, f.Name, f.VCPUs, f.RAMMB, f.DiskGB, f.EphemeralGB, f.SwapMB, f.RXTXFactor, f.IsPublic, f.Description)
	return mapErr(err)
}

// Flavor returns the flavor with id.
func (s *Store) Flavor(ctx context.Context, id string) (model.Flavor, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+flavorCols+` FROM flavors WHERE id = $1`, id)
	f, err := pgx.CollectExactlyOneRow(rows, scanFlavor)
	return f, mapErr(err)
}

// FlavorFilter narrows Flavors.
type FlavorFilter struct {
	// VisibleTo limits the list to public flavors and private ones the
	// project has access to; empty means all (admin).
	VisibleTo string
	IsPublic  *bool
	MinRAM    int
	MinDisk   int
}

// Flavors lists flavors matching f, smallest first.
func (s *Store) Flavors(ctx context.Context, f ...FlavorFilter) ([]model.Flavor, error) {
	var ff FlavorFilter
	if len(f) > 0 {
		ff = f[0]
	}
	rows, _ := s.db.Query(ctx, `SELECT `+flavorCols+` FROM flavors fl
		WHERE ($1 = '' OR is_public OR EXISTS (SELECT 1 FROM flavor_access a WHERE a.flavor_id = fl.id AND a.project_id = $1))
		  AND ($2::boolean IS NULL OR is_public = $2) AND ram_mb >= $3 AND disk_gb >= $4
		ORDER BY ram_mb, vcpus, disk_gb, id`, ff.VisibleTo, ff.IsPublic, ff.MinRAM, ff.MinDisk)
	fs, err := pgx.CollectRows(rows, scanFlavor)
	return fs, mapErr(err)
}

// FlavorVisible reports whether project may use flavor id.
func (s *Store) FlavorVisible(ctx context.Context, id, project string) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM flavors fl WHERE fl.id = $1 AND (is_public OR
		EXISTS (SELECT 1 FROM flavor_access a WHERE a.flavor_id = fl.id AND a.project_id = $2)))`, id, project).Scan(&ok)
	return ok, mapErr(err)
}

// UpdateFlavorDescription sets the one mutable field of a flavor.
func (s *Store) UpdateFlavorDescription(ctx context.Context, id, description string) error {
	return affected(s.db.Exec(ctx, `UPDATE flavors SET description = $2 WHERE id = $1`, id, description))
}

// DeleteFlavor removes a flavor.
func (s *Store) DeleteFlavor(ctx context.Context, id string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM flavors WHERE id = $1`, id))
}

// ExtraSpecs returns a flavor's extra specs.
func (s *Store) ExtraSpecs(ctx context.Context, flavorID string) (map[string]string, error) {
	rows, err := s.db.Query(ctx, `SELECT key, value FROM flavor_extra_specs WHERE flavor_id = $1`, flavorID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, mapErr(err)
		}
		out[k] = v
	}
	return out, mapErr(rows.Err())
}

// SetExtraSpec sets one extra spec.
func (s *Store) SetExtraSpec(ctx context.Context, flavorID, key, value string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO flavor_extra_specs (flavor_id, key, value) VALUES ($1, $2, $3)
		ON CONFLICT (flavor_id, key) DO UPDATE SET value = excluded.value`, flavorID, key, value)
	return mapErr(err)
}

// DeleteExtraSpec removes one extra spec.
func (s *Store) DeleteExtraSpec(ctx context.Context, flavorID, key string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM flavor_extra_specs WHERE flavor_id = $1 AND key = $2`, flavorID, key))
}

// FlavorAccess lists the projects given access to a private flavor.
func (s *Store) FlavorAccess(ctx context.Context, flavorID string) ([]string, error) {
	rows, _ := s.db.Query(ctx, `SELECT project_id FROM flavor_access WHERE flavor_id = $1 ORDER BY project_id`, flavorID)
	ps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ps, mapErr(err)
}

// AddFlavorAccess gives project access to a flavor.
func (s *Store) AddFlavorAccess(ctx context.Context, flavorID, project string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO flavor_access (flavor_id, project_id) VALUES ($1, $2)`, flavorID, project)
	return mapErr(err)
}

// RemoveFlavorAccess takes a project's access away.
func (s *Store) RemoveFlavorAccess(ctx context.Context, flavorID, project string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM flavor_access WHERE flavor_id = $1 AND project_id = $2`, flavorID, project))
}
