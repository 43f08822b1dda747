package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

const userCols = `id, domain_id, name, email, description, enabled, coalesce(default_project_id, ''), password_hash, created_at`

func scanUser(row pgx.CollectableRow) (model.User, error) {
	var u model.User
	err := row.Scan(&u.ID, &u.DomainID, &u.Name, &u.Email, &u.Description, &u.Enabled,
		&u.DefaultProjectID, &u.PasswordHash, &u.CreatedAt)
	return u, err
}

// UserFilter narrows Users; zero fields match everything.
type UserFilter struct {
	Name     string
	DomainID string
	Enabled  *bool
}

// CreateUser inserts u with its password hash.
func (s *Store) CreateUser(ctx context.Context, u model.User) (model.User, error) {
	rows, _ := s.db.Query(ctx, `INSERT INTO users (id, domain_id, name, email, description, enabled, default_project_id, password_hash)
		VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''), $8) RETURNING `+userCols,
		u.ID, u.DomainID, u.Name, u.Email, u.Description, u.Enabled, u.DefaultProjectID, u.PasswordHash)
	out, err := pgx.CollectExactlyOneRow(rows, scanUser)
	return out, mapErr(err)
}

// User returns the user with id.
func (s *Store) User(ctx context.Context, id string) (model.User, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id)
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	return u, mapErr(err)
}

// UserByName returns the user named name in domainID.
func (s *Store) UserByName(ctx context.Context, domainID, name string) (model.User, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+userCols+` FROM users WHERE domain_id = $1 AND name = $2`, domainID, name)
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	return u, mapErr(err)
}

// Users lists users matching f, by name.
func (s *Store) Users(ctx context.Context, f UserFilter) ([]model.User, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+userCols+` FROM users
		WHERE ($1 = '' OR name = $1) AND ($2 = '' OR domain_id = $2) AND ($3::boolean IS NULL OR enabled = $3)
		ORDER BY name, id`, f.Name, f.DomainID, f.Enabled)
	us, err := pgx.CollectRows(rows, scanUser)
	return us, mapErr(err)
}

// UpdateUser writes u's profile fields (not the password).
func (s *Store) UpdateUser(ctx context.Context, u model.User) error {
	return affected(s.db.Exec(ctx, `UPDATE users SET name = $2, email = $3, description = $4, enabled = $5,
		default_project_id = nullif($6, '') WHERE id = $1`,
		u.ID, u.Name, u.Email, u.Description, u.Enabled, u.DefaultProjectID))
}

// SetPasswordHash replaces the user's password hash.
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string) error {
	return affected(s.db.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, hash))
}

// DeleteUser removes the user; assignments and tokens go with it.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM users WHERE id = $1`, id))
}

// UserLanguage returns the portal language the user chose, empty if none.
func (s *Store) UserLanguage(ctx context.Context, id string) (string, error) {
	var lang string
	err := s.db.QueryRow(ctx, `SELECT language FROM users WHERE id = $1`, id).Scan(&lang)
	return lang, mapErr(err)
}

// SetUserLanguage records the portal language the user chose.
func (s *Store) SetUserLanguage(ctx context.Context, id, lang string) error {
	return affected(s.db.Exec(ctx, `UPDATE users SET language = $2 WHERE id = $1`, id, lang))
}
