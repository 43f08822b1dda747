package compute

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// Host aggregates (Nova's os-aggregates), an admin's. An aggregate's
// metadata is what the scheduler's aggregate filters read; its
// availability_zone key is the zone of its hosts (store.hostAZ), so a
// host may not be in two aggregates naming different zones.

const azKey = "availability_zone"

// Aggregates lists every aggregate.
func (s *Service) Aggregates(ctx context.Context, caller *model.Token) ([]model.Aggregate, error) {
	if err := policy.Check(caller, policy.ListAggregates, policy.Target{}); err != nil {
		return nil, err
	}
	return s.store.Aggregates(ctx)
}

// Aggregate returns one aggregate.
func (s *Service) Aggregate(ctx context.Context, caller *model.Token, id string) (model.Aggregate, error) {
	if err := policy.Check(caller, policy.ListAggregates, policy.Target{}); err != nil {
		return model.Aggregate{}, err
	}
	a, err := s.store.Aggregate(ctx, id)
	return a, fault.NotFoundAs(err, fault.NotFound("Aggregate %s could not be found.", id))
}

// CreateAggregate makes an aggregate, in zone az when it is not "".
func (s *Service) CreateAggregate(ctx context.Context, caller *model.Token, name, az string) (model.Aggregate, error) {
	if err := policy.Check(caller, policy.ManageAggregates, policy.Target{}); err != nil {
		return model.Aggregate{}, err
	}
	if err := checkAggregateName(name, az); err != nil {
		return model.Aggregate{}, err
	}
	a := model.Aggregate{UUID: uuid.NewString(), Name: name, Metadata: map[string]string{}}
	if az != "" {
		a.Metadata[azKey] = az
	}
	var id int
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		var err error
		id, err = tx.CreateAggregate(ctx, a)
		return err
	})
	if errors.Is(err, store.ErrDuplicate) {
		return model.Aggregate{}, fault.Conflict("Aggregate %s already exists.", name)
	}
	if err != nil {
		return model.Aggregate{}, err
	}
	return s.store.Aggregate(ctx, strconv.Itoa(id))
}

func checkAggregateName(name, az string) error {
	if err := validate.Name("name", name, 255); err != nil {
		return err
	}
	if az != "" {
		return validate.Name(azKey, az, 255)
	}
	return nil
}

// UpdateAggregate renames an aggregate and (az non-nil) sets its zone.
func (s *Service) UpdateAggregate(ctx context.Context, caller *model.Token, id string, name, az *string) (model.Aggregate, error) {
	return s.changeAggregate(ctx, caller, id, func(tx *store.Store, a model.Aggregate) error {
		if name != nil {
			if err := checkAggregateName(*name, ""); err != nil {
				return err
			}
			if err := tx.RenameAggregate(ctx, a.ID, *name); errors.Is(err, store.ErrDuplicate) {
				return fault.Conflict("Aggregate %s already exists.", *name)
			} else if err != nil {
				return err
			}
		}
		if az == nil {
			return nil
		}
		return s.setAggregateMetadata(ctx, tx, a, map[string]*string{azKey: az})
	})
}

// SetAggregateMetadata sets (or, nil, removes) metadata keys.
func (s *Service) SetAggregateMetadata(ctx context.Context, caller *model.Token, id string, md map[string]*string) (model.Aggregate, error) {
	return s.changeAggregate(ctx, caller, id, func(tx *store.Store, a model.Aggregate) error {
		return s.setAggregateMetadata(ctx, tx, a, md)
	})
}

func (s *Service) setAggregateMetadata(ctx context.Context, tx *store.Store, a model.Aggregate, md map[string]*string) error {
	set, unset := map[string]string{}, []string{}
	for k, v := range md {
		if err := validate.Name("metadata", k, 255); err != nil {
			return err
		}
		if v == nil {
			unset = append(unset, k)
			continue
		}
		if err := validate.Text("metadata", *v, 255); err != nil {
			return err
		}
		set[k] = *v
	}
	if az, ok := set[azKey]; ok {
		if err := validate.Name(azKey, az, 255); err != nil {
			return err
		}
		for _, h := range a.Hosts {
			if err := s.zoneFits(ctx, tx, a.ID, h, az); err != nil {
				return err
			}
		}
	}
	return tx.SetAggregateMetadata(ctx, a.ID, set, unset...)
}

// zoneFits refuses to put host in zone az when another of its aggregates
// names another zone (Nova's 400).
func (s *Service) zoneFits(ctx context.Context, tx *store.Store, aggregate int, host, az string) error {
	zones, err := tx.HostAggregateZones(ctx, host, aggregate)
	if err != nil {
		return err
	}
	for _, z := range zones {
		if z != az {
			return fault.Invalid(azKey, "Cannot add host %s to aggregate in zone %s: it is in zone %s by another aggregate.",
				host, az, z)
		}
	}
	return nil
}

// AddAggregateHost puts a host in an aggregate.
func (s *Service) AddAggregateHost(ctx context.Context, caller *model.Token, id, host string) (model.Aggregate, error) {
	return s.changeAggregate(ctx, caller, id, func(tx *store.Store, a model.Aggregate) error {
		if _, err := tx.Host(ctx, host); err != nil {
			return fault.NotFoundAs(err, fault.NotFound("Compute host %s could not be found.", host))
		}
		if slices.Contains(a.Hosts, host) {
			return fault.Conflict("Aggregate %s already has host %s.", id, host)
		}
		if az := a.AZ(); az != "" {
			if err := s.zoneFits(ctx, tx, a.ID, host, az); err != nil {
				return err
			}
		}
		return tx.AddAggregateHost(ctx, a.ID, host)
	})
}

// RemoveAggregateHost takes a host out of an aggregate.
func (s *Service) RemoveAggregateHost(ctx context.Context, caller *model.Token, id, host string) (model.Aggregate, error) {
	return s.changeAggregate(ctx, caller, id, func(tx *store.Store, a model.Aggregate) error {
		err := tx.RemoveAggregateHost(ctx, a.ID, host)
		return fault.NotFoundAs(err, fault.NotFound("Cannot remove host %s from aggregate %s: it is not in it.", host, id))
	})
}

// DeleteAggregate removes an aggregate with no hosts (400 otherwise).
func (s *Service) DeleteAggregate(ctx context.Context, caller *model.Token, id string) error {
	_, err := s.changeAggregate(ctx, caller, id, func(tx *store.Store, a model.Aggregate) error {
		if len(a.Hosts) > 0 {
			return fault.Invalid("aggregate", "Cannot delete aggregate %s: it still has hosts.", id)
		}
		return tx.DeleteAggregate(ctx, a.ID)
	})
	return err
}

// changeAggregate runs change on the aggregate, locked, and returns it as
// it is after.
func (s *Service) changeAggregate(ctx context.Context, caller *model.Token, id string, change func(*store.Store, model.Aggregate) error) (model.Aggregate, error) {
	if err := policy.Check(caller, policy.ManageAggregates, policy.Target{}); err != nil {
		return model.Aggregate{}, err
	}
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		a, err := tx.LockAggregate(ctx, id)
		if err != nil {
			return fault.NotFoundAs(err, fault.NotFound("Aggregate %s could not be found.", id))
		}
		return change(tx, a)
	})
	if err != nil {
		return model.Aggregate{}, err
	}
	a, err := s.store.Aggregate(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return model.Aggregate{}, nil // deleted
	}
	return a, err
}
