package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
	"github.com/nimbus-cloud/nimbus/compute-agent/storage"
	"github.com/nimbus-cloud/nimbus/internal/failpoint"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// Volumes (docs/volumes.md): a storage host keeps them in its pool
// (Config.Storage) and serves them to other hosts' guests over NBD; a
// compute host gives them to its domains, as a file when the volume is
// in its own pool, through a relay otherwise. Every call is idempotent:
// the controller asks again when a reply was lost.

// relays are this host's NBD clients of volumes kept elsewhere.
func (a *Agent) relays() storage.Relays {
	return storage.Relays{Dir: filepath.Join(a.cfg.StateDir, "relays")}
}

// restoreVolumes starts again the exports and relays a host restart
// stopped, so guests find their volumes where they left them.
func (a *Agent) restoreVolumes(ctx context.Context) {
	if a.cfg.Storage != nil {
		if err := a.cfg.Storage.RestoreExports(ctx); err != nil {
			a.log.Warn("restore the volume exports", "error", err)
		}
	}
	if err := a.relays().Restore(ctx); err != nil {
		a.log.Warn("restore the volume relays", "error", err)
	}
}

// answerVolume handles the volume calls.
func (a *Agent) answerVolume(ctx context.Context, req queue.Request) queue.Reply {
	var err error
	var rep queue.Reply
	switch req.Kind {
	case queue.CallAttachVolume, queue.CallDetachVolume:
		err = a.changeVolume(ctx, req)
	default:
		rep, err = a.storageCall(ctx, req)
	}
	if err != nil {
		a.log.Warn("volume call", "call", req.Kind, "instance_id", req.InstanceID, "error", err)
		return queue.Reply{Error: err.Error()}
	}
	return rep
}

// storageCall is one of the storage host's calls.
func (a *Agent) storageCall(ctx context.Context, req queue.Request) (queue.Reply, error) {
	l, v := a.cfg.Storage, req.Volume
	if l == nil {
		return queue.Reply{}, errors.New("this host keeps no volumes")
	}
	if v == nil {
		return queue.Reply{}, errors.New("no volume in the call")
	}
	defer a.lock("volume:" + v.ID)()
	switch req.Kind {
	case queue.CallVolumeCreate:
		return queue.Reply{}, a.createVolume(ctx, *v)
	case queue.CallVolumeDelete:
		// Its exports go first: nobody keeps reading a deleted volume.
		if v.Export != nil {
			if err := l.Unexport(v.Export.Name); err != nil {
				return queue.Reply{}, err
			}
		}
		return queue.Reply{}, l.Delete(ctx, v.ID)
	case queue.CallVolumeExtend:
		return queue.Reply{}, l.Extend(ctx, v.ID, v.SizeGB)
	case queue.CallSnapshotCreate:
		return queue.Reply{}, l.Snapshot(ctx, v.ID, v.SnapshotID)
	case queue.CallSnapshotDelete:
		return queue.Reply{}, l.DeleteSnapshot(v.SnapshotID)
	case queue.CallVolumeExport:
		if v.Export == nil {
			return queue.Reply{}, errors.New("no export in the call")
		}
		port, err := l.Export(ctx, v.ID, storage.Remote(*v.Export))
		return queue.Reply{Port: port}, err
	case queue.CallVolumeUnexport:
		if v.Export == nil {
			return queue.Reply{}, errors.New("no export in the call")
		}
		return queue.Reply{}, l.Unexport(v.Export.Name)
	}
	return queue.Reply{}, fmt.Errorf("unknown call %s", req.Kind)
}

// createVolume makes a volume, empty or a copy of its source.
func (a *Agent) createVolume(ctx context.Context, v queue.VolumeCall) error {
	l, src := a.cfg.Storage, v.Source
	switch {
	case src == nil:
		return l.Create(ctx, v.ID, v.SizeGB)
	case src.SnapshotID != "":
		p, err := l.SnapshotPath(src.SnapshotID)
		if err != nil {
			return err
		}
		return l.CreateFrom(ctx, v.ID, v.SizeGB, p, "qcow2")
	case src.VolumeID != "":
		p, err := l.Path(src.VolumeID)
		if err != nil {
			return err
		}
		return l.CreateFrom(ctx, v.ID, v.SizeGB, p, "qcow2")
	case src.Image != nil:
		// The image cache is the builds' own: fetched and checked once,
		// inspected against its declared format on every use.
		p, info, err := a.cachedImage(ctx, qemuAccess(), src.Image)
		if err != nil {
			return err
		}
		failpoint.Hit("agent.volume.image_fetched")
		if info.VirtualSize > int64(v.SizeGB)<<30 {
			return fmt.Errorf("image %s of %d bytes does not fit a volume of %d GB", src.Image.ID, info.VirtualSize, v.SizeGB)
		}
		return l.CreateFrom(ctx, v.ID, v.SizeGB, p, info.Format)
	}
	return errors.New("a volume source names nothing")
}

// changeVolume gives an instance's domain a volume's disk or takes it away.
func (a *Agent) changeVolume(ctx context.Context, req queue.Request) error {
	d := req.Disk
	if d == nil {
		return errors.New("no disk in the call")
	}
	defer a.lock(req.InstanceID)()
	att, ok := a.drv.(hypervisor.VolumeAttacher)
	if !ok {
		return errors.New("this hypervisor cannot attach volumes")
	}
	if req.Kind == queue.CallDetachVolume {
		// A domain that is gone (its instance deleted) has let go.
		if err := att.DetachVolume(ctx, req.InstanceID, d.Device); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
			return err
		}
		// Only once the guest let the disk go does its relay stop.
		if d.Remote != nil {
			return a.relays().Close(d.AttachmentID)
		}
		return nil
	}
	hv, err := a.volumeDisk(ctx, *d)
	if err != nil {
		return err
	}
	failpoint.Hit("agent.volume.attaching")
	if err := att.AttachVolume(ctx, req.InstanceID, hv); err != nil {
		if d.Remote != nil {
			_ = a.relays().Close(d.AttachmentID)
		}
		return err
	}
	return nil
}

// volumeDisk is where this host reads a volume: its own pool's file, or
// a relay to the host that keeps it (started here, readable by QEMU).
func (a *Agent) volumeDisk(ctx context.Context, d queue.VolumeDisk) (hypervisor.Volume, error) {
	v := hypervisor.Volume{Device: d.Device, Serial: d.VolumeID}
	if d.Remote == nil {
		if a.cfg.Storage == nil {
			return v, errors.New("the volume is said to be on this host, which keeps no volumes")
		}
		p, err := a.cfg.Storage.Path(d.VolumeID)
		v.File = p
		return v, err
	}
	rs := a.relays()
	acc := qemuAccess()
	if err := acc.mkdir(rs.Dir); err != nil {
		return v, err
	}
	sock, err := rs.Open(ctx, d.AttachmentID, storage.Remote(*d.Remote))
	if err != nil {
		return v, err
	}
	// QEMU runs as its own user: it must reach and open the socket.
	if err := acc.apply(filepath.Dir(sock), 0o750, 0o700); err != nil {
		return v, err
	}
	if err := acc.apply(sock, 0o660, 0o600); err != nil {
		return v, err
	}
	v.Socket = sock
	return v, nil
}
