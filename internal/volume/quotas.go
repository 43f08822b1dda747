package volume

import (
	"context"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// Volume quotas: volumes, gigabytes and snapshots, in all and per type
// (volumes_<type>, ...), in the same tables as the compute and network
// quotas; the per-type ones come and go with their type.

// QuotaResources are the project-wide ones that count, in Cinder's order.
var QuotaResources = []string{"volumes", "gigabytes", "snapshots"}

// otherQuotas are the rest of Cinder's set: kept and shown, as clients
// read and set the set whole; per_volume_gigabytes bounds one volume.
var otherQuotas = []string{"backups", "backup_gigabytes", "groups", "per_volume_gigabytes"}

// QuotaUse is one resource's limit and use.
type QuotaUse struct{ Limit, InUse int }

// isVolumeResource says whether r is one of the volume quotas.
func isVolumeResource(r string) bool {
	for _, p := range otherQuotas {
		if r == p {
			return true
		}
	}
	for _, p := range QuotaResources {
		if r == p || strings.HasPrefix(r, p+"_") {
			return true
		}
	}
	return false
}

// quotaProject checks the caller may read project's quotas.
func (s *Service) quotaProject(ctx context.Context, caller *model.Token, project string) error {
	if !policy.Allowed(caller, policy.GetVolume, policy.Target{ProjectID: project}) {
		return fault.NotFound("Project %s could not be found.", project)
	}
	if _, err := s.store.Project(ctx, project); err != nil {
		return fault.NotFoundAs(err, fault.NotFound("Project %s could not be found.", project))
	}
	return nil
}

// Quotas returns a project's volume limits (defaults: the defaults
// alone) with their use.
func (s *Service) Quotas(ctx context.Context, caller *model.Token, project string, defaults bool) (map[string]QuotaUse, error) {
	if err := s.quotaProject(ctx, caller, project); err != nil {
		return nil, err
	}
	of := project
	if defaults {
		of = ""
	}
	limits, err := s.store.QuotaLimits(ctx, of)
	if err != nil {
		return nil, err
	}
	u, err := s.store.CountVolumeUsage(ctx, project)
	if err != nil {
		return nil, err
	}
	out := map[string]QuotaUse{}
	for r, l := range limits {
		if !isVolumeResource(r) {
			continue
		}
		q := QuotaUse{Limit: l}
		if !defaults {
			switch {
			case r == "volumes":
				q.InUse = u.Volumes
			case r == "gigabytes":
				q.InUse = u.Gigabytes
			case r == "snapshots":
				q.InUse = u.Snapshots
			default:
				kind, typ, _ := strings.Cut(r, "_")
				tu := u.ByType[typ]
				q.InUse = map[string]int{"volumes": tu.Volumes, "gigabytes": tu.Gigabytes, "snapshots": tu.Snapshots}[kind]
			}
		}
		out[r] = q
	}
	return out, nil
}

// SetQuotas sets a project's own volume limits (admins); -1 is unlimited.
func (s *Service) SetQuotas(ctx context.Context, caller *model.Token, project string, limits map[string]int) (map[string]QuotaUse, error) {
	if err := policy.Check(caller, policy.UpdateVolumeQuota, policy.Target{ProjectID: project}); err != nil {
		return nil, err
	}
	if _, err := s.store.Project(ctx, project); err != nil {
		return nil, fault.NotFoundAs(err, fault.NotFound("Project %s could not be found.", project))
	}
	known, err := s.store.QuotaLimits(ctx, "")
	if err != nil {
		return nil, err
	}
	for r, l := range limits {
		if _, ok := known[r]; !ok || !isVolumeResource(r) {
			return nil, fault.Invalid(r, "Invalid input received: Bad key(s) in quota set: %s", r)
		}
		if err := validate.Int(r, l, -1, validate.MaxInt32); err != nil {
			return nil, fault.Invalid(r, "Invalid input received: Quota limit %d for %s must be -1 or more.", l, r)
		}
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
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
	return s.Quotas(ctx, caller, project, false)
}

// ResetQuotas returns a project to the default volume limits (admins).
func (s *Service) ResetQuotas(ctx context.Context, caller *model.Token, project string) error {
	if err := policy.Check(caller, policy.UpdateVolumeQuota, policy.Target{ProjectID: project}); err != nil {
		return err
	}
	limits, err := s.store.QuotaLimits(ctx, project)
	if err != nil {
		return err
	}
	var rs []string
	for r := range limits {
		if isVolumeResource(r) {
			rs = append(rs, r)
		}
	}
	return s.store.ClearQuotasOf(ctx, project, rs)
}
