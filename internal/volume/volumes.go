package volume

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// Input is a new volume: of a size, empty or a copy of one source.
type Input struct {
	Name, Description string
	SizeGB            int // 0: the source's size
	Type              string
	AZ                string
	SnapshotID        string
	SourceVolID       string
	ImageID           string
	Metadata          map[string]string
}

func validateText(name, desc string, meta map[string]string) error {
	if err := validate.Text("name", name, 255); err != nil {
		return err
	}
	if err := validate.Text("description", desc, 255); err != nil {
		return err
	}
	if len(meta) > 128 {
		return fault.Invalid("metadata", "Too many metadata items (at most 128).")
	}
	for k, v := range meta {
		if k == "" || validate.Text("metadata", k, 255) != nil || validate.Text("metadata", v, 255) != nil {
			return fault.Invalid("metadata", "Invalid metadata: keys and values are 1 to 255 characters.")
		}
	}
	return nil
}

// Create records a new volume (creating) and has a storage host make it.
// A copy of a snapshot or a volume is made where its source lives; any
// other volume goes to the live storage host with the most room. With no
// live storage host the volume is error at once, as Cinder's scheduler
// leaves it.
func (s *Service) Create(ctx context.Context, caller *model.Token, in Input) (model.Volume, error) {
	if err := policy.Check(caller, policy.ChangeVolume, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return model.Volume{}, err
	}
	if err := validateText(in.Name, in.Description, in.Metadata); err != nil {
		return model.Volume{}, err
	}
	sources := 0
	for _, src := range []string{in.SnapshotID, in.SourceVolID, in.ImageID} {
		if src != "" {
			sources++
		}
	}
	if sources > 1 {
		return model.Volume{}, fault.Invalid("", "Invalid input received: only one of snapshot_id, source_volid and imageRef may be given.")
	}
	if in.AZ != "" && in.AZ != "nova" {
		return model.Volume{}, fault.Invalid("availability_zone", "Invalid availability zone: %s", in.AZ)
	}
	v := model.Volume{ID: newID(), ProjectID: caller.ProjectID, UserID: caller.UserID, Name: in.Name,
		Description: in.Description, SizeGB: in.SizeGB, Status: string(Creating), AZ: "nova", Metadata: in.Metadata,
		SnapshotID: in.SnapshotID, SourceVolID: in.SourceVolID, ImageID: in.ImageID}
	call := &queue.VolumeCall{ID: v.ID}
	timeout := quickCall
	var im model.Image
	if in.ImageID != "" {
		var err error
		if s.opt.Images == nil {
			return v, fault.Invalid("imageRef", "This cloud makes no volumes from images.")
		}
		if im, err = s.opt.Images(ctx, caller, in.ImageID); err != nil {
			return v, fault.NotFoundAs(err, fault.Invalid("imageRef", "Invalid image identifier or unable to access requested image."))
		}
		if im.Status != "active" {
			return v, fault.Invalid("imageRef", "Image %s is not active.", im.ID)
		}
		need := 1
		if im.VirtualSize != nil {
			need = int((*im.VirtualSize + 1<<30 - 1) >> 30)
		}
		if im.MinDisk > need {
			need = im.MinDisk
		}
		if v.SizeGB == 0 {
			v.SizeGB = need
		}
		if v.SizeGB < need {
			return v, fault.Invalid("size", "Invalid input received: Size of specified image %d GB is larger than volume size %d GB.", need, v.SizeGB)
		}
		v.Bootable = true
		v.ImageMetadata = map[string]string{"image_id": im.ID, "image_name": im.Name, "disk_format": im.DiskFormat,
			"container_format": im.ContainerFormat, "min_disk": fmt.Sprint(im.MinDisk), "min_ram": fmt.Sprint(im.MinRAM)}
		if im.Size != nil {
			v.ImageMetadata["size"] = fmt.Sprint(*im.Size)
		}
		call.Source = &queue.VolumeSource{Image: queue.NewImageRef(im, s.opt.ImageURL(im.ID))}
		timeout = copyCall
	}
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		typ, err := tx.VolumeType(ctx, typeOrDefault(in.Type))
		if err != nil {
			return fault.NotFoundAs(err, fault.NotFound("Volume type with name %s could not be found.", in.Type))
		}
		if !typ.IsPublic && !policy.Allowed(caller, policy.ManageVolumeTypes, policy.Target{}) {
			return fault.NotFound("Volume type with name %s could not be found.", in.Type)
		}
		v.TypeID, v.TypeName = typ.ID, typ.Name
		switch {
		case in.SnapshotID != "":
			sn, err := tx.LockSnapshot(ctx, in.SnapshotID)
			if err != nil || !policy.Allowed(caller, policy.GetVolume, policy.Target{ProjectID: sn.ProjectID}) {
				return fault.NotFoundAs(store.ErrNotFound, SnapshotNotFound(in.SnapshotID))
			}
			if sn.Status != "available" {
				return fault.Invalid("snapshot_id", "Invalid snapshot: Originating snapshot status must be one of 'available' values")
			}
			src, err := tx.Volume(ctx, sn.VolumeID)
			if err != nil {
				return err
			}
			if v.SizeGB == 0 {
				v.SizeGB = sn.SizeGB
			}
			if v.SizeGB < sn.SizeGB {
				return fault.Invalid("size", "Invalid input received: Volume size '%d'GB cannot be smaller than the snapshot size %dGB. They must be >= original snapshot size.", v.SizeGB, sn.SizeGB)
			}
			v.Host, v.Bootable = src.Host, src.Bootable
			call.Source = &queue.VolumeSource{SnapshotID: sn.ID}
			timeout = copyCall
		case in.SourceVolID != "":
			src, err := changeable(ctx, tx, caller, in.SourceVolID)
			if err != nil {
				return fault.NotFoundAs(err, fault.NotFound("Source volume %s could not be found.", in.SourceVolID))
			}
			if src.Status != string(Available) && src.Status != string(InUse) {
				return fault.Invalid("source_volid", "Invalid volume: Volume %s status must be available or in-use, but it is '%s'.", src.ID, src.Status)
			}
			if v.SizeGB == 0 {
				v.SizeGB = src.SizeGB
			}
			if v.SizeGB < src.SizeGB {
				return fault.Invalid("size", "Invalid input received: Clones currently must be >= original volume size.")
			}
			v.Host, v.Bootable = src.Host, src.Bootable
			call.Source = &queue.VolumeSource{VolumeID: src.ID}
			timeout = copyCall
		}
		if err := validate.Int("size", v.SizeGB, 1, MaxSizeGB); err != nil {
			return fault.Invalid("size", "Invalid input received: Volume size '%d' must be an integer and greater than 0 (at most %d).", v.SizeGB, MaxSizeGB)
		}
		return nil
	})
	if err != nil {
		return v, err
	}
	if v.Host == "" {
		hosts, err := s.storageHosts(ctx)
		if err != nil {
			return v, err
		}
		for _, h := range hosts {
			if h.Storage.FreeGB >= v.SizeGB {
				v.Host = h.Host
				break
			}
		}
	}
	noHost := v.Host == ""
	if noHost {
		v.Status = string(Error)
	}
	// The quota was checked under the project's lock; the insert comes
	// under the same lock so two creates cannot both pass.
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := s.reserve(ctx, tx, caller.ProjectID, v.TypeName, 1, v.SizeGB, 0); err != nil {
			return err
		}
		return tx.CreateVolume(ctx, v)
	})
	if err != nil {
		return v, err
	}
	if noHost {
		s.setStatus(ctx, v.ID, nil, Error, "No valid backend was found: no storage host is up (or none has room).")
	} else {
		call.SizeGB = v.SizeGB
		s.background(ctx, func(ctx context.Context) {
			_, err := s.call(ctx, v.Host, queue.Request{Kind: queue.CallVolumeCreate, Volume: call}, timeout)
			if err != nil {
				s.log.Warn("create a volume", "volume_id", v.ID, "host", v.Host, "error", err)
				s.setStatus(ctx, v.ID, []Status{Creating}, Error, failure("create", err))
				return
			}
			s.setStatus(ctx, v.ID, []Status{Creating}, Available, "")
		})
	}
	return s.store.Volume(ctx, v.ID)
}

