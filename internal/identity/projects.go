package identity

import (
	"context"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// ProjectInput is what a caller may set on a project.
type ProjectInput struct {
	DomainID    string
	Name        string
	Description string
	Enabled     bool
}

func (in ProjectInput) check() error {
	if err := validate.Name("name", in.Name, 64); err != nil {
		return err
	}
	return validate.Text("description", in.Description, 1024)
}

// Projects lists projects matching f (admin).
func (s *Service) Projects(ctx context.Context, caller *model.Token, f store.ProjectFilter) ([]model.Project, error) {
	if err := policy.Check(caller, policy.ListProjects, policy.Target{}); err != nil {
		return nil, err
	}
	return s.store.Projects(ctx, f)
}

// Project returns one project: admins see any, others only their own
// (anything else is not found, so existence does not leak).
func (s *Service) Project(ctx context.Context, caller *model.Token, id string) (model.Project, error) {
	if !policy.Allowed(caller, policy.GetProject, policy.Target{ProjectID: id}) {
		return model.Project{}, store.ErrNotFound
	}
	return s.store.Project(ctx, id)
}

// CreateProject creates a project (admin).
func (s *Service) CreateProject(ctx context.Context, caller *model.Token, in ProjectInput) (model.Project, error) {
	if err := policy.Check(caller, policy.CreateProject, policy.Target{}); err != nil {
		return model.Project{}, err
	}
	if in.DomainID == "" {
		in.DomainID = model.DefaultDomainID
	}
	if err := in.check(); err != nil {
		return model.Project{}, err
	}
	if _, err := s.store.Domain(ctx, in.DomainID); err != nil {
		return model.Project{}, domainRef(in.DomainID, err)
	}
	return s.store.CreateProject(ctx, model.Project{ID: NewID(), DomainID: in.DomainID,
		Name: in.Name, Description: in.Description, Enabled: in.Enabled})
}

// UpdateProject applies fn to the project and saves it (admin). Disabling
// a project ends every token scoped to it.
func (s *Service) UpdateProject(ctx context.Context, caller *model.Token, id string, fn func(*ProjectInput)) (model.Project, error) {
	if err := policy.Check(caller, policy.UpdateProject, policy.Target{ProjectID: id}); err != nil {
		return model.Project{}, err
	}
	var out model.Project
	var disabled bool
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		p, err := tx.Project(ctx, id)
		if err != nil {
			return err
		}
		in := ProjectInput{DomainID: p.DomainID, Name: p.Name, Description: p.Description, Enabled: p.Enabled}
		fn(&in)
		if err := in.check(); err != nil {
			return err
		}
		disabled = p.Enabled && !in.Enabled
		p.Name, p.Description, p.Enabled = in.Name, in.Description, in.Enabled
		if err := tx.UpdateProject(ctx, p); err != nil {
			return err
		}
		if disabled {
			if err := tx.RevokeTokensOf(ctx, "", id); err != nil {
				return err
			}
		}
		out = p
		return nil
	})
	if err == nil && disabled {
		s.revoked(ctx)
		s.closeConsoles(ctx, "", id, "")
	}
	return out, err
}

// DeleteProject deletes a project with its assignments and tokens (admin).
func (s *Service) DeleteProject(ctx context.Context, caller *model.Token, id string) error {
	if err := policy.Check(caller, policy.DeleteProject, policy.Target{ProjectID: id}); err != nil {
		return err
	}
	if err := s.store.DeleteProject(ctx, id); err != nil {
		return err
	}
	s.revoked(ctx)
	s.closeConsoles(ctx, "", id, "")
	return nil
}

// UserProjects lists the projects a user has a role on (admin or self).
func (s *Service) UserProjects(ctx context.Context, caller *model.Token, userID string) ([]model.Project, error) {
	if err := policy.Check(caller, policy.ListUserProjects, policy.Target{UserID: userID}); err != nil {
		return nil, err
	}
	if _, err := s.store.User(ctx, userID); err != nil {
		return nil, err
	}
	return s.store.UserProjects(ctx, userID)
}

// AuthProjects lists the enabled projects the caller may scope to.
func (s *Service) AuthProjects(ctx context.Context, caller *model.Token) ([]model.Project, error) {
	ps, err := s.store.UserProjects(ctx, caller.UserID)
	if err != nil {
		return nil, err
	}
	out := ps[:0]
	for _, p := range ps {
		if p.Enabled {
			out = append(out, p)
		}
	}
	return out, nil
}
