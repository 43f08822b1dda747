package volume

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// Attachments (Nova's os-volume_attachments): the compute service checks
// the instance (its project, its state) and hands it here. Attach and
// detach wait for the hosts, as the interface calls do: the answer says
// whether the guest has the disk.
//
// The refusals that protect data:
//   - one attachment per volume (the unique index, whatever two requests race);
//   - a detach is recorded only once the compute host says the guest let
//     the disk go; when it cannot say, the volume stays in-use;
//   - an attach whose compute host did not answer leaves the volume error
//     and still attached, so it goes nowhere else until it is detached.

// hostCall bounds an attach's or a detach's wait for the compute host
// (a guest has 30 s to let a disk go, detachWait in the driver).
const hostCall = 60 * time.Second

// DevicePrefix names the guest's disks; vda is the root disk.
const DevicePrefix = "/dev/vd"

// nextDevice is the first of vdb..vdz the instance does not use.
func nextDevice(used []string) (string, error) {
	for c := 'b'; c <= 'z'; c++ {
		d := DevicePrefix + string(c)
		if !slices.Contains(used, d) {
			return d, nil
		}
	}
	return "", fault.Conflict("The instance has no free disk device (vdb to vdz are taken).")
}

// AttachOptions are what an attach asks besides the volume.
type AttachOptions struct {
	DeleteOnTermination bool
}

// Attach gives volume id to instance in (the compute service has checked
// the caller may change it) and returns the attachment.
func (s *Service) Attach(ctx context.Context, caller *model.Token, in model.Instance, id string, o AttachOptions) (model.VolumeAttachment, error) {
	var v model.Volume
	a := model.VolumeAttachment{ID: newID(), VolumeID: id, InstanceID: in.ID, Host: in.Host, DeleteOnTermination: o.DeleteOnTermination}
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if v, err = changeable(ctx, tx, caller, id); err != nil {
			return err
		}
		if v.ProjectID != in.ProjectID {
			return NotFound(id) // another project's volume is not found, even for an admin's call
		}
		if v.Status == string(InUse) || v.Attachment != nil {
			return fault.Conflict("Volume %s is already attached (multiattach is off).", id)
		}
		if _, err := check(v, Ask{Op: OpAttach}); err != nil {
			return err
		}
		used, err := tx.InstanceDevices(ctx, in.ID)
		if err != nil {
			return err
		}
		if a.Device, err = nextDevice(used); err != nil {
			return err
		}
		if v.Host != in.Host && in.Host != "" {
			a.ExportName, a.ExportKey = "att-"+randomHex(12), randomHex(32)
		}
		if err := tx.CreateAttachment(ctx, a); err != nil {
			if errors.Is(err, store.ErrDuplicate) {
				return fault.Conflict("Volume %s is already attached (multiattach is off).", id)
			}
			return err
		}
		_, err = tx.SetVolumeStatus(ctx, id, nil, string(Attaching), "")
		return err
	})
	if err != nil {
		return a, err
	}
	// From here the hosts act: their outcome is recorded whatever the
	// request's own deadline, so a client that gave up finds it recorded.
	ctx = context.WithoutCancel(ctx)
	if in.Host == "" {
		// Not on a host (shelved and offloaded): its next start has it.
		s.setStatus(ctx, id, []Status{Attaching}, InUse, "")
		return a, nil
	}
	disk, err := s.export(ctx, v, a)
	if err == nil {
		_, err = s.call(ctx, in.Host, queue.Request{Kind: queue.CallAttachVolume, InstanceID: in.ID, Disk: &disk}, hostCall)
	}
	if errors.Is(err, queue.ErrNoReply) {
		// The guest may or may not have the disk: it stays attached here
		// (nobody else gets it) in error, until a detach settles it.
		s.setStatus(ctx, id, []Status{Attaching}, Error, "The compute host did not answer the attach; detach the volume to try again.")
		return a, fault.Conflict("The compute host of instance %s did not answer; the volume is in error until it is detached.", in.ID)
	}
	if err != nil {
		s.log.Warn("attach a volume", "volume_id", id, "instance_id", in.ID, "error", err)
		s.unexport(ctx, v, a)
		if derr := s.store.DeleteAttachment(ctx, id); derr != nil {
			s.log.Error("forget a failed attachment", "volume_id", id, "error", derr)
		}
		s.setStatus(ctx, id, []Status{Attaching}, Available, "")
		return a, fault.Conflict("Failed to attach volume %s to instance %s on its host.", id, in.ID)
	}
	s.setStatus(ctx, id, []Status{Attaching}, InUse, "")
	return a, nil
}

