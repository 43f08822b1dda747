package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

const roleCols = `id, name, description`

func scanRole(row pgx.CollectableRow) (model.Role, error) {
	var r model.Role
	err := row.Scan(&r.ID, &r.Name, &r.Description)
	return r, err
}

// CreateRole inserts r.
func (s *Store) CreateRole(ctx context.Context, r model.Role) error {
	_, err := s.db.Exec(ctx, `INSERT INTO roles (id, name, description) VALUES ($1, $2, $3)`, r.ID, r.Name, r.Description)
	return mapErr(err)
}

// ImplyRole records that holding prior grants implied too.
func (s *Store) ImplyRole(ctx context.Context, priorID, impliedID string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO implied_roles (prior_role_id, implied_role_id) VALUES ($1, $2)
		ON CONFLICT DO NOTHING`, priorID, impliedID)
	return mapErr(err)
}

// Role returns the role with id.
func (s *Store) Role(ctx context.Context, id string) (model.Role, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+roleCols+` FROM roles WHERE id = $1`, id)
	r, err := pgx.CollectExactlyOneRow(rows, scanRole)
	return r, mapErr(err)
}

// RoleByName returns the role named name.
func (s *Store) RoleByName(ctx context.Context, name string) (model.Role, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+roleCols+` FROM roles WHERE name = $1`, name)
	r, err := pgx.CollectExactlyOneRow(rows, scanRole)
	return r, mapErr(err)
}

// Roles lists roles, optionally only the one named name.
func (s *Store) Roles(ctx context.Context, name string) ([]model.Role, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+roleCols+` FROM roles WHERE ($1 = '' OR name = $1) ORDER BY name`, name)
	rs, err := pgx.CollectRows(rows, scanRole)
	return rs, mapErr(err)
}

// UpdateRole writes r's name and description.
func (s *Store) UpdateRole(ctx context.Context, r model.Role) error {
	return affected(s.db.Exec(ctx, `UPDATE roles SET name = $2, description = $3 WHERE id = $1`, r.ID, r.Name, r.Description))
}

// DeleteRole removes the role and every assignment of it.
func (s *Store) DeleteRole(ctx context.Context, id string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM roles WHERE id = $1`, id))
}

// EffectiveRoles returns the roles userID holds on projectID, implied roles
// included, by name.
func (s *Store) EffectiveRoles(ctx context.Context, userID, projectID string) ([]model.Role, error) {
	rows, _ := s.db.Query(ctx, `WITH RECURSIVE r(id) AS (
			SELECT role_id FROM role_assignments WHERE user_id = $1 AND project_id = $2
			UNION
			SELECT i.implied_role_id FROM implied_roles i JOIN r ON i.prior_role_id = r.id
		)
		SELECT `+roleCols+` FROM roles WHERE id IN (SELECT id FROM r) ORDER BY name`, userID, projectID)
	rs, err := pgx.CollectRows(rows, scanRole)
	return rs, mapErr(err)
}
