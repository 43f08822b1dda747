package compute

import (
	"context"
	"sort"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// QuotaResources are the limits Nova's quota API shows, in its order.
var QuotaResources = []string{"instances", "cores", "ram", "key_pairs", "metadata_items", "server_groups", "server_group_members"}

// LegacyQuotaResources are limits Nova's quota API showed and took only up
// to a microversion (the nova-network ones until 2.35, injected files until
// 2.56). They are kept and shown so old clients find what they expect;
// nothing counts against them, so their use is always 0.
var LegacyQuotaResources = []string{"injected_files", "injected_file_content_bytes", "injected_file_path_bytes",
	"security_groups", "security_group_rules", "floating_ips", "fixed_ips"}

// Quota is one resource's limit and use.
type Quota struct {
	Resource string
	Limit    int // -1: unlimited
	InUse    int
	Legacy   bool // one of LegacyQuotaResources
}

// quotaTarget checks the caller may read projectID's quotas: admins any,
// others their own; anything else is not found.
func (s *Service) quotaTarget(ctx context.Context, caller *model.Token, projectID string) error {
	if !policy.Allowed(caller, policy.ListServers, policy.Target{ProjectID: projectID}) {
		return fault.NotFound("Project %s could not be found.", projectID)
	}
	if _, err := s.store.Project(ctx, projectID); err != nil {
		return fault.NotFoundAs(err, fault.NotFound("Project %s could not be found.", projectID))
	}
	return nil
}

// Quotas returns a project's limits with what it uses (key pairs counted
// for the caller, as Nova counts them per user).
func (s *Service) Quotas(ctx context.Context, caller *model.Token, projectID string) ([]Quota, error) {
	if err := s.quotaTarget(ctx, caller, projectID); err != nil {
		return nil, err
	}
	limits, err := s.store.QuotaLimits(ctx, projectID)
	if err != nil {
		return nil, err
	}
	used, err := s.store.InstanceUsage(ctx, projectID)
	if err != nil {
		return nil, err
	}
	keys, err := s.store.CountKeyPairs(ctx, caller.UserID)
	if err != nil {
		return nil, err
	}
	inUse := map[string]int{"instances": used.Instances, "cores": used.Cores, "ram": used.RAMMB, "key_pairs": keys}
	out := make([]Quota, 0, len(QuotaResources)+len(LegacyQuotaResources))
	for _, r := range QuotaResources {
		out = append(out, Quota{Resource: r, Limit: limits[r], InUse: inUse[r]})
	}
	for _, r := range LegacyQuotaResources {
		out = append(out, Quota{Resource: r, Limit: limits[r], Legacy: true})
	}
	return out, nil
}

// DefaultQuotas returns the limits of projects without their own.
func (s *Service) DefaultQuotas(ctx context.Context, caller *model.Token) (map[string]int, error) {
	if err := policy.Check(caller, policy.ListServers, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return nil, err
	}
	return s.store.QuotaLimits(ctx, "")
}

// SetQuotas changes a project's limits (admin). Lowering a limit below
// what the project already uses is refused unless force is set.
func (s *Service) SetQuotas(ctx context.Context, caller *model.Token, projectID string, limits map[string]int, force bool) ([]Quota, error) {
	if err := policy.Check(caller, policy.ManageQuotas, policy.Target{ProjectID: projectID}); err != nil {
		return nil, err
	}
	if _, err := s.store.Project(ctx, projectID); err != nil {
		return nil, fault.NotFoundAs(err, fault.NotFound("Project %s could not be found.", projectID))
	}
	known := map[string]bool{}
	for _, r := range QuotaResources {
		known[r] = true
	}
	for _, r := range LegacyQuotaResources {
		known[r] = true
	}
	keys := make([]string, 0, len(limits))
	for r := range limits {
		keys = append(keys, r)
	}
	sort.Strings(keys)
	for _, r := range keys {
		if !known[r] {
			return nil, fault.Invalid(r, "Bad key(s) %s in quota_set", r)
		}
		if limits[r] < -1 || limits[r] > validate.MaxInt32 {
			return nil, fault.InvalidAs("out_of_range", r, "Quota limit %d for %s must be between -1 and %d.", limits[r], r, validate.MaxInt32)
		}
	}
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.LockProject(ctx, projectID); err != nil {
			return err
		}
		if !force {
			cur, err := s.Quotas(ctx, caller, projectID)
			if err != nil {
				return err
			}
			for _, q := range cur {
				if l, ok := limits[q.Resource]; ok && l >= 0 && l < q.InUse {
					return fault.Invalid(q.Resource, "Quota limit %d for %s must be greater than or equal to already used and reserved %d.",
						l, q.Resource, q.InUse)
				}
			}
		}
		for _, r := range keys {
			if err := tx.SetQuota(ctx, projectID, r, limits[r]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Quotas(ctx, caller, projectID)
}

// ResetQuotas removes a project's own limits (admin).
func (s *Service) ResetQuotas(ctx context.Context, caller *model.Token, projectID string) error {
	if err := policy.Check(caller, policy.ManageQuotas, policy.Target{ProjectID: projectID}); err != nil {
		return err
	}
	return s.store.ClearQuotas(ctx, projectID)
}