func typeOrDefault(t string) string {
	if t == "" {
		return model.DefaultVolumeTypeID
	}
	return t
}

// failure is what a project is told of a failed operation: the host's
// words stay in the log.
func failure(op string, err error) string {
	if errors.Is(err, queue.ErrNoReply) {
		return fmt.Sprintf("The storage host went away, or did not answer in time, during the %s.", op)
	}
	return fmt.Sprintf("The storage host could not %s the volume.", op)
}

// reserve checks that a project may add volumes, gigabytes and snapshots
// of type typ, with the project locked in tx.
func (s *Service) reserve(ctx context.Context, tx *store.Store, project, typ string, volumes, gigabytes, snapshots int) error {
	if err := tx.LockProject(ctx, project); err != nil {
		return err
	}
	limits, err := tx.QuotaLimits(ctx, project)
	if err != nil {
		return err
	}
	u, err := tx.CountVolumeUsage(ctx, project)
	if err != nil {
		return err
	}
	if max, ok := limits["per_volume_gigabytes"]; ok && max >= 0 && volumes > 0 && gigabytes > max {
		return &fault.OverQuota{Resource: "per_volume_gigabytes", Limit: max, Requested: gigabytes}
	}
	tu := u.ByType[typ]
	for _, c := range []struct {
		resource    string
		used, asked int
	}{
		{"volumes", u.Volumes, volumes}, {"gigabytes", u.Gigabytes, gigabytes}, {"snapshots", u.Snapshots, snapshots},
		{"volumes_" + typ, tu.Volumes, volumes}, {"gigabytes_" + typ, tu.Gigabytes, gigabytes}, {"snapshots_" + typ, tu.Snapshots, snapshots},
	} {
		limit, ok := limits[c.resource]
		if c.asked == 0 || !ok || limit < 0 {
			continue
		}
		if c.used+c.asked > limit {
			return &fault.OverQuota{Resource: c.resource, Limit: limit, Used: c.used, Requested: c.asked}
		}
	}
	return nil
}

