package compute

import (
	"context"
	"maps"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// actionMetadata is what checkLock is asked for a metadata change: a
// locked instance refuses it like any action but lock and unlock (Nova's
// update_instance_metadata and delete_instance_metadata are
// @check_instance_lock). It is no row of the lifecycle table: metadata
// changes neither the state nor os-instance-actions.
const actionMetadata Action = "update metadata"

// taggableStates are the vm_states in which an instance's metadata and
// tags may change: Nova's check_instance_state of update_instance_metadata
// (which also wants no task running) and the server-tags API's
// _check_instance_in_valid_state (which does not look at the task).
var taggableStates = []model.VMState{model.VMActive, model.VMPaused, model.VMSuspend, model.VMStopped}

// checkChangeable is Nova's 409 for an instance in a state that refuses
// verb ("update metadata", "delete tag", ...).
func checkChangeable(in model.Instance, verb string, noTask bool) error {
	ok := false
	for _, vm := range taggableStates {
		ok = ok || in.VMState == vm
	}
	if !ok {
		return fault.Conflict("Cannot '%s' instance %s while it is in vm_state %s", verb, in.ID, in.VMState)
	}
	if noTask && in.TaskState != model.TaskNone {
		return fault.Conflict("Cannot '%s' instance %s while it is in task_state %s", verb, in.ID, in.TaskState)
	}
	return nil
}

// Metadata returns an instance's metadata (never nil).
func (s *Service) Metadata(ctx context.Context, caller *model.Token, id string) (map[string]string, error) {
	in, err := s.visibleInstance(ctx, caller, id, policy.ListServerMetadata)
	if err != nil {
		return nil, err
	}
	return nonNil(in.Metadata), nil
}

// MetadataItem returns one item of an instance's metadata.
func (s *Service) MetadataItem(ctx context.Context, caller *model.Token, id, key string) (string, error) {
	in, err := s.visibleInstance(ctx, caller, id, policy.ShowServerMetadata)
	if err != nil {
		return "", err
	}
	v, ok := in.Metadata[key]
	if !ok {
		return "", errNoMetadataItem
	}
	return v, nil
}

var errNoMetadataItem = fault.NotFound("Metadata item was not found")

// UpdateMetadata merges md into an instance's metadata (POST), or
// replaces it with md (PUT), and returns the result.
func (s *Service) UpdateMetadata(ctx context.Context, caller *model.Token, id string, md map[string]string, replace bool) (map[string]string, error) {
	if err := checkMetadata(md); err != nil {
		return nil, err
	}
	op := policy.CreateServerMetadata
	if replace {
		op = policy.ReplaceServerMetadata
	}
	return s.changeMetadata(ctx, caller, id, op, func(cur map[string]string) (map[string]string, error) {
		if replace {
			return nonNil(maps.Clone(md)), nil
		}
		maps.Copy(cur, md)
		return cur, nil
	})
}

// SetMetadataItem sets one item of an instance's metadata.
func (s *Service) SetMetadataItem(ctx context.Context, caller *model.Token, id, key, value string) error {
	if err := checkMetadata(map[string]string{key: value}); err != nil {
		return err
	}
	_, err := s.changeMetadata(ctx, caller, id, policy.UpdateServerMetadata, func(cur map[string]string) (map[string]string, error) {
		cur[key] = value
		return cur, nil
	})
	return err
}

// DeleteMetadataItem removes one item of an instance's metadata.
func (s *Service) DeleteMetadataItem(ctx context.Context, caller *model.Token, id, key string) error {
	_, err := s.changeMetadata(ctx, caller, id, policy.DeleteServerMetadata, func(cur map[string]string) (map[string]string, error) {
		if _, ok := cur[key]; !ok {
			return nil, errNoMetadataItem // before the lock and state checks, as Nova
		}
		delete(cur, key)
		return cur, nil
	})
	return err
}

// changeMetadata applies change to an instance's metadata with its row
// locked (changeInstance), then checks what Nova checks (lock, state,
// and, unless the change only removes, the metadata_items quota) and
// saves the result.
func (s *Service) changeMetadata(ctx context.Context, caller *model.Token, id string, op policy.Op,
	change func(cur map[string]string) (map[string]string, error)) (map[string]string, error) {
	verb := "update metadata"
	if op == policy.DeleteServerMetadata {
		verb = "delete metadata"
	}
	var out map[string]string
	err := s.changeInstance(ctx, caller, id, op, func(tx *store.Store, in model.Instance) error {
		md, err := change(nonNil(maps.Clone(in.Metadata)))
		if err != nil {
			return err
		}
		if err := checkLock(caller, in, actionMetadata); err != nil {
			return err
		}
		if err := checkChangeable(in, verb, true); err != nil {
			return err
		}
		if op != policy.DeleteServerMetadata { // a removal never grows it
			limits, err := tx.QuotaLimits(ctx, in.ProjectID)
			if err != nil {
				return err
			}
			if err := metadataFits(limits, len(md)); err != nil {
				return err
			}
		}
		out = md
		return tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, Metadata: md})
	})
	return out, err
}

// changeInstance runs change in a transaction with the instance's row
// locked, so that changes to one instance apply one after another (none
// is lost, a count holds); a deleted instance is not found.
func (s *Service) changeInstance(ctx context.Context, caller *model.Token, id string, op policy.Op,
	change func(tx *store.Store, in model.Instance) error) error {
	cur, err := s.visibleInstance(ctx, caller, id, op)
	if err != nil {
		return err
	}
	return s.store.Tx(ctx, func(tx *store.Store) error {
		in, err := tx.LockInstance(ctx, cur.ID)
		if err != nil {
			return fault.NotFoundAs(err, notFound(id))
		}
		if in.VMState == model.VMDeleted {
			return notFound(id)
		}
		return change(tx, in)
	})
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
