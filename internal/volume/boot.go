package volume

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// A server's block device mapping (Nova's block_device_mapping_v2): the
// volumes it is launched with, the boot volume among them, are given to
// the instance before it is placed (Reserve), and to its host's domain
// at its build (Disks), not hot-plugged.

// WaitAvailable waits until the volume is available (made, for a new
// one) and returns it; an error status, or d passing, is an error.
func (s *Service) WaitAvailable(ctx context.Context, id string, d time.Duration) (model.Volume, error) {
	deadline := time.Now().Add(d)
	for {
		v, err := s.store.Volume(ctx, id)
		if err != nil {
			return v, err
		}
		switch Status(v.Status) {
		case Available:
			return v, nil
		case Creating:
		default:
			msg := v.Error
			if msg == "" {
				msg = "it is " + v.Status
			}
			return v, fmt.Errorf("volume %s is not available: %s", id, msg)
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("volume %s was not made in %s", id, d)
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Reserve gives available volume id to a launching instance at device
// (/dev/vda for the boot volume): the attachment is recorded and the
// volume in-use; the instance's host is told at the build.
func (s *Service) Reserve(ctx context.Context, caller *model.Token, in model.Instance, id, device string, bootIndex *int, deleteOnTermination bool) error {
	return s.store.Tx(ctx, func(tx *store.Store) error {
		v, err := changeable(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		if v.ProjectID != in.ProjectID {
			return NotFound(id)
		}
		if _, err := check(v, Ask{Op: OpAttach}); err != nil {
			return err
		}
		err = tx.CreateAttachment(ctx, model.VolumeAttachment{ID: newID(), VolumeID: id, InstanceID: in.ID, Device: device,
			DeleteOnTermination: deleteOnTermination, BootIndex: bootIndex})
		if errors.Is(err, store.ErrDuplicate) {
			return fault.Conflict("Volume %s is already attached (multiattach is off).", id)
		}
		if err != nil {
			return err
		}
		_, err = tx.SetVolumeStatus(ctx, id, nil, string(InUse), "")
		return err
	})
}

// Disks returns an instance's volumes as its host's domain reads them:
// files of the host's own pool, or exports of the hosts that keep them
// (made now, for this host), recorded on the attachments.
func (s *Service) Disks(ctx context.Context, instanceID, host string) ([]queue.VolumeDisk, error) {
	vs, err := s.store.InstanceVolumes(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	var out []queue.VolumeDisk
	for _, v := range vs {
		a := *v.Attachment
		if a.Host != host {
			a.ExportName, a.ExportKey = "", ""
			if v.Host != host {
				a.ExportName, a.ExportKey = "att-"+randomHex(12), randomHex(32)
			}
			if err := s.store.SetAttachmentHost(ctx, a.ID, host, a.ExportName, a.ExportKey); err != nil {
				return nil, err
			}
		}
		disk, err := s.export(ctx, v, a)
		if err != nil {
			return nil, fmt.Errorf("volume %s for host %s: %w", v.ID, host, err)
		}
		out = append(out, disk)
	}
	return out, nil
}
