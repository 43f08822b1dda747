package volume

import (
	"context"
	"errors"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// Volume types: admins make them; everyone sees the public ones.

// TypeNotFound is the refusal for a type the caller may not see.
func TypeNotFound(id string) error { return fault.NotFound("Volume type %s could not be found.", id) }

// Types lists the types the caller may use.
func (s *Service) Types(ctx context.Context, caller *model.Token) ([]model.VolumeType, error) {
	return s.store.VolumeTypes(ctx, !policy.Allowed(caller, policy.ManageVolumeTypes, policy.Target{}))
}

// Type returns one type (by id or name) the caller may use.
func (s *Service) Type(ctx context.Context, caller *model.Token, id string) (model.VolumeType, error) {
	t, err := s.store.VolumeType(ctx, id)
	if err != nil || !t.IsPublic && !policy.Allowed(caller, policy.ManageVolumeTypes, policy.Target{}) {
		return model.VolumeType{}, fault.NotFoundAs(store.ErrNotFound, TypeNotFound(id))
	}
	return t, nil
}

// DefaultType is the type a volume gets when it names none.
func (s *Service) DefaultType(ctx context.Context, caller *model.Token) (model.VolumeType, error) {
	return s.Type(ctx, caller, model.DefaultVolumeTypeID)
}

func validType(t model.VolumeType) error {
	if err := validate.Name("name", t.Name, 255); err != nil {
		return err
	}
	if err := validate.Text("description", t.Description, 255); err != nil {
		return err
	}
	for k, v := range t.ExtraSpecs {
		if k == "" || validate.Text("extra_specs", k, 255) != nil || validate.Text("extra_specs", v, 255) != nil {
			return fault.Invalid("extra_specs", "Invalid input received: extra specs keys and values are 1 to 255 characters.")
		}
	}
	return nil
}

// CreateType makes a type (admins).
func (s *Service) CreateType(ctx context.Context, caller *model.Token, t model.VolumeType) (model.VolumeType, error) {
	if err := policy.Check(caller, policy.ManageVolumeTypes, policy.Target{}); err != nil {
		return t, err
	}
	if err := validType(t); err != nil {
		return t, err
	}
	t.ID = newID()
	if err := s.store.CreateVolumeType(ctx, t); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return t, fault.Conflict("Volume Type %s already exists.", t.Name)
		}
		return t, err
	}
	return s.store.VolumeType(ctx, t.ID)
}

// UpdateType changes a type (admins); fn edits it.
func (s *Service) UpdateType(ctx context.Context, caller *model.Token, id string, fn func(*model.VolumeType)) (model.VolumeType, error) {
	if err := policy.Check(caller, policy.ManageVolumeTypes, policy.Target{}); err != nil {
		return model.VolumeType{}, err
	}
	t, err := s.store.VolumeType(ctx, id)
	if err != nil {
		return t, fault.NotFoundAs(err, TypeNotFound(id))
	}
	old := t.Name
	fn(&t)
	if err := validType(t); err != nil {
		return t, err
	}
	if t.ID == model.DefaultVolumeTypeID && t.Name != old {
		return t, fault.Invalid("name", "The default volume type cannot be renamed.")
	}
	if err := s.store.UpdateVolumeType(ctx, old, t); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return t, fault.Conflict("Volume Type %s already exists.", t.Name)
		}
		return t, err
	}
	return s.store.VolumeType(ctx, id)
}

// DeleteType removes a type no volume uses (admins); the default stays.
func (s *Service) DeleteType(ctx context.Context, caller *model.Token, id string) error {
	if err := policy.Check(caller, policy.ManageVolumeTypes, policy.Target{}); err != nil {
		return err
	}
	t, err := s.store.VolumeType(ctx, id)
	if err != nil {
		return fault.NotFoundAs(err, TypeNotFound(id))
	}
	if t.ID == model.DefaultVolumeTypeID {
		return fault.Invalid("", "The default volume type cannot be deleted.")
	}
	if err := s.store.DeleteVolumeType(ctx, t); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &Refusal{Message: "Target volume type is still in use."}
		}
		return err
	}
	return nil
}
