package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

// UsageInstances lists the instances that ran at some time in [start,
// end), deleted ones included: launched before end and not terminated
// before start (Nova's active-by-window), of project ("" : every
// project), by project and launch.
func (s *Store) UsageInstances(ctx context.Context, project string, start, end time.Time) ([]model.Instance, error) {
	q := `SELECT ` + instanceCols + ` FROM instances
		WHERE launched_at IS NOT NULL AND launched_at < $1 AND (terminated_at IS NULL OR terminated_at > $2)`
	args := []any{end, start}
	if project != "" {
		q += ` AND project_id = $3`
		args = append(args, project)
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY project_id, launched_at, id`, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, scanInstance)
	return out, mapErr(err)
}
