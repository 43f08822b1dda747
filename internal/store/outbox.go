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

// ChangeStream is the outbox's name for the change feed: rows the
// nimbus_change trigger (migration 016) writes, which the relay sends to
// the Redis stream of the running prefix (queue.ChangeStream).
const ChangeStream = "@changes"

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

// PurgeSentOutbox deletes entries sent more than a while ago: jobs after
// an hour, the change feed's after a minute (the Redis stream keeps what
// a reconnecting browser replays).
func (s *Store) PurgeSentOutbox(ctx context.Context) error {
	_, err := s.db.Exec(ctx, `DELETE FROM outbox WHERE sent_at < now() - interval '1 hour'
		OR (stream = $1 AND sent_at < now() - interval '1 minute')`, ChangeStream)
	return mapErr(err)
}

// OutboxChannel is the PostgreSQL channel nimbus_change notifies when it
// writes the outbox.
const OutboxChannel = "nimbus_outbox"

// ListenOutbox calls wake whenever a transaction that wrote the change
// feed commits, until ctx ends or the connection fails. It holds one
// connection of the pool while it runs.
func (s *Store) ListenOutbox(ctx context.Context, wake func()) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+OutboxChannel); err != nil {
		return mapErr(err)
	}
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			// The connection may be mid-wait: never hand it back.
			conn.Conn().Close(context.Background())
			return err
		}
		wake()
	}
}
