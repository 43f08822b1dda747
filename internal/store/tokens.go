package store

import (
	"context"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

// InsertToken records a newly issued token (its hash only).
func (s *Store) InsertToken(ctx context.Context, t *model.Token) error {
	chain := t.AuditChain
	if chain == nil {
		chain = []string{}
	}
	_, err := s.db.Exec(ctx, `INSERT INTO tokens (hash, user_id, project_id, methods, issued_at, expires_at, audit_id, audit_chain)
		VALUES ($1, $2, nullif($3, ''), $4, $5, $6, $7, $8)`,
		t.Hash, t.UserID, t.ProjectID, t.Methods, t.IssuedAt, t.ExpiresAt, t.AuditID, chain)
	return mapErr(err)
}

// Token loads a live token by hash with its user and project. It returns
// ErrNotFound when the token is unknown, expired, or its user, project or
// either domain is disabled. Roles are not filled; see EffectiveRoles.
func (s *Store) Token(ctx context.Context, hash []byte, now time.Time) (*model.Token, error) {
	t := &model.Token{Hash: hash}
	err := s.db.QueryRow(ctx, `SELECT t.user_id, u.name, ud.id, ud.name,
			coalesce(p.id, ''), coalesce(p.name, ''), coalesce(pd.id, ''), coalesce(pd.name, ''),
			t.methods, t.issued_at, t.expires_at, t.audit_id, t.audit_chain
		FROM tokens t
		JOIN users u ON u.id = t.user_id AND u.enabled
		JOIN domains ud ON ud.id = u.domain_id AND ud.enabled
		LEFT JOIN projects p ON p.id = t.project_id
		LEFT JOIN domains pd ON pd.id = p.domain_id
		WHERE t.hash = $1 AND t.expires_at > $2
		  AND (t.project_id IS NULL OR (p.enabled AND pd.enabled))`, hash, now).Scan(
		&t.UserID, &t.UserName, &t.UserDomain.ID, &t.UserDomain.Name,
		&t.ProjectID, &t.ProjectName, &t.ProjDomain.ID, &t.ProjDomain.Name,
		&t.Methods, &t.IssuedAt, &t.ExpiresAt, &t.AuditID, &t.AuditChain)
	if err != nil {
		return nil, mapErr(err)
	}
	t.UserDomain.Enabled, t.ProjDomain.Enabled = true, t.ProjectID != ""
	return t, nil
}

// RevokeToken deletes the token and every token made from it.
func (s *Store) RevokeToken(ctx context.Context, auditID string) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM tokens WHERE audit_id = $1 OR audit_chain @> ARRAY[$1]`, auditID)
	return tag.RowsAffected(), mapErr(err)
}

// RevokeTokensOf deletes every token of userID (all projects when projectID
// is empty), or of projectID when userID is empty.
func (s *Store) RevokeTokensOf(ctx context.Context, userID, projectID string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM tokens WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR project_id = $2)
		AND ($1 <> '' OR $2 <> '')`, userID, projectID)
	return mapErr(err)
}

// RevokeRoleTokens deletes tokens scoped to projects where roleID is held,
// used when a role is deleted outright.
func (s *Store) RevokeRoleTokens(ctx context.Context, roleID string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM tokens t USING role_assignments a
		WHERE a.role_id = $1 AND t.user_id = a.user_id AND t.project_id = a.project_id`, roleID)
	return mapErr(err)
}

// PurgeExpiredTokens deletes tokens that expired before now.
func (s *Store) PurgeExpiredTokens(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM tokens WHERE expires_at <= $1`, now)
	return tag.RowsAffected(), mapErr(err)
}
