package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

const groupCols = `g.id::text, g.project_id, g.name, g.description, g.is_default, g.stateful, g.revision_number,
	g.created_at, g.updated_at`

func scanGroup(row pgx.CollectableRow) (model.SecurityGroup, error) {
	var g model.SecurityGroup
	err := row.Scan(&g.ID, &g.ProjectID, &g.Name, &g.Description, &g.IsDefault, &g.Stateful, &g.Revision,
		&g.CreatedAt, &g.UpdatedAt)
	return g, err
}

const ruleCols = `r.id::text, r.group_id::text, r.project_id, r.direction, r.ethertype, coalesce(r.protocol, ''),
	r.port_range_min, r.port_range_max, coalesce(r.remote_ip_prefix::text, ''), coalesce(r.remote_group_id::text, ''),
	r.description, r.revision_number, r.created_at, r.updated_at`

func scanRule(row pgx.CollectableRow) (model.SecurityGroupRule, error) {
	var r model.SecurityGroupRule
	err := row.Scan(&r.ID, &r.GroupID, &r.ProjectID, &r.Direction, &r.Ethertype, &r.Protocol, &r.PortRangeMin,
		&r.PortRangeMax, &r.RemoteIPPrefix, &r.RemoteGroupID, &r.Description, &r.Revision, &r.CreatedAt, &r.UpdatedAt)
	return r, err
}

// CreateSecurityGroup inserts a group (not its rules).
func (s *Store) CreateSecurityGroup(ctx context.Context, g model.SecurityGroup) error {
	_, err := s.db.Exec(ctx, `INSERT INTO security_groups (id, project_id, name, description, is_default, stateful)
		VALUES ($1, $2, $3, $4, $5, $6)`, g.ID, g.ProjectID, g.Name, g.Description, g.IsDefault, g.Stateful)
	return mapErr(err)
}

// SecurityGroup returns a group with its rules.
func (s *Store) SecurityGroup(ctx context.Context, id string) (model.SecurityGroup, error) {
	if !isUUID(id) {
		return model.SecurityGroup{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+groupCols+` FROM security_groups g WHERE g.id = $1`, id)
	g, err := pgx.CollectExactlyOneRow(rows, scanGroup)
	if err != nil {
		return g, mapErr(err)
	}
	g.Rules, err = s.groupRules(ctx, "", []string{g.ID})
	return g, err
}

// DefaultSecurityGroup returns a project's default group.
func (s *Store) DefaultSecurityGroup(ctx context.Context, projectID string) (model.SecurityGroup, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+groupCols+` FROM security_groups g WHERE g.project_id = $1 AND g.is_default`, projectID)
	g, err := pgx.CollectExactlyOneRow(rows, scanGroup)
	if err != nil {
		return g, mapErr(err)
	}
	g.Rules, err = s.groupRules(ctx, "", []string{g.ID})
	return g, err
}

// DefaultSecurityGroupID returns the id of a project's default group
// (ErrNotFound: none yet).
func (s *Store) DefaultSecurityGroupID(ctx context.Context, projectID string) (string, error) {
	var id string
	err := s.db.QueryRow(ctx, `SELECT id::text FROM security_groups WHERE project_id = $1 AND is_default`, projectID).Scan(&id)
	return id, mapErr(err)
}

// GroupOwners returns the projects of the groups that exist among ids,
// by group id, in one query.
func (s *Store) GroupOwners(ctx context.Context, ids []string) (map[string]string, error) {
	rows, _ := s.db.Query(ctx, `SELECT id::text, project_id FROM security_groups WHERE id::text = ANY($1)`, nonNil(ids))
	out := map[string]string{}
	var id, project string
	_, err := pgx.ForEachRow(rows, []any{&id, &project}, func() error {
		out[id] = project
		return nil
	})
	return out, mapErr(err)
}

// SecurityGroups lists a project's groups with their rules (every
// project's for ""), oldest first.
func (s *Store) SecurityGroups(ctx context.Context, projectID string) ([]model.SecurityGroup, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+groupCols+` FROM security_groups g
		WHERE $1 = '' OR g.project_id = $1 ORDER BY g.created_at, g.id`, projectID)
	gs, err := pgx.CollectRows(rows, scanGroup)
	if err != nil {
		return nil, mapErr(err)
	}
	rules, err := s.groupRules(ctx, projectID, nil)
	if err != nil {
		return nil, err
	}
	byGroup := map[string][]model.SecurityGroupRule{}
	for _, r := range rules {
		byGroup[r.GroupID] = append(byGroup[r.GroupID], r)
	}
	for i := range gs {
		gs[i].Rules = byGroup[gs[i].ID]
	}
	return gs, nil
}

