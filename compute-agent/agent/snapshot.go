package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/failpoint"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// snapshot copies an instance's root disk into its snapshot image. The
// copy is a whole qcow2 (the overlay and its base image flattened), made
// in the state directory and streamed to the image service from there, so
// neither this agent nor the controller holds it in memory. Each step is
// reported (the instance's task follows: image_pending_upload, then
// image_uploading). Done again after a restart, it starts over: the image
// service takes a second upload while the first one's image is saving.
func (a *Agent) snapshot(ctx context.Context, log *slog.Logger, j queue.Job) (queue.Event, error) {
	if j.Snapshot == nil || j.Snapshot.ImageID == "" || hypervisor.ValidateInstanceID(j.Snapshot.ImageID) != nil {
		return queue.Event{}, fmt.Errorf("snapshot job without its image: %w", queue.ErrPoison)
	}
	id := j.InstanceID
	if _, err := a.drv.Get(ctx, id); err != nil {
		return queue.Event{}, err
	}
	dir := filepath.Join(a.cfg.StateDir, "snapshots")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return queue.Event{}, err
	}
	tmp := filepath.Join(dir, j.Snapshot.ImageID+".qcow2")
	defer os.Remove(tmp)
	t0 := time.Now()
	if a.info.DomainType == "test" {
		// libvirt's test driver has no disk: the snapshot is an empty
		// disk of the instance's size, as honest a copy as there is.
		if err := qemuImg(ctx, "create", "-q", "-f", "qcow2", tmp, strconv.Itoa(max(j.Snapshot.RootGB, 1))+"G"); err != nil {
			return queue.Event{}, err
		}
	} else if err := a.copyDisk(ctx, id, tmp); err != nil {
		return queue.Event{}, err
	}
	log.Info("disk copied for a snapshot", "image_id", j.Snapshot.ImageID, "seconds", time.Since(t0).Seconds())
	a.progress(ctx, j) // image_pending_upload
	failpoint.Hit("agent.snapshot.copied")
	a.progress(ctx, j) // image_uploading
	t1 := time.Now()
	n, err := a.upload(ctx, j.Snapshot.UploadURL, tmp, nil)
	if err != nil {
		return queue.Event{}, err
	}
	log.Info("snapshot sent", "image_id", j.Snapshot.ImageID, "bytes", n, "seconds", time.Since(t1).Seconds())
	ev, err := a.done(ctx, id)
	ev.ImageID = j.Snapshot.ImageID
	return ev, err
}

// progress reports that a job reached its next step.
func (a *Agent) progress(ctx context.Context, j queue.Job) {
	_ = a.emit(ctx, queue.Event{Kind: queue.EventProgress, Job: j.Kind, InstanceID: j.InstanceID, RequestID: j.RequestID,
		ActionID: j.ActionID})
}

// copyDisk writes a flattened qcow2 copy of the instance's root disk to
// dst. A running guest is paused for the copy: pausing makes QEMU finish
// and flush its writes, so the file holds what a power cut would leave,
// and nothing changes under qemu-img. A marker file remembers the pause,
// so that if this agent dies mid-copy the job, done again, unpauses it.
func (a *Agent) copyDisk(ctx context.Context, id, dst string) error {
	st, err := a.drv.Get(ctx, id)
	if err != nil {
		return err
	}
	marker := filepath.Join(a.instanceDir(id), "snapshot-paused")
	_, statErr := os.Stat(marker)
	pausedByUs := statErr == nil
	if st.State == hypervisor.Running {
		if err := os.WriteFile(marker, nil, 0o600); err != nil {
			return err
		}
		if err := a.drv.Pause(ctx, id); err != nil {
			os.Remove(marker)
			return err
		}
		pausedByUs = true
	}
	if pausedByUs {
		defer func() {
			c := context.WithoutCancel(ctx)
			if err := a.drv.Unpause(c, id); err != nil {
				a.log.Warn("unpause after a snapshot", "instance_id", id, "error", err)
				return
			}
			os.Remove(marker)
		}()
	}
	failpoint.Hit("agent.snapshot.paused")
	// -U: QEMU keeps its lock on the disk while the guest is paused; the
	// pause is what makes reading it safe.
	return qemuImg(ctx, "convert", "-U", "-f", "qcow2", "-O", "qcow2", filepath.Join(a.instanceDir(id), "disk"), dst)
}

// upload sends a file in one streamed PUT, with header.
func (a *Agent) upload(ctx context.Context, url, path string, header map[string]string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, f)
	if err != nil {
		return 0, err
	}
	req.ContentLength = fi.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := a.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusNoContent && res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		err := fmt.Errorf("upload: %s: %s", res.Status, msg)
		if res.StatusCode == http.StatusBadRequest || res.StatusCode == http.StatusForbidden {
			err = errors.Join(err, errPermanent)
		}
		return 0, err
	}
	return fi.Size(), nil
}

// qemuImg runs qemu-img, returning its output with a failure.
func qemuImg(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, "qemu-img", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img %s: %w: %s", args[0], err, out)
	}
	return nil
}
