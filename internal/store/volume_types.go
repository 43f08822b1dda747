package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

const volumeTypeCols = `id::text, name, description, is_public, extra_specs, created_at`

func scanVolumeType(row pgx.CollectableRow) (model.VolumeType, error) {
	var t model.VolumeType
	err := row.Scan(&t.ID, &t.Name, &t.Description, &t.IsPublic, &t.ExtraSpecs, &t.CreatedAt)
	t.ExtraSpecs = nonNilMap(t.ExtraSpecs)
	return t, err
}

// typeQuotaResources are the per-type quota resources of a type name.
func typeQuotaResources(name string) []string {
	return []string{"volumes_" + name, "gigabytes_" + name, "snapshots_" + name}
}

// CreateVolumeType inserts a type and its per-type quotas (unlimited).
func (s *Store) CreateVolumeType(ctx context.Context, t model.VolumeType) error {
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.db.Exec(ctx, `INSERT INTO volume_types (id, name, description, is_public, extra_specs)
			VALUES ($1, $2, $3, $4, $5)`, t.ID, t.Name, t.Description, t.IsPublic, nonNilMap(t.ExtraSpecs)); err != nil {
			return mapErr(err)
		}
		_, err := tx.db.Exec(ctx, `INSERT INTO quota_defaults (resource, hard_limit) SELECT r, -1 FROM unnest($1::text[]) r
			ON CONFLICT (resource) DO NOTHING`, typeQuotaResources(t.Name))
		return mapErr(err)
	})
}

// VolumeType returns a type by id, or else by name.
func (s *Store) VolumeType(ctx context.Context, idOrName string) (model.VolumeType, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+volumeTypeCols+` FROM volume_types
		WHERE id::text = $1 OR name = $1 ORDER BY id::text = $1 DESC LIMIT 1`, idOrName)
	t, err := pgx.CollectExactlyOneRow(rows, scanVolumeType)
	return t, mapErr(err)
}

// VolumeTypes lists the types by name (publicOnly: the public ones).
func (s *Store) VolumeTypes(ctx context.Context, publicOnly bool) ([]model.VolumeType, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+volumeTypeCols+` FROM volume_types WHERE is_public OR NOT $1 ORDER BY name`, publicOnly)
	ts, err := pgx.CollectRows(rows, scanVolumeType)
	return ts, mapErr(err)
}

// UpdateVolumeType sets a type's name, description, visibility and extra specs.
func (s *Store) UpdateVolumeType(ctx context.Context, old string, t model.VolumeType) error {
	return s.Tx(ctx, func(tx *Store) error {
		if err := affected(tx.db.Exec(ctx, `UPDATE volume_types SET name = $2, description = $3, is_public = $4,
			extra_specs = $5 WHERE id = $1`, t.ID, t.Name, t.Description, t.IsPublic, nonNilMap(t.ExtraSpecs))); err != nil {
			return err
		}
		if old == t.Name {
			return nil
		}
		for i, r := range typeQuotaResources(old) {
			n := typeQuotaResources(t.Name)[i]
			if _, err := tx.db.Exec(ctx, `UPDATE quota_defaults SET resource = $2 WHERE resource = $1`, r, n); err != nil {
				return mapErr(err)
			}
			if _, err := tx.db.Exec(ctx, `UPDATE quotas SET resource = $2 WHERE resource = $1`, r, n); err != nil {
				return mapErr(err)
			}
		}
		return nil
	})
}

// DeleteVolumeType removes a type and its quotas; a type volumes still
// use is refused (ErrConflict).
func (s *Store) DeleteVolumeType(ctx context.Context, t model.VolumeType) error {
	return s.Tx(ctx, func(tx *Store) error {
		if err := affected(tx.db.Exec(ctx, `DELETE FROM volume_types WHERE id = $1`, t.ID)); err != nil {
			return err
		}
		rs := typeQuotaResources(t.Name)
		if _, err := tx.db.Exec(ctx, `DELETE FROM quotas WHERE resource = ANY($1)`, rs); err != nil {
			return mapErr(err)
		}
		_, err := tx.db.Exec(ctx, `DELETE FROM quota_defaults WHERE resource = ANY($1)`, rs)
		return mapErr(err)
	})
}
