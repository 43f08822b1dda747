package store

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

const routerCols = `r.id::text, r.project_id, r.name, r.description, r.admin_state_up,
	coalesce(r.gw_network_id::text, ''), coalesce(r.gw_port_id::text, ''), r.enable_snat, r.routes, r.host,
	r.revision_number, r.created_at, r.updated_at,
	coalesce((SELECT json_agg(json_build_object('subnet_id', pi.subnet_id, 'ip_address', host(pi.ip_address))
		ORDER BY pi.ip_address) FROM port_ips pi WHERE pi.port_id = r.gw_port_id), '[]')`

func scanRouter(row pgx.CollectableRow) (model.Router, error) {
	var r model.Router
	var routes, gwIPs []byte
	err := row.Scan(&r.ID, &r.ProjectID, &r.Name, &r.Description, &r.AdminStateUp, &r.GatewayNetID, &r.GatewayPort,
		&r.EnableSNAT, &routes, &r.Host, &r.Revision, &r.CreatedAt, &r.UpdatedAt, &gwIPs)
	if err == nil {
		err = json.Unmarshal(routes, &r.Routes)
	}
	if err == nil {
		err = json.Unmarshal(gwIPs, &r.GatewayIPs)
	}
	return r, err
}

// CreateRouter inserts a router (its gateway is set by SetRouterGateway).
func (s *Store) CreateRouter(ctx context.Context, r model.Router) error {
	_, err := s.db.Exec(ctx, `INSERT INTO routers (id, project_id, name, description, admin_state_up, enable_snat,
		routes, host) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		r.ID, r.ProjectID, r.Name, r.Description, r.AdminStateUp, r.EnableSNAT, jsonOf(r.Routes), r.Host)
	return mapErr(err)
}

// Router returns a router.
func (s *Store) Router(ctx context.Context, id string) (model.Router, error) {
	if !isUUID(id) {
		return model.Router{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+routerCols+` FROM routers r WHERE r.id = $1`, id)
	r, err := pgx.CollectExactlyOneRow(rows, scanRouter)
	return r, mapErr(err)
}

// LockRouter returns a router with its row locked for the transaction.
func (s *Store) LockRouter(ctx context.Context, id string) (model.Router, error) {
	if !isUUID(id) {
		return model.Router{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+routerCols+` FROM routers r WHERE r.id = $1 FOR UPDATE OF r`, id)
	r, err := pgx.CollectExactlyOneRow(rows, scanRouter)
	return r, mapErr(err)
}

// Routers lists a project's routers (every router for ""), oldest first.
func (s *Store) Routers(ctx context.Context, projectID string) ([]model.Router, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+routerCols+` FROM routers r WHERE $1 = '' OR r.project_id = $1
		ORDER BY r.created_at, r.id`, projectID)
	rs, err := pgx.CollectRows(rows, scanRouter)
	return rs, mapErr(err)
}

// UpdateRouter writes a router's changeable attributes, gateway included.
func (s *Store) UpdateRouter(ctx context.Context, r model.Router) error {
	return affected(s.db.Exec(ctx, `UPDATE routers SET name = $2, description = $3, admin_state_up = $4,
		enable_snat = $5, routes = $6, gw_network_id = nullif($7, '')::uuid, gw_port_id = nullif($8, '')::uuid,
		host = $9, revision_number = revision_number + 1, updated_at = now() WHERE id = $1`,
		r.ID, r.Name, r.Description, r.AdminStateUp, r.EnableSNAT, jsonOf(r.Routes), r.GatewayNetID, r.GatewayPort, r.Host))
}

// DeleteRouter removes a router.
func (s *Store) DeleteRouter(ctx context.Context, id string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM routers WHERE id = $1`, id))
}

// CountRouters counts a project's routers (the quota).
func (s *Store) CountRouters(ctx context.Context, projectID string) (int, error) {
	return s.count(ctx, `SELECT count(*) FROM routers WHERE project_id = $1`, projectID)
}

const floatingCols = `f.id::text, f.project_id, f.description, f.floating_network_id::text, f.floating_port_id::text,
	host(f.floating_ip_address), coalesce(f.port_id::text, ''), coalesce(host(f.fixed_ip_address), ''),
	coalesce(f.router_id::text, ''), f.revision_number, f.created_at, f.updated_at`

