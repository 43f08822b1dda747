package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

// InsertAction records an action on an instance and returns its id.
func (s *Store) InsertAction(ctx context.Context, a model.InstanceAction) (int64, error) {
	var id int64
	err := s.db.QueryRow(ctx, `INSERT INTO instance_actions (instance_id, action, request_id, user_id, project_id)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, a.InstanceID, a.Action, a.RequestID, a.UserID, a.ProjectID).Scan(&id)
	return id, mapErr(err)
}

// StartEvent records the start of a step of an action (idempotent per
// action and event name while unfinished).
func (s *Store) StartEvent(ctx context.Context, actionID int64, event, host string, at time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO instance_action_events (action_id, event, host, start_time)
		SELECT $1, $2, nullif($3, ''), $4
		WHERE NOT EXISTS (SELECT 1 FROM instance_action_events WHERE action_id = $1 AND event = $2 AND finish_time IS NULL)`,
		actionID, event, host, at)
	if err == nil {
		_, err = s.db.Exec(ctx, `UPDATE instance_actions SET updated_at = now() WHERE id = $1`, actionID)
	}
	return mapErr(err)
}

// FinishEvent closes the open step event of an action with result
// ("Success" or "Error"), creating it if it was never started.
func (s *Store) FinishEvent(ctx context.Context, actionID int64, event, host, result, traceback string, at time.Time) error {
	if err := s.StartEvent(ctx, actionID, event, host, at); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `UPDATE instance_action_events SET finish_time = $4, result = $3, traceback = nullif($5, '')
		WHERE action_id = $1 AND event = $2 AND finish_time IS NULL`, actionID, event, result, at, traceback)
	if err == nil && result == "Error" {
		_, err = s.db.Exec(ctx, `UPDATE instance_actions SET message = 'Error', updated_at = now() WHERE id = $1`, actionID)
	}
	return mapErr(err)
}

// Actions returns an instance's action log, newest first, with events.
func (s *Store) Actions(ctx context.Context, instanceID string) ([]model.InstanceAction, error) {
	rows, _ := s.db.Query(ctx, `SELECT id, instance_id::text, action, request_id, user_id, project_id, coalesce(message, ''),
		start_time, updated_at FROM instance_actions WHERE instance_id = $1 ORDER BY start_time DESC, id DESC`, instanceID)
	as, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.InstanceAction, error) {
		var a model.InstanceAction
		err := row.Scan(&a.ID, &a.InstanceID, &a.Action, &a.RequestID, &a.UserID, &a.ProjectID, &a.Message, &a.StartTime, &a.UpdatedAt)
		return a, err
	})
	if err != nil {
		return nil, mapErr(err)
	}
	for i := range as {
		rows, _ := s.db.Query(ctx, `SELECT event, coalesce(host, ''), start_time, finish_time, coalesce(result, ''),
			coalesce(traceback, '') FROM instance_action_events WHERE action_id = $1 ORDER BY start_time, id`, as[i].ID)
		as[i].Events, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.ActionEvent, error) {
			var e model.ActionEvent
			err := row.Scan(&e.Event, &e.Host, &e.StartTime, &e.FinishTime, &e.Result, &e.Traceback)
			return e, err
		})
		if err != nil {
			return nil, mapErr(err)
		}
	}
	return as, nil
}

// ActionByRequest finds an instance's action by request id.
func (s *Store) ActionByRequest(ctx context.Context, instanceID, requestID string) (int64, error) {
	var id int64
	err := s.db.QueryRow(ctx, `SELECT id FROM instance_actions WHERE instance_id = $1 AND request_id = $2`, instanceID, requestID).Scan(&id)
	return id, mapErr(err)
}

// ActionByRequestKind finds an instance's most recent action of a kind.
func (s *Store) ActionByRequestKind(ctx context.Context, instanceID, action string) (int64, error) {
	var id int64
	err := s.db.QueryRow(ctx, `SELECT id FROM instance_actions WHERE instance_id = $1 AND action = $2
		ORDER BY start_time DESC, id DESC LIMIT 1`, instanceID, action).Scan(&id)
	return id, mapErr(err)
}
