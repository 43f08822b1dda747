package compute

import (
	"context"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/volume"
)

// Nova's os-volume_attachments: the server side of volumes. The compute
// service checks the server (its project, its state, its lock); the
// volume service does the rest.

// volumeStates are the vm_states a server's volumes may change in
// (Nova's for attach and detach).
var volumeStates = map[model.VMState]bool{
	model.VMActive: true, model.VMPaused: true, model.VMStopped: true,
}

// VolumesChangeable reports whether volumes may be attached to or
// detached from in now, as AttachVolume and DetachVolume will judge it
// (the portal offers only those servers).
func VolumesChangeable(in model.Instance) bool {
	return volumeStates[in.VMState] && in.TaskState == model.TaskNone
}

// volumeTarget is a server whose volumes may change now: active, paused
// or stopped, with no task (Nova also takes shelved-offloaded servers,
// whose unshelve here makes the domain anew without them).
func (s *Service) volumeTarget(ctx context.Context, caller *model.Token, id, what string) (model.Instance, error) {
	in, err := s.Get(ctx, caller, id)
	if err != nil {
		return in, err
	}
	if err := policy.Check(caller, policy.ServerAction, policy.Target{ProjectID: in.ProjectID}); err != nil {
		return in, err
	}
	if s.opt.Volumes == nil {
		return in, fault.Invalid("volumeId", "This cloud has no block storage")
	}
	if !volumeStates[in.VMState] {
		return in, fault.Conflict("Cannot '%s' instance %s while it is in vm_state %s", what, id, in.VMState)
	}
	if in.TaskState != model.TaskNone {
		return in, fault.Conflict("Cannot '%s' instance %s while it is in task_state %s", what, id, in.TaskState)
	}
	if err := checkLock(caller, in, Action(what)); err != nil {
		return in, err
	}
	return in, nil
}

// AttachVolume gives a server a volume, hot-plugged when it runs.
func (s *Service) AttachVolume(ctx context.Context, caller *model.Token, id, volumeID string, deleteOnTermination bool) (model.VolumeAttachment, error) {
	in, err := s.volumeTarget(ctx, caller, id, "attach_volume")
	if err != nil {
		return model.VolumeAttachment{}, err
	}
	return s.opt.Volumes.Attach(ctx, caller, in, volumeID, volume.AttachOptions{DeleteOnTermination: deleteOnTermination})
}

// DetachVolume takes a volume from a server once its guest let it go.
func (s *Service) DetachVolume(ctx context.Context, caller *model.Token, id, volumeID string) error {
	in, err := s.volumeTarget(ctx, caller, id, "detach_volume")
	if err != nil {
		return err
	}
	return s.opt.Volumes.Detach(ctx, caller, in, volumeID)
}

// ServerVolumes returns a server and its volumes.
func (s *Service) ServerVolumes(ctx context.Context, caller *model.Token, id string) (model.Instance, []model.Volume, error) {
	in, err := s.Get(ctx, caller, id)
	if err != nil || s.opt.Volumes == nil {
		return in, nil, err
	}
	vs, err := s.opt.Volumes.InstanceVolumes(ctx, in.ID)
	return in, vs, err
}

// releaseVolumes lets a deleted instance's volumes go (the reaper does
// it too, for deletes that end another way).
func (s *Service) releaseVolumes(ctx context.Context, instanceID string) {
	if s.opt.Volumes == nil || instanceID == "" {
		return
	}
	if err := s.opt.Volumes.InstanceGone(context.WithoutCancel(ctx), instanceID); err != nil {
		s.log.Warn("release a deleted instance's volumes", "instance_id", instanceID, "error", err)
	}
}