// groupRules lists the rules of one project's groups ("": every project's)
// among groupIDs (nil: all groups).
func (s *Store) groupRules(ctx context.Context, projectID string, groupIDs []string) ([]model.SecurityGroupRule, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+ruleCols+` FROM security_group_rules r JOIN security_groups g ON g.id = r.group_id
		WHERE ($1 = '' OR g.project_id = $1) AND ($2::text[] IS NULL OR r.group_id::text = ANY($2)) ORDER BY r.created_at, r.id`,
		projectID, groupIDs)
	rs, err := pgx.CollectRows(rows, scanRule)
	return rs, mapErr(err)
}

// SecurityGroupRules lists the rules of a project's groups ("": all).
func (s *Store) SecurityGroupRules(ctx context.Context, projectID string) ([]model.SecurityGroupRule, error) {
	return s.groupRules(ctx, projectID, nil)
}

// UpdateSecurityGroup writes a group's name and description.
func (s *Store) UpdateSecurityGroup(ctx context.Context, g model.SecurityGroup) error {
	return affected(s.db.Exec(ctx, `UPDATE security_groups SET name = $2, description = $3, stateful = $4,
		revision_number = revision_number + 1, updated_at = now() WHERE id = $1`, g.ID, g.Name, g.Description, g.Stateful))
}

// DeleteSecurityGroup removes a group and its rules. A port still using
// it is the port_security_groups_group_id_fkey conflict.
func (s *Store) DeleteSecurityGroup(ctx context.Context, id string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM security_groups WHERE id = $1`, id))
}

// CountSecurityGroups counts a project's groups (the quota).
func (s *Store) CountSecurityGroups(ctx context.Context, projectID string) (int, error) {
	return s.count(ctx, `SELECT count(*) FROM security_groups WHERE project_id = $1`, projectID)
}

// CreateSecurityGroupRule inserts a rule; the same rule twice in a group
// is the security_group_rules_group_id_direction_..._key violation.
func (s *Store) CreateSecurityGroupRule(ctx context.Context, r model.SecurityGroupRule) error {
	_, err := s.db.Exec(ctx, `INSERT INTO security_group_rules (id, group_id, project_id, direction, ethertype,
		protocol, port_range_min, port_range_max, remote_ip_prefix, remote_group_id, description)
		VALUES ($1, $2, $3, $4, $5, nullif($6, ''), $7, $8, nullif($9, '')::cidr, nullif($10, '')::uuid, $11)`,
		r.ID, r.GroupID, r.ProjectID, r.Direction, r.Ethertype, r.Protocol, r.PortRangeMin, r.PortRangeMax,
		r.RemoteIPPrefix, r.RemoteGroupID, r.Description)
	if err == nil {
		_, err = s.db.Exec(ctx, `UPDATE security_groups SET revision_number = revision_number + 1, updated_at = now()
			WHERE id = $1`, r.GroupID)
	}
	return mapErr(err)
}

// SecurityGroupRule returns a rule.
func (s *Store) SecurityGroupRule(ctx context.Context, id string) (model.SecurityGroupRule, error) {
	if !isUUID(id) {
		return model.SecurityGroupRule{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+ruleCols+` FROM security_group_rules r WHERE r.id = $1`, id)
	r, err := pgx.CollectExactlyOneRow(rows, scanRule)
	return r, mapErr(err)
}

// DeleteSecurityGroupRule removes a rule.
func (s *Store) DeleteSecurityGroupRule(ctx context.Context, id string) error {
	return affected(s.db.Exec(ctx, `WITH d AS (DELETE FROM security_group_rules WHERE id = $1 RETURNING group_id)
		UPDATE security_groups SET revision_number = revision_number + 1, updated_at = now()
		WHERE id IN (SELECT group_id FROM d)`, id))
}

// CountSecurityGroupRules counts a project's rules (the quota).
func (s *Store) CountSecurityGroupRules(ctx context.Context, projectID string) (int, error) {
	return s.count(ctx, `SELECT count(*) FROM security_group_rules WHERE project_id = $1`, projectID)
}

// LockProjectGroups serialises the creation of a project's default group
// (two first requests at once must not both make one).
func (s *Store) LockProjectGroups(ctx context.Context, projectID string) error {
	_, err := s.db.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('security_groups:' || $1))`, projectID)
	return mapErr(err)
}
