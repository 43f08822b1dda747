package store

import "context"

// SetQuotaDefault sets the default limit of resource if none is set yet.
func (s *Store) SetQuotaDefault(ctx context.Context, resource string, limit int) error {
	_, err := s.db.Exec(ctx, `INSERT INTO quota_defaults (resource, hard_limit) VALUES ($1, $2)
		ON CONFLICT (resource) DO NOTHING`, resource, limit)
	return mapErr(err)
}

// QuotaLimits returns projectID's limit for each resource: its own where
// set, the default otherwise. An empty projectID gives the defaults.
func (s *Store) QuotaLimits(ctx context.Context, projectID string) (map[string]int, error) {
	rows, err := s.db.Query(ctx, `SELECT d.resource, coalesce(q.hard_limit, d.hard_limit)
		FROM quota_defaults d LEFT JOIN quotas q ON q.resource = d.resource AND q.project_id = $1`, projectID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var r string
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			return nil, err
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
