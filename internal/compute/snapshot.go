package compute

import (
	"context"
	"errors"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/image"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// SnapshotRequest is Nova's createImage.
type SnapshotRequest struct {
	Name      string
	Metadata  map[string]string // image properties, over the base image's
	RequestID string
}

// notCopied are base-image properties a snapshot does not inherit: they
// say what the base image was, and the snapshot says it itself.
var notCopied = map[string]bool{"image_type": true, "instance_uuid": true, "base_image_ref": true, "user_id": true,
	"image_location": true, "image_state": true, "owner_id": true}

// Snapshot begins copying an instance's root disk into a new image, as
// Nova's createImage: the image (owned by the instance's project, queued,
// image_type=snapshot, instance_uuid, the base image's properties) exists
// at once and becomes active when the host has sent the data; the
// instance goes image_snapshot -> image_pending_upload -> image_uploading
// and back to no task. The image counts against the project's image quota
// like any other; a snapshot that fails takes its image away again.
func (s *Service) Snapshot(ctx context.Context, caller *model.Token, id string, r SnapshotRequest) (model.Image, error) {
	if s.opt.Images == nil {
		return model.Image{}, fault.Conflict("snapshots are not available: no image service")
	}
	cur, err := s.visibleInstance(ctx, caller, id, policy.ServerAction)
	if err != nil {
		return model.Image{}, err
	}
	if r.Name == "" {
		return model.Image{}, fault.InvalidAs("required", "name", "Invalid input for field/attribute name. 'name' is a required property")
	}
	if err := validate.Name("name", r.Name, 255); err != nil {
		return model.Image{}, err
	}
	if err := checkMetadata(r.Metadata); err != nil {
		return model.Image{}, err
	}
	return s.snapshotAct(ctx, caller, cur, ActionSnapshot, r.Name, r.Metadata, r.RequestID, false)
}

// snapshotAct begins a (createImage, shelve) on cur, whose job fills a
// new snapshot image: refused before the image is made when the lock or
// the state already refuses it (both checked again with the instance
// locked), and the image discarded when the action is refused after all.
// shelved records the image as the instance's shelved snapshot.
func (s *Service) snapshotAct(ctx context.Context, caller *model.Token, cur model.Instance, a Action, name string,
	metadata map[string]string, requestID string, shelved bool) (model.Image, error) {
	if err := checkLock(caller, cur, a); err != nil {
		return model.Image{}, err
	}
	if _, err := Begin(a, cur.VMState, cur.TaskState); err != nil {
		return model.Image{}, err
	}
	im, err := s.snapshotImage(ctx, caller, cur, name, metadata)
	if err != nil {
		return model.Image{}, err
	}
	_, err = s.act(ctx, caller, cur.ID, a, requestID,
		func(_ *store.Store, in model.Instance, j *queue.Job, u *store.InstanceUpdate) error {
			j.Snapshot = &queue.Snapshot{ImageID: im.ID, UploadURL: s.opt.UploadURL(im.ID), RootGB: in.RootGB}
			if shelved {
				u.ShelvedImage = &im.ID
			}
			return nil
		})
	if err != nil {
		if derr := s.opt.Images.Discard(context.WithoutCancel(ctx), im.ID); derr != nil {
			s.log.Warn("discard the image of a refused "+string(a), "image_id", im.ID, "error", derr)
		}
		return model.Image{}, err
	}
	return im, nil
}

// snapshotImage creates the (queued) image a snapshot of in fills: owned
// by the instance's project, with the base image's properties, metadata
// over them, and Nova's snapshot properties.
func (s *Service) snapshotImage(ctx context.Context, caller *model.Token, in model.Instance, name string, metadata map[string]string) (model.Image, error) {
	props := map[string]string{}
	minDisk, minRAM := in.RootGB, 0
	if base, err := s.store.Image(ctx, in.ImageID); err == nil {
		for k, v := range base.Properties {
			if !notCopied[k] {
				props[k] = v
			}
		}
		minDisk, minRAM = max(minDisk, base.MinDisk), base.MinRAM
	} else if !errors.Is(err, store.ErrNotFound) {
		return model.Image{}, err
	}
	for k, v := range metadata {
		props[k] = v
	}
	props["image_type"], props["instance_uuid"], props["base_image_ref"] = "snapshot", in.ID, in.ImageID
	props["user_id"] = caller.UserID
	return s.opt.Images.Create(ctx, caller, image.Input{Name: name, DiskFormat: "qcow2", ContainerFormat: "bare",
		Visibility: "private", MinDisk: minDisk, MinRAM: minRAM, Properties: props, Owner: in.ProjectID})
}

// discardFailedSnapshot removes the image of a snapshot whose host failed
// it (Nova deletes it too); an image that did become active stays.
func (s *Service) discardFailedSnapshot(ctx context.Context, ev queue.Event) {
	if ev.Kind != queue.EventFailed || (ev.Job != queue.JobSnapshot && ev.Job != queue.JobShelve) || ev.ImageID == "" ||
		s.opt.Images == nil {
		return
	}
	if err := s.opt.Images.Discard(ctx, ev.ImageID); err != nil {
		s.log.Warn("discard a failed snapshot's image", "image_id", ev.ImageID, "error", err)
	}
}
