package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

const keypairCols = `user_id, name, type, public_key, fingerprint, created_at`

func scanKeyPair(row pgx.CollectableRow) (model.KeyPair, error) {
	var k model.KeyPair
	err := row.Scan(&k.UserID, &k.Name, &k.Type, &k.PublicKey, &k.Fingerprint, &k.CreatedAt)
	return k, err
}

// CreateKeyPair inserts k; a name the user already has is ErrDuplicate.
func (s *Store) CreateKeyPair(ctx context.Context, k model.KeyPair) (model.KeyPair, error) {
	rows, _ := s.db.Query(ctx, `INSERT INTO keypairs (user_id, name, type, public_key, fingerprint)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+keypairCols, k.UserID, k.Name, k.Type, k.PublicKey, k.Fingerprint)
	out, err := pgx.CollectExactlyOneRow(rows, scanKeyPair)
	return out, mapErr(err)
}

// KeyPair returns one of the user's key pairs.
func (s *Store) KeyPair(ctx context.Context, userID, name string) (model.KeyPair, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+keypairCols+` FROM keypairs WHERE user_id = $1 AND name = $2`, userID, name)
	k, err := pgx.CollectExactlyOneRow(rows, scanKeyPair)
	return k, mapErr(err)
}

// KeyPairs lists the user's key pairs by name.
func (s *Store) KeyPairs(ctx context.Context, userID string) ([]model.KeyPair, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+keypairCols+` FROM keypairs WHERE user_id = $1 ORDER BY name`, userID)
	ks, err := pgx.CollectRows(rows, scanKeyPair)
	return ks, mapErr(err)
}

// CountKeyPairs counts the user's key pairs (the key_pairs quota).
func (s *Store) CountKeyPairs(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM keypairs WHERE user_id = $1`, userID).Scan(&n)
	return n, mapErr(err)
}

// DeleteKeyPair removes one of the user's key pairs.
func (s *Store) DeleteKeyPair(ctx context.Context, userID, name string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM keypairs WHERE user_id = $1 AND name = $2`, userID, name))
}

// LockUser takes the user's row lock for the rest of the transaction.
func (s *Store) LockUser(ctx context.Context, id string) error {
	var got string
	return mapErr(s.db.QueryRow(ctx, `SELECT id FROM users WHERE id = $1 FOR UPDATE`, id).Scan(&got))
}
