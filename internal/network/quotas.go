package network

import (
	"context"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// QuotaResources are Neutron's quota resources, in its order.
var QuotaResources = []string{"network", "subnet", "port", "router", "floatingip", "security_group", "security_group_rule"}

// QuotaUse is one resource's limit and use.
type QuotaUse struct {
	Limit, Used int
}

func (s *Service) counter(tx *store.Store, resource string) func(context.Context, string) (int, error) {
	return map[string]func(context.Context, string) (int, error){
		"network": tx.CountNetworks, "subnet": tx.CountSubnets, "port": tx.CountPorts, "router": tx.CountRouters,
		"floatingip": tx.CountFloatingIPs, "security_group": tx.CountSecurityGroups,
		"security_group_rule": tx.CountSecurityGroupRules,
	}[resource]
}

// quotaProject checks the caller may read project's quotas (its own, or
// any for an admin); another project's is not found.
func (s *Service) quotaProject(ctx context.Context, caller *model.Token, project string) error {
	if !policy.Allowed(caller, policy.GetNetworkQuota, policy.Target{ProjectID: project}) {
		return &Error{Type: "NotFound", Err: fault.NotFound("Project %s could not be found.", project)}
	}
	if _, err := s.store.Project(ctx, project); err != nil {
		return orNotFound(err, &Error{Type: "NotFound", Err: fault.NotFound("Project %s could not be found.", project)})
	}
	return nil
}

// Quotas returns a project's network limits and use.
func (s *Service) Quotas(ctx context.Context, caller *model.Token, project string) (map[string]QuotaUse, error) {
	if err := s.quotaProject(ctx, caller, project); err != nil {
		return nil, err
	}
	limits, err := s.store.QuotaLimits(ctx, project)
	if err != nil {
		return nil, err
	}
	out := map[string]QuotaUse{}
	for _, r := range QuotaResources {
		n, err := s.counter(s.store, r)(ctx, project)
		if err != nil {
			return nil, err
		}
		out[r] = QuotaUse{Limit: limits[r], Used: n}
	}
	return out, nil
}

// DefaultQuotas returns the limits of projects without their own.
func (s *Service) DefaultQuotas(ctx context.Context, caller *model.Token, project string) (map[string]QuotaUse, error) {
	if err := s.quotaProject(ctx, caller, project); err != nil {
		return nil, err
	}
	limits, err := s.store.QuotaLimits(ctx, "")
	if err != nil {
		return nil, err
	}
	out := map[string]QuotaUse{}
	for _, r := range QuotaResources {
		out[r] = QuotaUse{Limit: limits[r]}
	}
	return out, nil
}

// UpdateQuotas sets a project's own limits (admin); -1 is unlimited.
func (s *Service) UpdateQuotas(ctx context.Context, caller *model.Token, project string, limits map[string]int) (map[string]QuotaUse, error) {
	if err := check(caller, policy.UpdateNetworkQuota, project); err != nil {
		return nil, err
	}
	if _, err := s.store.Project(ctx, project); err != nil {
		return nil, orNotFound(err, &Error{Type: "NotFound", Err: fault.NotFound("Project %s could not be found.", project)})
	}
	known := map[string]bool{}
	for _, r := range QuotaResources {
		known[r] = true
	}
	for r, l := range limits {
		if !known[r] {
			return nil, invalidInput("Unrecognized attribute(s) '%s'", r)
		}
		if err := validate.Int(r, l, -1, validate.MaxInt32); err != nil {
			return nil, invalidInput("'%d' should be an integer greater than or equal to -1.", l)
		}
	}
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		for r, l := range limits {
			if err := tx.SetQuota(ctx, project, r, l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Quotas(ctx, caller, project)
}

// ResetQuotas returns a project to the default network limits (admin).
func (s *Service) ResetQuotas(ctx context.Context, caller *model.Token, project string) error {
	if err := check(caller, policy.UpdateNetworkQuota, project); err != nil {
		return err
	}
	return s.store.ClearQuotasOf(ctx, project, QuotaResources)
}

// QuotaProjects lists the projects with their own network limits (admin).
func (s *Service) QuotaProjects(ctx context.Context, caller *model.Token) ([]string, error) {
	if err := check(caller, policy.UpdateNetworkQuota, ""); err != nil {
		return nil, err
	}
	return s.store.ProjectsWithQuotas(ctx, QuotaResources)
}
