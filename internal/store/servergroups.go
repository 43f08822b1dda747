package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

const serverGroupCols = `g.id::text, g.name, g.project_id, g.user_id, g.policy, g.created_at,
	ARRAY(SELECT m.instance_id::text FROM server_group_members m JOIN instances i ON i.id = m.instance_id
		WHERE m.group_id = g.id AND i.deleted_at IS NULL ORDER BY m.instance_id)`

func scanServerGroup(row pgx.CollectableRow) (model.ServerGroup, error) {
	var g model.ServerGroup
	err := row.Scan(&g.ID, &g.Name, &g.ProjectID, &g.UserID, &g.Policy, &g.CreatedAt, &g.Members)
	return g, err
}

// CreateServerGroup inserts a group.
func (s *Store) CreateServerGroup(ctx context.Context, g model.ServerGroup) error {
	_, err := s.db.Exec(ctx, `INSERT INTO server_groups (id, name, project_id, user_id, policy) VALUES ($1, $2, $3, $4, $5)`,
		g.ID, g.Name, g.ProjectID, g.UserID, g.Policy)
	return mapErr(err)
}

// ServerGroup returns a group with its members.
func (s *Store) ServerGroup(ctx context.Context, id string) (model.ServerGroup, error) {
	if !isUUID(id) {
		return model.ServerGroup{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+serverGroupCols+` FROM server_groups g WHERE g.id = $1`, id)
	g, err := pgx.CollectExactlyOneRow(rows, scanServerGroup)
	return g, mapErr(err)
}

// ServerGroups lists a project's groups ("" : every project's), oldest first.
func (s *Store) ServerGroups(ctx context.Context, projectID string) ([]model.ServerGroup, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+serverGroupCols+` FROM server_groups g
		WHERE $1 = '' OR g.project_id = $1 ORDER BY g.created_at, g.id`, projectID)
	gs, err := pgx.CollectRows(rows, scanServerGroup)
	return gs, mapErr(err)
}

// DeleteServerGroup removes a group (its memberships with it).
func (s *Store) DeleteServerGroup(ctx context.Context, id string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM server_groups WHERE id = $1`, id))
}

// CountServerGroups counts a project's groups (the server_groups quota).
func (s *Store) CountServerGroups(ctx context.Context, projectID string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM server_groups WHERE project_id = $1`, projectID).Scan(&n)
	return n, mapErr(err)
}

// LockServerGroup locks a group's row for the rest of the transaction, so
// members are counted (server_group_members quota) one launch at a time.
func (s *Store) LockServerGroup(ctx context.Context, id string) (model.ServerGroup, error) {
	if !isUUID(id) {
		return model.ServerGroup{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+serverGroupCols+` FROM server_groups g WHERE g.id = $1 FOR UPDATE OF g`, id)
	g, err := pgx.CollectExactlyOneRow(rows, scanServerGroup)
	return g, mapErr(err)
}

// AddServerGroupMember makes an instance a member of a group.
func (s *Store) AddServerGroupMember(ctx context.Context, groupID, instanceID string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO server_group_members (group_id, instance_id) VALUES ($1, $2)`, groupID, instanceID)
	return mapErr(err)
}

// GroupPlacement returns the policy of the group an instance belongs to
// ("" when none) and the hosts its other members are placed on (one entry
// per member, so a host appears as often as it holds members).
func (s *Store) GroupPlacement(ctx context.Context, instanceID string) (policy string, hosts []string, err error) {
	rows, _ := s.db.Query(ctx, `SELECT g.policy, coalesce(o.host, '')
		FROM server_group_members m
		JOIN server_groups g ON g.id = m.group_id
		LEFT JOIN server_group_members om ON om.group_id = g.id AND om.instance_id <> m.instance_id
		LEFT JOIN instances o ON o.id = om.instance_id AND o.deleted_at IS NULL
		WHERE m.instance_id = $1`, instanceID)
	defer rows.Close()
	for rows.Next() {
		var host string
		if err := rows.Scan(&policy, &host); err != nil {
			return "", nil, mapErr(err)
		}
		if host != "" {
			hosts = append(hosts, host)
		}
	}
	return policy, hosts, mapErr(rows.Err())
}
