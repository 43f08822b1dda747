package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// LockQuota locks the project (LockProject) and then reads its limits and
// its instances' usage, in one round trip: the three statements go as one
// pipelined batch but run one after another, each with its own snapshot,
// so the counts include every launch committed before the lock was
// granted. Call it inside a transaction.
func (s *Store) LockQuota(ctx context.Context, projectID string) (map[string]int, Usage, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT id FROM projects WHERE id = $1 FOR NO KEY UPDATE`, projectID)
	b.Queue(quotaLimitsSQL, projectID)
	b.Queue(instanceUsageSQL, projectID)
	// The port quota is counted here too: a launch with ports checks it
	// under the same lock, and one round trip less there is one less for
	// every launch queued behind it.
	b.Queue(`SELECT count(*) FROM ports WHERE project_id = $1`, projectID)
	res := s.db.SendBatch(ctx, b)
	defer res.Close()
	var u Usage
	var got string
	if err := res.QueryRow().Scan(&got); err != nil {
		return nil, u, mapErr(err)
	}
	rows, err := res.Query()
	if err != nil {
		return nil, u, mapErr(err)
	}
	limits, err := scanLimits(rows)
	if err != nil {
		return nil, u, err
	}
	if err := res.QueryRow().Scan(&u.Instances, &u.Cores, &u.RAMMB); err != nil {
		return nil, u, mapErr(err)
	}
	err = res.QueryRow().Scan(&u.Ports)
	return limits, u, mapErr(err)
}

// SetQuotaDefault sets the default limit of resource if none is set yet.
func (s *Store) SetQuotaDefault(ctx context.Context, resource string, limit int) error {
	_, err := s.db.Exec(ctx, `INSERT INTO quota_defaults (resource, hard_limit) VALUES ($1, $2)
		ON CONFLICT (resource) DO NOTHING`, resource, limit)
	return mapErr(err)
}

// QuotaLimits returns projectID's limit for each resource: its own where
// set, the default otherwise. An empty projectID gives the defaults.
func (s *Store) QuotaLimits(ctx context.Context, projectID string) (map[string]int, error) {
	rows, err := s.db.Query(ctx, quotaLimitsSQL, projectID)
	if err != nil {
		return nil, mapErr(err)
	}
	return scanLimits(rows)
}

const quotaLimitsSQL = `SELECT d.resource, coalesce(q.hard_limit, d.hard_limit)
	FROM quota_defaults d LEFT JOIN quotas q ON q.resource = d.resource AND q.project_id = $1`

func scanLimits(rows pgx.Rows) (map[string]int, error) {
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var r string
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			return nil, mapErr(err)
		}
		out[r] = n
	}
	return out, mapErr(rows.Err())
}

// SetQuota sets a project's own limit for resource.
func (s *Store) SetQuota(ctx context.Context, projectID, resource string, limit int) error {
	_, err := s.db.Exec(ctx, `INSERT INTO quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3)
		ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit`, projectID, resource, limit)
	return mapErr(err)
}

// ClearQuotas removes a project's own limits, back to the defaults.
func (s *Store) ClearQuotas(ctx context.Context, projectID string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM quotas WHERE project_id = $1`, projectID)
	return mapErr(err)
}

// ClearQuotasOf removes a project's own limits of the given resources.
func (s *Store) ClearQuotasOf(ctx context.Context, projectID string, resources []string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM quotas WHERE project_id = $1 AND resource = ANY($2)`, projectID, resources)
	return mapErr(err)
}

// ProjectsWithQuotas lists the projects with their own limit on one of
// the given resources.
func (s *Store) ProjectsWithQuotas(ctx context.Context, resources []string) ([]string, error) {
	rows, _ := s.db.Query(ctx, `SELECT DISTINCT project_id FROM quotas WHERE resource = ANY($1) ORDER BY project_id`, resources)
	ps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ps, mapErr(err)
}
