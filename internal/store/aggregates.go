package store

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

const aggregateCols = `a.id, a.uuid::text, a.name, a.created_at, a.updated_at,
	ARRAY(SELECT h.host FROM aggregate_hosts h WHERE h.aggregate_id = a.id ORDER BY h.host),
	coalesce((SELECT jsonb_object_agg(m.key, m.value) FROM aggregate_metadata m WHERE m.aggregate_id = a.id), '{}')`

func scanAggregate(row pgx.CollectableRow) (model.Aggregate, error) {
	var a model.Aggregate
	err := row.Scan(&a.ID, &a.UUID, &a.Name, &a.CreatedAt, &a.UpdatedAt, &a.Hosts, &a.Metadata)
	return a, err
}

// hostAZ is a host's availability zone: its aggregates' (the zone an
// admin gave them) over the one its agent reports. compute_hosts must be
// in the query unaliased.
const hostAZ = `coalesce((SELECT m.value FROM aggregate_hosts ah JOIN aggregate_metadata m
	ON m.aggregate_id = ah.aggregate_id AND m.key = 'availability_zone'
	WHERE ah.host = compute_hosts.host ORDER BY ah.aggregate_id LIMIT 1), compute_hosts.az)`

// CreateAggregate inserts an aggregate (ErrDuplicate: the name is taken)
// and returns its id.
func (s *Store) CreateAggregate(ctx context.Context, a model.Aggregate) (int, error) {
	var id int
	err := s.db.QueryRow(ctx, `INSERT INTO aggregates (uuid, name) VALUES ($1, $2) RETURNING id`, a.UUID, a.Name).Scan(&id)
	if err != nil {
		return 0, mapErr(err)
	}
	return id, s.SetAggregateMetadata(ctx, id, a.Metadata)
}

// Aggregate returns one aggregate by its id (as the API names it).
func (s *Store) Aggregate(ctx context.Context, id string) (model.Aggregate, error) {
	n, err := strconv.Atoi(id)
	if err != nil || n <= 0 {
		return model.Aggregate{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+aggregateCols+` FROM aggregates a WHERE a.id = $1`, n)
	a, err := pgx.CollectExactlyOneRow(rows, scanAggregate)
	return a, mapErr(err)
}

// LockAggregate is Aggregate with the row locked for the transaction.
func (s *Store) LockAggregate(ctx context.Context, id string) (model.Aggregate, error) {
	n, err := strconv.Atoi(id)
	if err != nil || n <= 0 {
		return model.Aggregate{}, ErrNotFound
	}
	if _, err := s.db.Exec(ctx, `SELECT 1 FROM aggregates WHERE id = $1 FOR UPDATE`, n); err != nil {
		return model.Aggregate{}, mapErr(err)
	}
	return s.Aggregate(ctx, id)
}

// Aggregates lists every aggregate by id.
func (s *Store) Aggregates(ctx context.Context) ([]model.Aggregate, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+aggregateCols+` FROM aggregates a ORDER BY a.id`)
	as, err := pgx.CollectRows(rows, scanAggregate)
	return as, mapErr(err)
}

// RenameAggregate changes an aggregate's name.
func (s *Store) RenameAggregate(ctx context.Context, id int, name string) error {
	return affected(s.db.Exec(ctx, `UPDATE aggregates SET name = $2, updated_at = now() WHERE id = $1`, id, name))
}

// DeleteAggregate removes an aggregate.
func (s *Store) DeleteAggregate(ctx context.Context, id int) error {
	return affected(s.db.Exec(ctx, `DELETE FROM aggregates WHERE id = $1`, id))
}

// SetAggregateMetadata sets the keys of set on an aggregate and removes
// those of unset (Nova's null values).
func (s *Store) SetAggregateMetadata(ctx context.Context, id int, set map[string]string, unset ...string) error {
	for k, v := range set {
		if _, err := s.db.Exec(ctx, `INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES ($1, $2, $3)
			ON CONFLICT (aggregate_id, key) DO UPDATE SET value = excluded.value`, id, k, v); err != nil {
			return mapErr(err)
		}
	}
	for _, k := range unset {
		if _, err := s.db.Exec(ctx, `DELETE FROM aggregate_metadata WHERE aggregate_id = $1 AND key = $2`, id, k); err != nil {
			return mapErr(err)
		}
	}
	_, err := s.db.Exec(ctx, `UPDATE aggregates SET updated_at = now() WHERE id = $1`, id)
	return mapErr(err)
}

// AddAggregateHost puts host in an aggregate (ErrDuplicate: it is there).
func (s *Store) AddAggregateHost(ctx context.Context, id int, host string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO aggregate_hosts (aggregate_id, host) VALUES ($1, $2)`, id, host)
	return mapErr(err)
}

// RemoveAggregateHost takes host out of an aggregate (ErrNotFound: it is
// not there).
func (s *Store) RemoveAggregateHost(ctx context.Context, id int, host string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM aggregate_hosts WHERE aggregate_id = $1 AND host = $2`, id, host))
}

// HostAggregateZones returns the availability zones of the aggregates
// host is in (other than skip).
func (s *Store) HostAggregateZones(ctx context.Context, host string, skip int) ([]string, error) {
	rows, _ := s.db.Query(ctx, `SELECT DISTINCT m.value FROM aggregate_hosts h JOIN aggregate_metadata m
		ON m.aggregate_id = h.aggregate_id AND m.key = 'availability_zone' WHERE h.host = $1 AND h.aggregate_id <> $2`, host, skip)
	zs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return zs, mapErr(err)
}

// HostMetadata returns, for each host in an aggregate, every value each
// metadata key has across its aggregates (the scheduler's aggregate
// filters read these).
func (s *Store) HostMetadata(ctx context.Context) (map[string]map[string][]string, error) {
	rows, err := s.db.Query(ctx, `SELECT h.host, m.key, m.value FROM aggregate_hosts h
		JOIN aggregate_metadata m ON m.aggregate_id = h.aggregate_id ORDER BY h.host, m.key, h.aggregate_id`)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := map[string]map[string][]string{}
	for rows.Next() {
		var host, k, v string
		if err := rows.Scan(&host, &k, &v); err != nil {
			return nil, mapErr(err)
		}
		if out[host] == nil {
			out[host] = map[string][]string{}
		}
		out[host][k] = append(out[host][k], v)
	}
	return out, mapErr(rows.Err())
}
