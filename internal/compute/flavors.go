package compute

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// Flavors lists the flavors the caller may use (admins: all, or those
// matching isPublic).
func (s *Service) Flavors(ctx context.Context, caller *model.Token, f store.FlavorFilter) ([]model.Flavor, error) {
	if err := policy.Check(caller, policy.ListFlavors, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return nil, err
	}
	if !policy.Allowed(caller, policy.ListPrivateFlavors, policy.Target{}) {
		f.VisibleTo, f.IsPublic = caller.ProjectID, nil
	}
	return s.store.Flavors(ctx, f)
}

// Flavor returns one flavor the caller may use; others are not found.
func (s *Service) Flavor(ctx context.Context, caller *model.Token, id string) (model.Flavor, error) {
	if err := policy.Check(caller, policy.ListFlavors, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return model.Flavor{}, err
	}
	f, err := s.store.Flavor(ctx, id)
	if err != nil {
		return model.Flavor{}, fault.NotFoundAs(err, fault.NotFound("Flavor %s could not be found.", id))
	}
	if !f.IsPublic && !policy.Allowed(caller, policy.ListPrivateFlavors, policy.Target{}) {
		ok, err := s.store.FlavorVisible(ctx, id, caller.ProjectID)
		if err != nil {
			return model.Flavor{}, err
		}
		if !ok {
			return model.Flavor{}, fault.NotFound("Flavor %s could not be found.", id)
		}
	}
	return f, nil
}

var flavorIDRe = regexp.MustCompile(`^[a-zA-Z0-9._ -]{1,255}$`)

// CreateFlavor adds a flavor (admin). An empty id or "auto" gets a UUID.
func (s *Service) CreateFlavor(ctx context.Context, caller *model.Token, f model.Flavor) (model.Flavor, error) {
	if err := policy.Check(caller, policy.ManageFlavors, policy.Target{}); err != nil {
		return model.Flavor{}, err
	}
	if f.ID == "" || f.ID == "auto" {
		f.ID = uuid.NewString()
	}
	f.Name = strings.TrimSpace(f.Name)
	if err := validate.Name("name", f.Name, 255); err != nil {
		return model.Flavor{}, err
	}
	if err := validate.Text("description", f.Description, 65535); err != nil {
		return model.Flavor{}, err
	}
	switch {
	case !flavorIDRe.MatchString(f.ID) || strings.TrimSpace(f.ID) != f.ID:
		return model.Flavor{}, fault.Invalid("id", "may hold letters, digits, '.', '_', '-' and spaces only")
	case f.VCPUs < 1 || f.VCPUs > 1<<20:
		return model.Flavor{}, fault.Invalid("vcpus", "must be a positive integer")
	case f.RAMMB < 1 || f.RAMMB > 1<<30:
		return model.Flavor{}, fault.Invalid("ram", "must be a positive integer (MB)")
	case f.DiskGB < 0 || f.DiskGB > 1<<30:
		return model.Flavor{}, fault.Invalid("disk", "must be a non-negative integer (GB)")
	case f.EphemeralGB < 0 || f.SwapMB < 0:
		return model.Flavor{}, fault.Invalid("swap", "ephemeral and swap must not be negative")
	case f.RXTXFactor <= 0:
		return model.Flavor{}, fault.Invalid("rxtx_factor", "must be positive")
	case f.EphemeralGB > validate.MaxInt32 || f.SwapMB > validate.MaxInt32:
		return model.Flavor{}, fault.Invalid("swap", "ephemeral and swap must be at most %d", validate.MaxInt32)
	}
	if err := s.store.InsertFlavor(ctx, f); err != nil {
		if errors.Is(err, fault.ErrConflict) {
			return model.Flavor{}, fault.Conflict("Flavor with name %s or id %s already exists.", f.Name, f.ID)
		}
		return model.Flavor{}, err
	}
	return f, nil
}

