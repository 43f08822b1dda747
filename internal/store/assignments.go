package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

// AssignmentFilter narrows Assignments; zero fields match everything.
type AssignmentFilter struct {
	UserID    string
	ProjectID string
	RoleID    string
	// Effective expands implied roles, as Keystone's ?effective does.
	Effective bool
}

// Grant gives userID roleID on projectID; granting twice is not an error.
func (s *Store) Grant(ctx context.Context, userID, projectID, roleID string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO role_assignments (user_id, project_id, role_id) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, userID, projectID, roleID)
	return mapErr(err)
}

// Revoke removes one assignment; ErrNotFound if there was none.
func (s *Store) Revoke(ctx context.Context, userID, projectID, roleID string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM role_assignments WHERE user_id = $1 AND project_id = $2 AND role_id = $3`,
		userID, projectID, roleID))
}

// HasAssignment reports whether exactly that assignment exists.
func (s *Store) HasAssignment(ctx context.Context, userID, projectID, roleID string) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM role_assignments WHERE user_id = $1 AND project_id = $2 AND role_id = $3)`,
		userID, projectID, roleID).Scan(&ok)
	return ok, mapErr(err)
}

// Assignments lists assignments matching f with names filled in, ordered
// by project, user and role name.
func (s *Store) Assignments(ctx context.Context, f AssignmentFilter) ([]model.RoleAssignment, error) {
	base := `SELECT user_id, project_id, role_id FROM role_assignments`
	if f.Effective {
		base = `WITH RECURSIVE e(user_id, project_id, role_id) AS (
			SELECT user_id, project_id, role_id FROM role_assignments
			UNION
			SELECT e.user_id, e.project_id, i.implied_role_id FROM e JOIN implied_roles i ON i.prior_role_id = e.role_id
		) SELECT user_id, project_id, role_id FROM e`
	}
	rows, _ := s.db.Query(ctx, `SELECT a.user_id, a.project_id, a.role_id, u.name, p.name, r.name, ud.id, ud.name, pd.id, pd.name
		FROM (`+base+`) a
		JOIN users u ON u.id = a.user_id JOIN projects p ON p.id = a.project_id JOIN roles r ON r.id = a.role_id
		JOIN domains ud ON ud.id = u.domain_id JOIN domains pd ON pd.id = p.domain_id
		WHERE ($1 = '' OR a.user_id = $1) AND ($2 = '' OR a.project_id = $2) AND ($3 = '' OR a.role_id = $3)
		ORDER BY p.name, u.name, r.name`, f.UserID, f.ProjectID, f.RoleID)
	as, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.RoleAssignment, error) {
		var a model.RoleAssignment
		err := row.Scan(&a.UserID, &a.ProjectID, &a.RoleID, &a.UserName, &a.ProjectName, &a.RoleName, &a.UserDomain.ID, &a.UserDomain.Name, &a.ProjDomain.ID, &a.ProjDomain.Name)
		return a, err
	})
	return as, mapErr(err)
}