// Delete removes a volume: refused while attached, with snapshots or in
// an operation (Cinder's 400).
func (s *Service) Delete(ctx context.Context, caller *model.Token, id string) error {
	var v model.Volume
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if v, err = changeable(ctx, tx, caller, id); err != nil {
			return err
		}
		if _, err := check(v, Ask{Op: OpDelete}); err != nil {
			return err
		}
		_, err = tx.SetVolumeStatus(ctx, id, nil, string(Deleting), "")
		return err
	})
	if err != nil {
		return err
	}
	s.background(ctx, func(ctx context.Context) { s.finishDelete(ctx, v) })
	return nil
}

// finishDelete has the volume's host remove its data, then the row.
func (s *Service) finishDelete(ctx context.Context, v model.Volume) {
	if v.Host != "" {
		if _, err := s.call(ctx, v.Host, queue.Request{Kind: queue.CallVolumeDelete, Volume: &queue.VolumeCall{ID: v.ID}}, quickCall); err != nil {
			s.log.Warn("delete a volume", "volume_id", v.ID, "host", v.Host, "error", err)
			s.setStatus(ctx, v.ID, []Status{Deleting}, ErrorDeleting, failure("delete", err))
			return
		}
	}
	if err := s.store.DeleteVolume(ctx, v.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("forget a deleted volume", "volume_id", v.ID, "error", err)
		return
	}
}

// Extend grows a volume that is available (an attached one: not yet,
// see docs/volumes.md).
func (s *Service) Extend(ctx context.Context, caller *model.Token, id string, newSize int, inUseOK bool) error {
	var v model.Volume
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if v, err = changeable(ctx, tx, caller, id); err != nil {
			return err
		}
		if err := validate.Int("new_size", newSize, 1, MaxSizeGB); err != nil {
			return fault.Invalid("new_size", "Invalid input received: new_size must be an integer from 1 to %d.", MaxSizeGB)
		}
		if _, err := check(v, Ask{Op: OpExtend, NewSizeGB: newSize, ExtendInUse: inUseOK}); err != nil {
			return err
		}
		if v.Status == string(InUse) {
			return &Refusal{Message: "Invalid volume: extending an attached volume is not supported by this cloud yet; detach it first."}
		}
		if err := s.reserve(ctx, tx, v.ProjectID, v.TypeName, 0, newSize-v.SizeGB, 0); err != nil {
			return err
		}
		return tx.StartExtend(ctx, id, newSize)
	})
	if err != nil {
		return err
	}
	s.background(ctx, func(ctx context.Context) {
		_, err := s.call(ctx, v.Host, queue.Request{Kind: queue.CallVolumeExtend, Volume: &queue.VolumeCall{ID: v.ID, SizeGB: newSize}}, quickCall)
		if err != nil {
			s.log.Warn("extend a volume", "volume_id", v.ID, "host", v.Host, "error", err)
			s.setStatus(ctx, v.ID, []Status{Extending}, ErrorExtend, failure("extend", err))
			return
		}
		if ok, err := s.store.FinishExtend(ctx, v.ID, v.Status); err != nil {
			s.log.Error("record an extend", "volume_id", v.ID, "error", err)
		} else if ok {
		}
	})
	return nil
}

// ResetStatus sets a volume's status by hand (admins; Cinder's
// os-reset_status), for one an operation left in error.
func (s *Service) ResetStatus(ctx context.Context, caller *model.Token, id, status string) error {
	if err := policy.Check(caller, policy.ListAllVolumes, policy.Target{}); err != nil {
		return err
	}
	switch Status(status) {
	case Available, InUse, Error, ErrorDeleting, ErrorExtend:
	default:
		return fault.Invalid("status", "Invalid input received: status must be one of available, in-use, error, error_deleting, error_extending.")
	}
	if _, err := s.Get(ctx, caller, id); err != nil {
		return err
	}
	s.setStatus(ctx, id, nil, Status(status), "")
	return nil
}

// isBool parses Cinder's boolean words.
func isBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on", "t", "y":
		return true, true
	case "false", "0", "no", "off", "f", "n":
		return false, true
	}
	return false, false
}

// ParseBool is Cinder's reading of a boolean given as a string or not.
func ParseBool(v string) (bool, error) {
	b, ok := isBool(v)
	if !ok {
		return false, fault.Invalid("", "Invalid input received: '%s' is not a boolean.", v)
	}
	return b, nil
}
