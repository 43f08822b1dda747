package compute

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/volume"
)

// Launching with volumes (block_device_mapping_v2): the volumes a launch
// makes (from an image, a snapshot, or empty) or is given are made and
// reserved for the instance first, while it waits in BUILD; then it is
// scheduled, and its host's domain is defined with them (the boot volume
// as vda). A volume that cannot be made ends the build in ERROR, with
// the volume service's reason.

// plannedVolume is one volume of a launch, at its device.
type plannedVolume struct {
	bd     BlockDevice
	device string
}

// volumeCopyWait bounds waiting for a launch's volumes to be made.
const volumeCopyWait = 30 * time.Minute

// planVolumes checks a launch's block devices and says where each goes;
// boot says whether the instance boots from a volume. An entry that is
// Nova's way of saying "boot from this image" (image to local, boot
// index 0) becomes r.ImageRef.
func (s *Service) planVolumes(ctx context.Context, caller *model.Token, r *CreateRequest, ramMB int) (plan []plannedVolume, boot bool, err error) {
	next := 'b'
	for _, bd := range r.BlockDevices {
		isBoot := bd.BootIndex != nil && *bd.BootIndex == 0
		if bd.DestinationType == "local" || bd.DestinationType == "" && bd.SourceType == "image" {
			if bd.SourceType != "image" || !isBoot {
				return nil, false, fault.Invalid("block_device_mapping_v2", "Only the boot image may have destination_type local (ephemeral and swap disks are not supported).")
			}
			if r.ImageRef == "" {
				r.ImageRef = bd.UUID
			}
			continue
		}
		if bd.DestinationType != "volume" {
			return nil, false, fault.Invalid("block_device_mapping_v2", "destination_type must be volume or local, not %q.", bd.DestinationType)
		}
		if s.opt.Volumes == nil {
			return nil, false, fault.Invalid("block_device_mapping_v2", "This cloud has no block storage.")
		}
		switch bd.SourceType {
		case "image", "blank":
			if bd.VolumeSize < 1 || bd.VolumeSize > volume.MaxSizeGB {
				return nil, false, fault.Invalid("volume_size", "Invalid input for field/attribute volume_size: a volume made at launch needs a size from 1 to %d GB.", volume.MaxSizeGB)
			}
			if bd.SourceType == "blank" && isBoot {
				return nil, false, fault.Invalid("block_device_mapping_v2", "A blank volume cannot be the boot disk.")
			}
			if bd.SourceType == "image" {
				if _, err := s.bootableImage(ctx, caller, "block_device_mapping_v2", bd.UUID, ramMB, 0); err != nil {
					return nil, false, err
				}
			}
		case "snapshot":
			if _, err := s.opt.Volumes.GetSnapshot(ctx, caller, bd.UUID); err != nil {
				return nil, false, fault.NotFoundAs(err, fault.Invalid("block_device_mapping_v2", "Snapshot %s could not be found.", bd.UUID))
			}
		case "volume":
			v, err := s.opt.Volumes.Get(ctx, caller, bd.UUID)
			if err != nil {
				return nil, false, fault.NotFoundAs(err, fault.Invalid("block_device_mapping_v2", "Volume %s could not be found.", bd.UUID))
			}
			if v.Status != string(volume.Available) || v.Attachment != nil {
				return nil, false, fault.Invalid("block_device_mapping_v2", "Volume %s is %s, not available.", v.ID, v.Status)
			}
		default:
			return nil, false, fault.Invalid("source_type", "source_type must be image, volume, snapshot or blank, not %q.", bd.SourceType)
		}
		p := plannedVolume{bd: bd}
		switch {
		case isBoot && boot:
			return nil, false, fault.Invalid("boot_index", "Only one block device may have boot_index 0.")
		case isBoot:
			boot, p.device = true, volume.DevicePrefix+"a"
		default:
			if next > 'z' {
				return nil, false, fault.Invalid("block_device_mapping_v2", "Too many block devices.")
			}
			p.device = volume.DevicePrefix + string(next)
			next++
		}
		plan = append(plan, p)
	}
	if len(plan) > 0 && r.MaxCount > 1 {
		return nil, false, fault.Invalid("max_count", "A launch of more than one server cannot have volumes.")
	}
	return plan, boot, nil
}

// prepareVolumes makes and reserves a launching instance's volumes, then
// has it scheduled; it runs after the launch answered.
func (s *Service) prepareVolumes(ctx context.Context, caller *model.Token, in model.Instance, actionID int64, requestID string, plan []plannedVolume) {
	ctx = context.WithoutCancel(ctx)
	fail := func(why error) {
		s.log.Warn("a launch's volumes", "instance_id", in.ID, "error", why)
		msg := "Build of instance aborted: its volumes could not be made."
		var v *fault.Validation
		if errors.As(why, &v) || errors.Is(why, fault.ErrConflict) || errors.Is(why, fault.ErrNotFound) {
			msg = "Build of instance aborted: " + why.Error()
		}
		terr := s.store.Tx(ctx, func(tx *store.Store) error {
			cur, err := tx.LockInstance(ctx, in.ID)
			if err != nil {
				return err
			}
			return s.failPlacement(ctx, tx, cur, actionID, "", Trigger{Kind: Unplaced}, msg, why.Error())
		})
		if terr != nil {
			s.log.Error("fail a launch whose volumes could not be made", "instance_id", in.ID, "error", terr)
		}
	}
	ids := make([]string, len(plan))
	for i, p := range plan {
		bd := p.bd
		switch bd.SourceType {
		case "volume":
			ids[i] = bd.UUID
			continue
		case "image":
			v, err := s.opt.Volumes.Create(ctx, caller, volume.Input{SizeGB: bd.VolumeSize, ImageID: bd.UUID, Name: ""})
			if err != nil {
				fail(err)
				return
			}
			ids[i] = v.ID
		case "blank":
			v, err := s.opt.Volumes.Create(ctx, caller, volume.Input{SizeGB: bd.VolumeSize})
			if err != nil {
				fail(err)
				return
			}
			ids[i] = v.ID
		case "snapshot":
			v, err := s.opt.Volumes.Create(ctx, caller, volume.Input{SizeGB: bd.VolumeSize, SnapshotID: bd.UUID})
			if err != nil {
				fail(err)
				return
			}
			ids[i] = v.ID
		}
	}
	for i, p := range plan {
		if _, err := s.opt.Volumes.WaitAvailable(ctx, ids[i], volumeCopyWait); err != nil {
			fail(err)
			return
		}
		if err := s.opt.Volumes.Reserve(ctx, caller, in, ids[i], p.device, p.bd.BootIndex, p.bd.DeleteOnTermination); err != nil {
			fail(err)
			return
		}
	}
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		return tx.Enqueue(ctx, queue.SchedulerStream(s.opt.RedisPrefix), queue.Job{
			V: queue.Version, Kind: queue.JobSchedule, InstanceID: in.ID, RequestID: requestID, ActionID: actionID})
	})
	if err != nil {
		fail(fmt.Errorf("schedule: %w", err))
		return
	}
	s.opt.Kick()
}

// bootsFromVolume says whether an instance's root disk is a volume.
func bootsFromVolume(in model.Instance) bool {
	for _, v := range in.Volumes {
		if v.Device == volume.DevicePrefix+"a" {
			return true
		}
	}
	return false
}
