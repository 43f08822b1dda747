package agent

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/diskimage"
	"github.com/nimbus-cloud/nimbus/internal/failpoint"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// A resize or cold migration, on each host (the controller's side is
// internal/compute/resize.go). The source parks the instance: its guest
// powered off, its domain undefined and its directory moved aside to
// parked/<id>, so the destination may define the same domain name, even
// on the same libvirtd (two agents on one host, or a resize to the same
// host); then it sends a flattened copy of the disk to the relay. The
// destination fetches the copy, checks its SHA-512, grows it to the new
// flavor and defines and starts the domain. Confirm removes the parked
// directory; revert removes the destination's domain, then the source
// takes its parked directory back and defines its old domain again. Each
// step done again finds its work done and reports it.

func (a *Agent) parkedDir(id string) string { return filepath.Join(a.cfg.StateDir, "parked", id) }

// resizeOut parks the instance and sends its disk out. If the disk cannot
// be sent, the instance is unparked and started again as it was, and the
// failure reported: the controller then leaves it on this host.
func (a *Agent) resizeOut(ctx context.Context, log *slog.Logger, j queue.Job) (_ queue.Event, err error) {
	if j.Move == nil || j.Move.PutURL == "" || hypervisor.ValidateInstanceID(j.Move.Migration) != nil {
		return queue.Event{}, fmt.Errorf("resize_out job without its move: %w", queue.ErrPoison)
	}
	if err := a.park(ctx, j.InstanceID); err != nil {
		return queue.Event{}, err
	}
	failpoint.Hit("agent.resize.parked")
	defer func() {
		if err == nil || ctx.Err() != nil {
			return
		}
		if _, uerr := a.unpark(context.WithoutCancel(ctx), j); uerr != nil {
			log.Warn("start the instance again after a failed resize", "error", uerr)
		}
	}()
	sum, size, err := a.sendDisk(ctx, j)
	if err != nil {
		return queue.Event{}, err
	}
	log.Info("disk sent for a move", "migration", j.Move.Migration, "bytes", size)
	return queue.Event{Kind: queue.EventDone, Power: hypervisor.Shutoff, SHA512: sum, Size: size}, nil
}

// park powers the guest off, undefines its domain and moves its directory
// to parked/<id>; parked already, it does nothing.
func (a *Agent) park(ctx context.Context, id string) error {
	parked := a.parkedDir(id)
	if _, err := os.Stat(parked); err == nil {
		return nil
	}
	if st, err := a.drv.Get(ctx, id); err == nil {
		if st.State != hypervisor.Shutoff && st.State != hypervisor.Crashed {
			if err := a.powerOff(ctx, id); err != nil {
				return err
			}
		}
		if err := a.drv.Undefine(ctx, id); err != nil {
			return err
		}
	} else if !errors.Is(err, hypervisor.ErrNotFound) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(parked), 0o700); err != nil {
		return err
	}
	if a.info.DomainType == "test" {
		return os.MkdirAll(parked, 0o700) // no files: the mark that it is parked
	}
	return os.Rename(a.instanceDir(id), parked)
}

// sendDisk writes a flattened qcow2 copy of the parked disk beside it
// and PUTs it to the relay with its SHA-512, then removes the copy.
func (a *Agent) sendDisk(ctx context.Context, j queue.Job) (string, int64, error) {
	parked := a.parkedDir(j.InstanceID)
	out := filepath.Join(parked, "move.qcow2")
	defer os.Remove(out)
	if a.info.DomainType == "test" {
		// libvirt's test driver has no disk: a small one with data in it
		// (larger than a request body may be but for uploads) stands for
		// it, so the relay is still exercised whole.
		if err := standInDisk(ctx, out); err != nil {
			return "", 0, err
		}
	} else if err := qemuImg(ctx, "convert", "-f", "qcow2", "-O", "qcow2", filepath.Join(parked, "disk"), out); err != nil {
		return "", 0, err
	}
	sum, err := fileSHA512(out)
	if err != nil {
		return "", 0, err
	}
	failpoint.Hit("agent.resize.copied")
	n, err := a.upload(ctx, j.Move.PutURL, out, map[string]string{"X-Nimbus-SHA512": sum})
	return sum, n, err
}

// standInDisk writes a qcow2 holding 3 MiB of data at path.
func standInDisk(ctx context.Context, path string) error {
	raw := path + ".raw"
	defer os.Remove(raw)
	if err := os.WriteFile(raw, bytes.Repeat([]byte("nimbus-move "), 3<<20/12), 0o600); err != nil {
		return err
	}
	return qemuImg(ctx, "convert", "-f", "raw", "-O", "qcow2", raw, path)
}

