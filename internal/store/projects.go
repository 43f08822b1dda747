package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

const projectCols = `id, domain_id, name, description, enabled, created_at`

func scanProject(row pgx.CollectableRow) (model.Project, error) {
	var p model.Project
	err := row.Scan(&p.ID, &p.DomainID, &p.Name, &p.Description, &p.Enabled, &p.CreatedAt)
	return p, err
}

// ProjectFilter narrows ListProjects; zero fields match everything.
type ProjectFilter struct {
	Name     string
	DomainID string
	Enabled  *bool
}

// CreateProject inserts p.
func (s *Store) CreateProject(ctx context.Context, p model.Project) (model.Project, error) {
	rows, _ := s.db.Query(ctx, `INSERT INTO projects (id, domain_id, name, description, enabled)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+projectCols,
		p.ID, p.DomainID, p.Name, p.Description, p.Enabled)
	out, err := pgx.CollectExactlyOneRow(rows, scanProject)
	return out, mapErr(err)
}

// Project returns the project with id.
func (s *Store) Project(ctx context.Context, id string) (model.Project, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+projectCols+` FROM projects WHERE id = $1`, id)
	p, err := pgx.CollectExactlyOneRow(rows, scanProject)
	return p, mapErr(err)
}

// ProjectByName returns the project named name in domainID.
func (s *Store) ProjectByName(ctx context.Context, domainID, name string) (model.Project, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+projectCols+` FROM projects WHERE domain_id = $1 AND name = $2`, domainID, name)
	p, err := pgx.CollectExactlyOneRow(rows, scanProject)
	return p, mapErr(err)
}

// Projects lists projects matching f, by name.
func (s *Store) Projects(ctx context.Context, f ProjectFilter) ([]model.Project, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+projectCols+` FROM projects
		WHERE ($1 = '' OR name = $1) AND ($2 = '' OR domain_id = $2) AND ($3::boolean IS NULL OR enabled = $3)
		ORDER BY name, id`, f.Name, f.DomainID, f.Enabled)
	ps, err := pgx.CollectRows(rows, scanProject)
	return ps, mapErr(err)
}

// UserProjects lists the projects userID holds any role on, by name.
func (s *Store) UserProjects(ctx context.Context, userID string) ([]model.Project, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+projectCols+` FROM projects p
		WHERE EXISTS (SELECT 1 FROM role_assignments a WHERE a.project_id = p.id AND a.user_id = $1)
		ORDER BY name, id`, userID)
	ps, err := pgx.CollectRows(rows, scanProject)
	return ps, mapErr(err)
}

// UpdateProject writes p's name, description and enabled flag.
func (s *Store) UpdateProject(ctx context.Context, p model.Project) error {
	return affected(s.db.Exec(ctx, `UPDATE projects SET name = $2, description = $3, enabled = $4 WHERE id = $1`,
		p.ID, p.Name, p.Description, p.Enabled))
}

// DeleteProject removes the project; its assignments and tokens go with
// it, and so do the records of its deleted instances (with their action
// logs), which nothing can show once the project is gone. A project with
// live instances is still refused (instances_project_id_fkey, a conflict):
// their VMs would be left running with no owner.
func (s *Store) DeleteProject(ctx context.Context, id string) error {
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.db.Exec(ctx, `DELETE FROM instances WHERE project_id = $1 AND deleted_at IS NOT NULL`, id); err != nil {
			return mapErr(err)
		}
		return affected(tx.db.Exec(ctx, `DELETE FROM projects WHERE id = $1`, id))
	})
}

// LockProject takes the project's row lock for the rest of the transaction.
// It is FOR NO KEY UPDATE: it excludes other holders of this lock (quota
// counting is serialised per project) but not the key-share locks that
// inserting rows referencing the project takes, so a transaction may write
// its instances first and lock the project after without deadlocking
// against another doing the same.
func (s *Store) LockProject(ctx context.Context, id string) error {
	var got string
	err := s.db.QueryRow(ctx, `SELECT id FROM projects WHERE id = $1 FOR NO KEY UPDATE`, id).Scan(&got)
	return mapErr(err)
}