// export has the volume's host serve it to attachment a when the
// instance runs elsewhere, and returns the disk the compute host reads.
func (s *Service) export(ctx context.Context, v model.Volume, a model.VolumeAttachment) (queue.VolumeDisk, error) {
	disk := queue.VolumeDisk{AttachmentID: a.ID, VolumeID: v.ID, Device: a.Device[len("/dev/"):]}
	if a.ExportName == "" {
		return disk, nil
	}
	info, ok := s.hostAlive(ctx, v.Host)
	if !ok || info.Storage == nil {
		return disk, fmt.Errorf("storage host %s is down", v.Host)
	}
	e := &queue.NBDExport{Host: info.Storage.Addr, Name: a.ExportName, User: a.ID, Key: a.ExportKey}
	rep, err := s.call(ctx, v.Host, queue.Request{Kind: queue.CallVolumeExport, Volume: &queue.VolumeCall{ID: v.ID, Export: e}}, hostCall)
	if err != nil {
		return disk, err
	}
	e.Port = rep.Port
	disk.Remote = e
	return disk, nil
}

// unexport stops serving attachment a's export (when it had one).
func (s *Service) unexport(ctx context.Context, v model.Volume, a model.VolumeAttachment) {
	if a.ExportName == "" {
		return
	}
	_, err := s.call(ctx, v.Host, queue.Request{Kind: queue.CallVolumeUnexport,
		Volume: &queue.VolumeCall{ID: v.ID, Export: &queue.NBDExport{Name: a.ExportName}}}, quickCall)
	if err != nil {
		s.log.Warn("stop a volume's export", "volume_id", v.ID, "export", a.ExportName, "error", err)
	}
}

// Detach takes volume id from instance in, once its host says the guest
// let the disk go.
func (s *Service) Detach(ctx context.Context, caller *model.Token, in model.Instance, id string) error {
	var v model.Volume
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if v, err = changeable(ctx, tx, caller, id); err != nil {
			return err
		}
		if v.Attachment == nil || v.Attachment.InstanceID != in.ID {
			return fault.NotFound("Volume %s is not attached to instance %s.", id, in.ID)
		}
		if v.Status == string(Error) {
			// An attach the host never answered: a detach settles it.
			_, err = tx.SetVolumeStatus(ctx, id, nil, string(Detaching), "")
			return err
		}
		if _, err := check(v, Ask{Op: OpDetach}); err != nil {
			return err
		}
		_, err = tx.SetVolumeStatus(ctx, id, nil, string(Detaching), "")
		return err
	})
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	a := *v.Attachment
	if in.Host != "" {
		disk := queue.VolumeDisk{AttachmentID: a.ID, VolumeID: v.ID, Device: a.Device[len("/dev/"):]}
		if a.ExportName != "" {
			disk.Remote = &queue.NBDExport{}
		}
		if _, err := s.call(ctx, in.Host, queue.Request{Kind: queue.CallDetachVolume, InstanceID: in.ID, Disk: &disk}, hostCall); err != nil {
			s.log.Warn("detach a volume", "volume_id", id, "instance_id", in.ID, "error", err)
			s.setStatus(ctx, id, []Status{Detaching}, InUse, "The guest did not let the disk go; it is still attached.")
			return fault.Conflict("Failed to detach volume %s from instance %s: the guest still has the disk.", id, in.ID)
		}
	}
	s.unexport(ctx, v, a)
	if err := s.store.DeleteAttachment(ctx, id); err != nil {
		return err
	}
	s.setStatus(ctx, id, []Status{Detaching}, Available, "")
	return nil
}

// InstanceGone releases the volumes of an instance that was deleted (its
// domain is gone with their disks): each is available again, and those
// it was told to delete on termination are deleted. A volume it did not
// create is never deleted unless it was attached with that flag.
func (s *Service) InstanceGone(ctx context.Context, instanceID string) error {
	vs, err := s.store.InstanceVolumes(ctx, instanceID)
	if err != nil {
		return err
	}
	for _, v := range vs {
		a := *v.Attachment
		if a.ExportName != "" && a.Host != "" {
			// The compute host's relay, then the storage host's export.
			disk := queue.VolumeDisk{AttachmentID: a.ID, VolumeID: v.ID, Device: a.Device[len("/dev/"):], Remote: &queue.NBDExport{}}
			if _, err := s.call(ctx, a.Host, queue.Request{Kind: queue.CallDetachVolume, InstanceID: instanceID, Disk: &disk}, quickCall); err != nil {
				s.log.Warn("close a deleted instance's volume relay", "volume_id", v.ID, "error", err)
			}
		}
		s.unexport(ctx, v, a)
		if err := s.store.DeleteAttachment(ctx, v.ID); err != nil {
			return err
		}
		if !a.DeleteOnTermination {
			s.setStatus(ctx, v.ID, nil, Available, "")
			continue
		}
		if v.Snapshots > 0 {
			s.setStatus(ctx, v.ID, nil, Available, "Not deleted with its instance: it has snapshots.")
			continue
		}
		if _, err := s.store.SetVolumeStatus(ctx, v.ID, nil, string(Deleting), ""); err != nil {
			return err
		}
		v.Attachment = nil
		s.finishDelete(ctx, v)
	}
	return nil
}

// InstanceVolumes lists the volumes attached to an instance.
func (s *Service) InstanceVolumes(ctx context.Context, instanceID string) ([]model.Volume, error) {
	return s.store.InstanceVolumes(ctx, instanceID)
}