func fileSHA512(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// resizeIn fetches the moved disk, checks it, grows it to the new flavor
// and defines and starts the domain (left off with KeepOff). A failure
// removes what it made; the controller then has the source start its own
// copy again.
func (a *Agent) resizeIn(ctx context.Context, log *slog.Logger, j queue.Job) (_ queue.Event, err error) {
	id := j.InstanceID
	if j.Move == nil || j.Move.GetURL == "" || j.Move.SHA512 == "" || j.Build == nil {
		return queue.Event{}, fmt.Errorf("resize_in job without its move: %w", queue.ErrPoison)
	}
	if st, err := a.drv.Get(ctx, id); err == nil && a.owns(id) {
		return a.startAsAsked(ctx, id, st.State, j.KeepOff) // done before
	}
	defer func() {
		if err == nil || ctx.Err() != nil {
			return
		}
		if derr := a.discard(context.WithoutCancel(ctx), id); derr != nil {
			log.Warn("remove what a failed resize made", "error", derr)
		}
	}()
	if err := a.receiveDisk(ctx, j); err != nil {
		return queue.Event{}, err
	}
	failpoint.Hit("agent.resize.received")
	spec, err := a.instanceSpec(ctx, j, false)
	if err != nil {
		return queue.Event{}, err
	}
	if err := a.drv.Define(ctx, spec); err != nil {
		return queue.Event{}, err
	}
	if !j.KeepOff {
		if err := a.drv.Start(ctx, id); err != nil {
			return queue.Event{}, err
		}
	}
	return a.done(ctx, id)
}

// receiveDisk fetches the moved disk into the instance's directory (a
// scratch file for the test driver), checks its SHA-512 and that it is a
// plain qcow2 (no backing file), and grows it to the flavor's root disk.
func (a *Agent) receiveDisk(ctx context.Context, j queue.Job) error {
	acc := qemuAccess()
	dir, err := a.makeInstanceDir(acc, j.InstanceID)
	if err != nil {
		return err
	}
	disk := filepath.Join(dir, "disk")
	ref := &queue.ImageRef{ID: j.Move.Migration, URL: j.Move.GetURL, SHA512: j.Move.SHA512, DiskFormat: "qcow2"}
	if err := a.fetch(ctx, dir, disk, ref); err != nil {
		return err
	}
	info, err := diskimage.Inspect(ctx, disk, "qcow2")
	if err != nil {
		return fmt.Errorf("the moved disk: %w: %w", err, errPermanent)
	}
	if a.info.DomainType == "test" {
		return os.RemoveAll(dir) // checked; the test driver boots no disk
	}
	if root := int64(j.Move.RootGB) << 30; root > info.VirtualSize {
		if err := qemuImg(ctx, "resize", "-q", "-f", "qcow2", disk, strconv.Itoa(j.Move.RootGB)+"G"); err != nil {
			return err
		}
	}
	return acc.file(disk)
}

// confirmMove removes the parked copy: the instance stays where it moved.
func (a *Agent) confirmMove(j queue.Job) (queue.Event, error) {
	if err := os.RemoveAll(a.parkedDir(j.InstanceID)); err != nil {
		return queue.Event{}, err
	}
	return queue.Event{Kind: queue.EventDone}, nil
}

// unpark takes the parked directory back (a copy this host received for
// the same move goes first), defines the domain from the job's build spec
// (the old flavor) and starts it unless KeepOff. Unparked already, it
// only starts the domain as asked and reports it.
func (a *Agent) unpark(ctx context.Context, j queue.Job) (queue.Event, error) {
	id := j.InstanceID
	parked := a.parkedDir(id)
	if _, err := os.Stat(parked); err == nil {
		if a.info.DomainType == "test" {
			if err := os.Remove(parked); err != nil {
				return queue.Event{}, err
			}
		} else {
			if err := os.RemoveAll(a.instanceDir(id)); err != nil {
				return queue.Event{}, err
			}
			if err := os.Rename(parked, a.instanceDir(id)); err != nil {
				return queue.Event{}, err
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return queue.Event{}, err
	}
	if _, err := a.drv.Get(ctx, id); errors.Is(err, hypervisor.ErrNotFound) {
		spec, err := a.instanceSpec(ctx, j, false)
		if err != nil {
			return queue.Event{}, err
		}
		if err := a.drv.Define(ctx, spec); err != nil {
			return queue.Event{}, err
		}
	} else if err != nil {
		return queue.Event{}, err
	}
	st, err := a.drv.Get(ctx, id)
	if err != nil {
		return queue.Event{}, err
	}
	return a.startAsAsked(ctx, id, st.State, j.KeepOff)
}
