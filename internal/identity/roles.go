package identity

import (
	"context"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// Roles lists roles, optionally only the one named name (admin).
func (s *Service) Roles(ctx context.Context, caller *model.Token, name string) ([]model.Role, error) {
	if err := policy.Check(caller, policy.ListRoles, policy.Target{}); err != nil {
		return nil, err
	}
	return s.store.Roles(ctx, name)
}

// Role returns one role (admin).
func (s *Service) Role(ctx context.Context, caller *model.Token, id string) (model.Role, error) {
	if err := policy.Check(caller, policy.GetRole, policy.Target{}); err != nil {
		return model.Role{}, err
	}
	return s.store.Role(ctx, id)
}

// CreateRole creates a role (admin).
func (s *Service) CreateRole(ctx context.Context, caller *model.Token, name, description string) (model.Role, error) {
	if err := policy.Check(caller, policy.CreateRole, policy.Target{}); err != nil {
		return model.Role{}, err
	}
	if err := validate.Name("name", name, 255); err != nil {
		return model.Role{}, err
	}
	if err := validate.Text("description", description, 1024); err != nil {
		return model.Role{}, err
	}
	r := model.Role{ID: NewID(), Name: name, Description: description}
	return r, s.store.CreateRole(ctx, r)
}

// UpdateRole renames or redescribes a role (admin).
func (s *Service) UpdateRole(ctx context.Context, caller *model.Token, id string, fn func(*model.Role)) (model.Role, error) {
	if err := policy.Check(caller, policy.UpdateRole, policy.Target{}); err != nil {
		return model.Role{}, err
	}
	r, err := s.store.Role(ctx, id)
	if err != nil {
		return model.Role{}, err
	}
	fn(&r)
	r.ID = id
	if err := validate.Name("name", r.Name, 255); err != nil {
		return model.Role{}, err
	}
	if err := validate.Text("description", r.Description, 1024); err != nil {
		return model.Role{}, err
	}
	return r, s.store.UpdateRole(ctx, r)
}

// DeleteRole deletes a role and its assignments, ending the tokens that
// carried it (admin).
func (s *Service) DeleteRole(ctx context.Context, caller *model.Token, id string) error {
	if err := policy.Check(caller, policy.DeleteRole, policy.Target{}); err != nil {
		return err
	}
	var held []model.RoleAssignment // whose consoles close with the role
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if held, err = tx.Assignments(ctx, store.AssignmentFilter{RoleID: id}); err != nil {
			return err
		}
		if err := tx.RevokeRoleTokens(ctx, id); err != nil {
			return err
		}
		return tx.DeleteRole(ctx, id)
	})
	if err != nil {
		return err
	}
	s.revoked(ctx)
	for _, a := range held {
		s.closeConsoles(ctx, a.UserID, a.ProjectID, "")
	}
	return nil
}

// Domains lists domains (admin).
func (s *Service) Domains(ctx context.Context, caller *model.Token, name string) ([]model.Domain, error) {
	if err := policy.Check(caller, policy.ListDomains, policy.Target{}); err != nil {
		return nil, err
	}
	return s.store.Domains(ctx, name)
}

// Domain returns one domain (admin, or anyone scoped to a project in it).
func (s *Service) Domain(ctx context.Context, caller *model.Token, id string) (model.Domain, error) {
	if err := policy.Check(caller, policy.GetDomain, policy.Target{DomainID: id}); err != nil {
		return model.Domain{}, err
	}
	return s.store.Domain(ctx, id)
}

// Grant gives a user a role on a project (admin).
func (s *Service) Grant(ctx context.Context, caller *model.Token, projectID, userID, roleID string) error {
	if err := policy.Check(caller, policy.CreateGrant, policy.Target{ProjectID: projectID}); err != nil {
		return err
	}
	if err := s.checkGrantRefs(ctx, projectID, userID, roleID); err != nil {
		return err
	}
	return s.store.Grant(ctx, userID, projectID, roleID)
}

// RevokeGrant removes a user's role on a project (admin) and ends the
// user's tokens on that project.
func (s *Service) RevokeGrant(ctx context.Context, caller *model.Token, projectID, userID, roleID string) error {
	if err := policy.Check(caller, policy.RevokeGrant, policy.Target{ProjectID: projectID}); err != nil {
		return err
	}
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.Revoke(ctx, userID, projectID, roleID); err != nil {
			return err
		}
		return tx.RevokeTokensOf(ctx, userID, projectID)
	})
	if err != nil {
		return err
	}
	s.revoked(ctx)
	s.closeConsoles(ctx, userID, projectID, "")
	return nil
}

// CheckGrant reports whether the exact assignment exists (admin); a
// missing one is not found.
func (s *Service) CheckGrant(ctx context.Context, caller *model.Token, projectID, userID, roleID string) error {
	if err := policy.Check(caller, policy.CheckGrant, policy.Target{ProjectID: projectID}); err != nil {
		return err
	}
	if err := s.checkGrantRefs(ctx, projectID, userID, roleID); err != nil {
		return err
	}
	ok, err := s.store.HasAssignment(ctx, userID, projectID, roleID)
	if err != nil {
		return err
	}
	if !ok {
		return store.ErrNotFound
	}
	return nil
}

// Assignments lists role assignments matching f (admin).
func (s *Service) Assignments(ctx context.Context, caller *model.Token, f store.AssignmentFilter) ([]model.RoleAssignment, error) {
	if err := policy.Check(caller, policy.ListAssignments, policy.Target{ProjectID: f.ProjectID}); err != nil {
		return nil, err
	}
	return s.store.Assignments(ctx, f)
}

func (s *Service) checkGrantRefs(ctx context.Context, projectID, userID, roleID string) error {
	if _, err := s.store.Project(ctx, projectID); err != nil {
		return err
	}
	if _, err := s.store.User(ctx, userID); err != nil {
		return err
	}
	_, err := s.store.Role(ctx, roleID)
	return err
}
