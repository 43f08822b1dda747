package compute

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/scheduler"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// groupPolicies are the server group policies Nova knows.
var groupPolicies = map[string]bool{scheduler.PolicyAffinity: true, scheduler.PolicyAntiAffinity: true,
	scheduler.PolicySoftAffinity: true, scheduler.PolicySoftAntiAffinity: true}

// CreateServerGroup makes a group in the caller's project, counted in its
// server_groups quota.
func (s *Service) CreateServerGroup(ctx context.Context, caller *model.Token, name, pol string) (model.ServerGroup, error) {
	if err := policy.Check(caller, policy.CreateServerGroup, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return model.ServerGroup{}, err
	}
	if err := validate.Name("name", name, 255); err != nil {
		return model.ServerGroup{}, err
	}
	if !groupPolicies[pol] {
		return model.ServerGroup{}, fault.Invalid("policies", "Invalid input for field/attribute policies. Value: %q is not one of affinity, anti-affinity, soft-affinity, soft-anti-affinity", pol)
	}
	g := model.ServerGroup{ID: uuid.NewString(), Name: name, ProjectID: caller.ProjectID, UserID: caller.UserID, Policy: pol,
		Members: []string{}}
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		limits, _, err := tx.LockQuota(ctx, caller.ProjectID)
		if err != nil {
			return err
		}
		n, err := tx.CountServerGroups(ctx, caller.ProjectID)
		if err != nil {
			return err
		}
		if l, ok := limits["server_groups"]; ok && l >= 0 && n+1 > l {
			return &fault.OverQuota{Resource: "server_groups", Limit: l, Used: n, Requested: 1}
		}
		return tx.CreateServerGroup(ctx, g)
	})
	if err != nil {
		return model.ServerGroup{}, err
	}
	return s.store.ServerGroup(ctx, g.ID)
}

// ServerGroups lists the caller's project's groups, every project's for
// an admin asking all_projects.
func (s *Service) ServerGroups(ctx context.Context, caller *model.Token, allProjects bool) ([]model.ServerGroup, error) {
	if err := policy.Check(caller, policy.ListServerGroups, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return nil, err
	}
	project := caller.ProjectID
	if allProjects && policy.Allowed(caller, policy.ListAllServerGroups, policy.Target{}) {
		project = ""
	}
	return s.store.ServerGroups(ctx, project)
}

// ServerGroup returns a group the caller may see; another project's is
// not found, exactly like a random id.
func (s *Service) ServerGroup(ctx context.Context, caller *model.Token, id string, op policy.Op) (model.ServerGroup, error) {
	g, err := s.store.ServerGroup(ctx, id)
	if err == nil && !policy.Allowed(caller, op, policy.Target{ProjectID: g.ProjectID}) {
		err = store.ErrNotFound
	}
	if err != nil {
		return model.ServerGroup{}, fault.NotFoundAs(err, fault.NotFound("Instance group %s could not be found.", id))
	}
	return g, nil
}

// DeleteServerGroup removes a group; its members stay, no longer grouped.
func (s *Service) DeleteServerGroup(ctx context.Context, caller *model.Token, id string) error {
	g, err := s.ServerGroup(ctx, caller, id, policy.DeleteServerGroup)
	if err != nil {
		return err
	}
	return s.store.DeleteServerGroup(ctx, g.ID)
}

// joinGroup makes a new instance a member of group (the launch's
// scheduler hint), counting the group's server_group_members quota with
// the group locked.
func (s *Service) joinGroup(ctx context.Context, tx *store.Store, caller *model.Token, groupID, instanceID string, limits map[string]int) error {
	g, err := tx.LockServerGroup(ctx, groupID)
	if err == nil && !policy.Allowed(caller, policy.ShowServerGroup, policy.Target{ProjectID: g.ProjectID}) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return fault.Invalid("group", "Invalid server group %s.", groupID)
	}
	if err != nil {
		return err
	}
	if l, ok := limits["server_group_members"]; ok && l >= 0 && len(g.Members)+1 > l {
		return &fault.OverQuota{Resource: "server_group_members", Limit: l, Used: len(g.Members), Requested: 1}
	}
	return tx.AddServerGroupMember(ctx, g.ID, instanceID)
}
