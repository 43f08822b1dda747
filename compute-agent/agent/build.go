package agent

import (
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
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
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// build creates and starts an instance's domain: image into the local
// cache (checksums verified), a qcow2 overlay on it, the domain definition,
// then power on. Each step is reported as it starts. A domain that already
// exists (a redelivered job) is only started and reported.
func (a *Agent) build(ctx context.Context, log *slog.Logger, j queue.Job) (queue.Event, error) {
	id := j.InstanceID
	if st, err := a.drv.Get(ctx, id); err == nil {
		if st.State != hypervisor.Running {
			if err := a.drv.Start(ctx, id); err != nil {
				return queue.Event{}, err
			}
		}
		return a.spawned(ctx, id)
	} else if !errors.Is(err, hypervisor.ErrNotFound) {
		return queue.Event{}, err
	}
	if j.Build == nil {
		return queue.Event{}, fmt.Errorf("build job without a build spec: %w", queue.ErrPoison)
	}
	spec := hypervisor.Spec{InstanceID: id, VCPUs: j.Build.VCPUs, MemoryMB: j.Build.MemoryMB, VNCListen: a.cfg.VNCListen}
	if a.info.DomainType != "test" {
		// Real hypervisors need a disk; libvirt's test driver boots nothing.
		dir := a.instanceDir(id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return queue.Event{}, err
		}
		_ = a.emit(ctx, queue.Event{Kind: queue.EventStarted, Step: "compute_prepare_image", InstanceID: id, ActionID: j.ActionID})
		base, err := a.cachedImage(ctx, j.Build.Image)
		if err != nil {
			return queue.Event{}, err
		}
		disk := filepath.Join(dir, "disk")
		if err := overlay(ctx, base, j.Build.Image.DiskFormat, disk, j.Build.RootGB); err != nil {
			return queue.Event{}, err
		}
		spec.DiskPath, spec.DiskFormat = disk, "qcow2"
		spec.SerialLog = filepath.Join(dir, "console.log")
		if iso, err := a.configDrive(ctx, dir, j); err != nil {
			return queue.Event{}, err
		} else if iso != "" {
			spec.ConfigDrive = iso
		}
	}
	t0 := time.Now()
	if err := a.drv.Define(ctx, spec); err != nil {
		return queue.Event{}, err
	}
	t1 := time.Now()
	log.Info("domain defined", "seconds", t1.Sub(t0).Seconds())
	defer func() { log.Info("domain started", "seconds", time.Since(t1).Seconds()) }()
	if err := a.drv.Start(ctx, id); err != nil {
		// Leave nothing half-made behind: the controller may place the
		// instance elsewhere.
		_ = a.drv.Undefine(context.WithoutCancel(ctx), id)
		return queue.Event{}, err
	}
	return a.spawned(ctx, id)
}

func (a *Agent) spawned(ctx context.Context, id string) (queue.Event, error) {
	st, err := a.drv.Get(ctx, id)
	if err != nil {
		return queue.Event{}, err
	}
	return queue.Event{Kind: queue.EventSpawned, Power: string(st.State), VNCPort: st.VNCPort}, nil
}

// cachedImage returns the path of the image in the local cache, fetching
// and verifying it once. Concurrent builds of one image wait for one fetch.
func (a *Agent) cachedImage(ctx context.Context, im *queue.ImageRef) (string, error) {
	if im == nil || im.URL == "" {
		return "", errors.New("build job has no image to fetch")
	}
	if hypervisor.ValidateInstanceID(im.ID) != nil {
		return "", fmt.Errorf("image id %q is not a UUID", im.ID)
	}
	a.images.Lock()
	defer a.images.Unlock()
	dir := filepath.Join(a.cfg.StateDir, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, im.ID)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, im.URL, nil)
	if err != nil {
		return "", err
	}
	res, err := a.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch image %s: %w", im.ID, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch image %s: status %d", im.ID, res.StatusCode)
	}
	tmp, err := os.CreateTemp(dir, ".fetch-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	m5, s512 := md5.New(), sha512.New()
	if _, err := io.Copy(io.MultiWriter(tmp, m5, s512), res.Body); err != nil {
		tmp.Close()
		return "", fmt.Errorf("fetch image %s: %w", im.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if got := hex.EncodeToString(m5.Sum(nil)); im.Checksum != "" && got != im.Checksum {
		return "", fmt.Errorf("image %s checksum %s, want %s", im.ID, got, im.Checksum)
	}
	if got := hex.EncodeToString(s512.Sum(nil)); im.SHA512 != "" && got != im.SHA512 {
		return "", fmt.Errorf("image %s sha512 mismatch", im.ID)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

// overlay makes a qcow2 overlay of base at path, grown to rootGB if set.
func overlay(ctx context.Context, base, format, path string, rootGB int) error {
	if format == "" || format == "iso" {
		format = "raw"
	}
	args := []string{"create", "-f", "qcow2", "-F", format, "-b", base, path}
	if rootGB > 0 {
		args = append(args, strconv.Itoa(rootGB)+"G")
	}
	if out, err := exec.CommandContext(ctx, "qemu-img", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img create: %w: %s", err, out)
	}
	return os.Chmod(path, 0o644)
}
