package store

import (
	"context"
	"encoding/json"
)

// OutboxEntry is one job waiting to go to its Redis stream.
type OutboxEntry struct {
	ID      int64
	Stream  string
	Payload []byte
}

// Enqueue writes a job to the outbox, in the caller's transaction.
func (s *Store) Enqueue(ctx context.Context, stream string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `INSERT INTO outbox (stream, payload) VALUES ($1, $2)`, stream, b)
	return mapErr(err)
}

// RelayOutbox hands up to limit unsent entries to send, oldest first, and
// marks those it sent. Rows are locked with SKIP LOCKED, so several relays
// share the work without sending a row twice at the same time. send
// returns how many of the entries (a prefix) it delivered.
func (s *Store) RelayOutbox(ctx context.Context, limit int, send func([]OutboxEntry) (int, error)) (int, error) {
	n := 0
	var sendErr error
	err := s.Tx(ctx, func(tx *Store) error {
		rows, err := tx.db.Query(ctx, `SELECT id, stream, payload FROM outbox WHERE sent_at IS NULL
			ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		var es []OutboxEntry
		for rows.Next() {
			var e OutboxEntry
			if err := rows.Scan(&e.ID, &e.Stream, &e.Payload); err != nil {
				rows.Close()
				return err
			}
			es = append(es, e)
		}
		rows.Close()
		if len(es) == 0 {
			return rows.Err()
		}
		var sent int
		sent, sendErr = send(es)
		if sent > 0 {
			ids := make([]int64, sent)
			for i := range ids {
				ids[i] = es[i].ID
			}
			if _, err := tx.db.Exec(ctx, `UPDATE outbox SET sent_at = now() WHERE id = ANY($1)`, ids); err != nil {
				return err
			}
		}
		n = sent
		return nil // commit the marks even when a later send failed
	})
	if err != nil {
		return n, mapErr(err)
	}
	return n, sendErr
}

// PurgeSentOutbox deletes entries sent more than a while ago.
func (s *Store) PurgeSentOutbox(ctx context.Context) error {
	_, err := s.db.Exec(ctx, `DELETE FROM outbox WHERE sent_at < now() - interval '1 hour'`)
	return mapErr(err)
}