func scanFloating(row pgx.CollectableRow) (model.FloatingIP, error) {
	var f model.FloatingIP
	err := row.Scan(&f.ID, &f.ProjectID, &f.Description, &f.NetworkID, &f.FloatingPortID, &f.Address, &f.PortID,
		&f.FixedIP, &f.RouterID, &f.Revision, &f.CreatedAt, &f.UpdatedAt)
	return f, err
}

// CreateFloatingIP inserts a floating IP (its port made first).
func (s *Store) CreateFloatingIP(ctx context.Context, f model.FloatingIP) error {
	_, err := s.db.Exec(ctx, `INSERT INTO floating_ips (id, project_id, description, floating_network_id,
		floating_port_id, floating_ip_address, port_id, fixed_ip_address, router_id)
		VALUES ($1, $2, $3, $4, $5, $6, nullif($7, '')::uuid, nullif($8, '')::inet, nullif($9, '')::uuid)`,
		f.ID, f.ProjectID, f.Description, f.NetworkID, f.FloatingPortID, f.Address, f.PortID, f.FixedIP, f.RouterID)
	return mapErr(err)
}

// FloatingIP returns a floating IP.
func (s *Store) FloatingIP(ctx context.Context, id string) (model.FloatingIP, error) {
	if !isUUID(id) {
		return model.FloatingIP{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+floatingCols+` FROM floating_ips f WHERE f.id = $1`, id)
	f, err := pgx.CollectExactlyOneRow(rows, scanFloating)
	return f, mapErr(err)
}

// LockFloatingIP returns a floating IP with its row locked.
func (s *Store) LockFloatingIP(ctx context.Context, id string) (model.FloatingIP, error) {
	if !isUUID(id) {
		return model.FloatingIP{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+floatingCols+` FROM floating_ips f WHERE f.id = $1 FOR UPDATE`, id)
	f, err := pgx.CollectExactlyOneRow(rows, scanFloating)
	return f, mapErr(err)
}

// FloatingIPs lists a project's floating IPs (all for ""), oldest first.
func (s *Store) FloatingIPs(ctx context.Context, projectID string) ([]model.FloatingIP, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+floatingCols+` FROM floating_ips f WHERE $1 = '' OR f.project_id = $1
		ORDER BY f.created_at, f.id`, projectID)
	fs, err := pgx.CollectRows(rows, scanFloating)
	return fs, mapErr(err)
}

// RouterFloatingIPs lists the floating IPs mapped through a router.
func (s *Store) RouterFloatingIPs(ctx context.Context, routerID string) ([]model.FloatingIP, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+floatingCols+` FROM floating_ips f WHERE f.router_id = $1
		ORDER BY f.created_at, f.id`, routerID)
	fs, err := pgx.CollectRows(rows, scanFloating)
	return fs, mapErr(err)
}

// MapFloatingIP points a floating IP at a port's fixed address through a
// router, or (port "") unmaps it.
func (s *Store) MapFloatingIP(ctx context.Context, id, portID, fixedIP, routerID, description string) error {
	return affected(s.db.Exec(ctx, `UPDATE floating_ips SET port_id = nullif($2, '')::uuid,
		fixed_ip_address = nullif($3, '')::inet, router_id = nullif($4, '')::uuid, description = $5,
		revision_number = revision_number + 1, updated_at = now() WHERE id = $1`, id, portID, fixedIP, routerID, description))
}

// DeleteFloatingIP removes a floating IP and its port.
func (s *Store) DeleteFloatingIP(ctx context.Context, f model.FloatingIP) error {
	if err := affected(s.db.Exec(ctx, `DELETE FROM floating_ips WHERE id = $1`, f.ID)); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `DELETE FROM ports WHERE id = $1`, f.FloatingPortID)
	return mapErr(err)
}

// DeleteUnmappedFloatingIPs deletes the floating IPs of an external
// network that are mapped to no port, with the ports holding their
// addresses (Neutron deletes them with their network).
func (s *Store) DeleteUnmappedFloatingIPs(ctx context.Context, networkID string) error {
	_, err := s.db.Exec(ctx, `WITH f AS (DELETE FROM floating_ips WHERE floating_network_id = $1 AND port_id IS NULL
		RETURNING floating_port_id) DELETE FROM ports WHERE id IN (SELECT floating_port_id FROM f)`, networkID)
	return mapErr(err)
}

// CountFloatingIPs counts a project's floating IPs (the quota).
func (s *Store) CountFloatingIPs(ctx context.Context, projectID string) (int, error) {
	return s.count(ctx, `SELECT count(*) FROM floating_ips WHERE project_id = $1`, projectID)
}
