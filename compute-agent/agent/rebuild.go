package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// rebuild replaces an instance's domain and disk with a fresh build of the
// job's image: the old disk, config drive and serial log go first, so
// nothing of the old system survives. A stopped instance's domain is
// defined and left off (KeepOff).
func (a *Agent) rebuild(ctx context.Context, log *slog.Logger, j queue.Job) (queue.Event, error) {
	if err := a.discard(ctx, j.InstanceID); err != nil {
		return queue.Event{}, err
	}
	return a.build(ctx, log, j)
}

// discard removes an instance's domain and files, if any. A domain of
// that name this agent does not own (its directory is not here) is left
// alone: on a libvirtd two agents share, it is the other's (the
// destination's copy of an instance this host parked).
func (a *Agent) discard(ctx context.Context, id string) error {
	if !a.owns(id) {
		return nil
	}
	if err := a.drv.Destroy(ctx, id); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
		return err
	}
	if err := a.drv.Undefine(ctx, id); err != nil {
		return err
	}
	if err := os.RemoveAll(a.instanceDir(id)); err != nil {
		return fmt.Errorf("remove instance files: %w", err)
	}
	return nil
}

// rescueDisk is the rescue system's disk in the instance's directory.
const rescueDisk = "disk.rescue"

// rescue boots the instance from a fresh disk of the rescue image, its
// own disk attached second (vdb), and the config drive (with the rescue
// system's administrator password) as before. Done again, it starts over
// from a fresh rescue disk.
func (a *Agent) rescue(ctx context.Context, log *slog.Logger, j queue.Job) (queue.Event, error) {
	if j.Rescue == nil || j.Rescue.Image == nil {
		return queue.Event{}, fmt.Errorf("rescue job without its image: %w", queue.ErrPoison)
	}
	spec, err := a.instanceSpec(ctx, j, false)
	if err != nil {
		return queue.Event{}, err
	}
	if spec.DiskPath != "" {
		disk, err := a.rootDisk(ctx, qemuAccess(), a.instanceDir(j.InstanceID), j.Rescue.Image, rescueDisk, 0)
		if err != nil {
			return queue.Event{}, err
		}
		spec.DiskPath, spec.SecondDisk = disk, spec.DiskPath
	}
	log.Info("booting the rescue system", "image_id", j.Rescue.Image.ID)
	return a.redefine(ctx, spec)
}

// unrescue boots the instance from its own disk again and removes the
// rescue disk.
func (a *Agent) unrescue(ctx context.Context, j queue.Job) (queue.Event, error) {
	spec, err := a.instanceSpec(ctx, j, false)
	if err != nil {
		return queue.Event{}, err
	}
	ev, err := a.redefine(ctx, spec)
	if err != nil {
		return ev, err
	}
	if err := os.Remove(filepath.Join(a.instanceDir(j.InstanceID), rescueDisk)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return queue.Event{}, err
	}
	return ev, nil
}

// redefine powers a domain off, gives it spec and starts it.
func (a *Agent) redefine(ctx context.Context, spec hypervisor.Spec) (queue.Event, error) {
	if err := a.drv.Destroy(ctx, spec.InstanceID); err != nil {
		return queue.Event{}, err
	}
	if err := a.drv.Define(ctx, spec); err != nil {
		return queue.Event{}, err
	}
	if err := a.drv.Start(ctx, spec.InstanceID); err != nil {
		return queue.Event{}, err
	}
	return a.done(ctx, spec.InstanceID)
}