// UpdateFlavorDescription changes a flavor's description (admin).
func (s *Service) UpdateFlavorDescription(ctx context.Context, caller *model.Token, id, desc string) (model.Flavor, error) {
	if err := policy.Check(caller, policy.ManageFlavors, policy.Target{}); err != nil {
		return model.Flavor{}, err
	}
	if err := validate.Text("description", desc, 65535); err != nil {
		return model.Flavor{}, err
	}
	if err := s.store.UpdateFlavorDescription(ctx, id, desc); err != nil {
		return model.Flavor{}, fault.NotFoundAs(err, fault.NotFound("Flavor %s could not be found.", id))
	}
	return s.store.Flavor(ctx, id)
}

// DeleteFlavor removes a flavor (admin).
func (s *Service) DeleteFlavor(ctx context.Context, caller *model.Token, id string) error {
	if err := policy.Check(caller, policy.ManageFlavors, policy.Target{}); err != nil {
		return err
	}
	if err := s.store.DeleteFlavor(ctx, id); err != nil {
		return fault.NotFoundAs(err, fault.NotFound("Flavor %s could not be found.", id))
	}
	return nil
}

// ExtraSpecs returns a visible flavor's extra specs.
func (s *Service) ExtraSpecs(ctx context.Context, caller *model.Token, id string) (map[string]string, error) {
	if _, err := s.Flavor(ctx, caller, id); err != nil {
		return nil, err
	}
	return s.store.ExtraSpecs(ctx, id)
}

// SetExtraSpecs sets extra specs on a flavor (admin).
func (s *Service) SetExtraSpecs(ctx context.Context, caller *model.Token, id string, specs map[string]string) error {
	if err := policy.Check(caller, policy.ManageFlavors, policy.Target{}); err != nil {
		return err
	}
	if _, err := s.Flavor(ctx, caller, id); err != nil {
		return err
	}
	for k, v := range specs {
		if k == "" || strings.ContainsAny(k, "/") || validate.Text("extra_specs", k, 255) != nil || validate.Text("extra_specs", v, 255) != nil {
			return fault.Invalid("extra_specs", "keys need 1 to 255 characters without '/', values at most 255, both valid UTF-8 without NUL")
		}
	}
	return s.store.Tx(ctx, func(tx *store.Store) error {
		for k, v := range specs {
			if err := tx.SetExtraSpec(ctx, id, k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteExtraSpec removes one extra spec (admin).
func (s *Service) DeleteExtraSpec(ctx context.Context, caller *model.Token, id, key string) error {
	if err := policy.Check(caller, policy.ManageFlavors, policy.Target{}); err != nil {
		return err
	}
	if err := s.store.DeleteExtraSpec(ctx, id, key); err != nil {
		return fault.NotFoundAs(err, fault.NotFound("Flavor %s has no extra spec with key %s.", id, key))
	}
	return nil
}

// FlavorAccess lists the projects with access to a private flavor (admin).
func (s *Service) FlavorAccess(ctx context.Context, caller *model.Token, id string) ([]string, error) {
	if err := policy.Check(caller, policy.ManageFlavorAccess, policy.Target{}); err != nil {
		return nil, err
	}
	f, err := s.Flavor(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	if f.IsPublic {
		return nil, fault.NotFound("Access list not available for public flavors.")
	}
	return s.store.FlavorAccess(ctx, id)
}

// SetFlavorAccess adds or removes a project's access to a private flavor.
func (s *Service) SetFlavorAccess(ctx context.Context, caller *model.Token, id, project string, allow bool) ([]string, error) {
	if _, err := s.FlavorAccess(ctx, caller, id); err != nil {
		return nil, err
	}
	if allow {
		if _, err := s.store.Project(ctx, project); err != nil {
			return nil, fault.NotFoundAs(err, fault.Invalid("tenant", "project %s does not exist", project))
		}
		if err := s.store.AddFlavorAccess(ctx, id, project); err != nil {
			if errors.Is(err, fault.ErrConflict) {
				return nil, fault.Conflict("Flavor access already exists for flavor %s and project %s combination.", id, project)
			}
			return nil, err
		}
	} else if err := s.store.RemoveFlavorAccess(ctx, id, project); err != nil {
		return nil, fault.NotFoundAs(err, fault.NotFound("Flavor access not found for %s / %s combination.", id, project))
	}
	return s.store.FlavorAccess(ctx, id)
}
