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
	"path/filepath"
	"strconv"
	"time"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/diskimage"
	"github.com/nimbus-cloud/nimbus/internal/failpoint"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// errPermanent marks a build failure no other host would fix: the image
// itself is refused, or the flavor's disk cannot hold it. The controller
// does not reschedule such a build.
var errPermanent = errors.New("not retryable")

// build creates and starts an instance's domain: image into the local
// cache (checksums verified), inspected again before every use, a qcow2
// overlay on it, the domain definition, then power on. Each step is
// reported as it starts. A domain that already exists (a redelivered job)
// is only started and reported.
func (a *Agent) build(ctx context.Context, log *slog.Logger, j queue.Job) (_ queue.Event, err error) {
	id := j.InstanceID
	if st, err := a.drv.Get(ctx, id); err == nil {
		return a.startAsAsked(ctx, id, st.State, j.KeepOff)
	} else if !errors.Is(err, hypervisor.ErrNotFound) {
		return queue.Event{}, err
	}
	// From here the build makes things on this host. A failed build takes
	// them away again: the controller may place the instance elsewhere,
	// and a host must not keep the disks of every build tried on it. A
	// build cut short by the agent's shutdown keeps them for its
	// redelivery.
	defer func() {
		if err == nil || ctx.Err() != nil {
			return
		}
		c := context.WithoutCancel(ctx)
		_ = a.drv.Destroy(c, id)
		_ = a.drv.Undefine(c, id)
		if rerr := os.RemoveAll(a.instanceDir(id)); rerr != nil {
			log.Warn("remove the files of a failed build", "error", rerr)
		}
	}()
	sctx, endSteps := a.withSteps(ctx, j)
	defer endSteps()
	spec, err := a.instanceSpec(sctx, j, true)
	if err != nil {
		return queue.Event{}, err
	}
	step(sctx, model.StepStarting, 0)
	t0 := time.Now()
	if err := a.drv.Define(ctx, spec); err != nil {
		return queue.Event{}, err
	}
	failpoint.Hit("agent.build.defined")
	t1 := time.Now()
	log.Info("domain defined", "seconds", t1.Sub(t0).Seconds())
	if j.KeepOff {
		endSteps()
		return a.done(ctx, id) // a rebuild of a stopped instance
	}
	defer func() { log.Info("domain started", "seconds", time.Since(t1).Seconds()) }()
	if err := a.drv.Start(ctx, id); err != nil {
		return queue.Event{}, err
	}
	failpoint.Hit("agent.build.started")
	endSteps() // before the done event: no held step after it
	return a.done(ctx, id)
}

// startAsAsked starts a domain that exists already (a job done again)
// unless it runs or is to stay off, and reports it.
func (a *Agent) startAsAsked(ctx context.Context, id string, state hypervisor.PowerState, keepOff bool) (queue.Event, error) {
	if state != hypervisor.Running && !keepOff {
		if err := a.drv.Start(ctx, id); err != nil {
			return queue.Event{}, err
		}
	}
	return a.done(ctx, id)
}

// makeInstanceDir makes the instance's directory (and the one holding
// all of them) readable by QEMU, and returns it.
func (a *Agent) makeInstanceDir(acc access, id string) (string, error) {
	dir := a.instanceDir(id)
	if err := acc.mkdir(filepath.Dir(dir)); err != nil {
		return "", err
	}
	return dir, acc.mkdir(dir)
}

// instanceSpec is the domain of the instance j builds: on a real
// hypervisor its root disk (made from the job's image when newDisk is set,
// else the one there), its config drive (written afresh from the job) and
// serial log in the instance's directory.
func (a *Agent) instanceSpec(ctx context.Context, j queue.Job, newDisk bool) (hypervisor.Spec, error) {
	id := j.InstanceID
	if j.Build == nil {
		return hypervisor.Spec{}, fmt.Errorf("%s job without a build spec: %w", j.Kind, queue.ErrPoison)
	}
	spec := hypervisor.Spec{InstanceID: id, VCPUs: j.Build.VCPUs, MemoryMB: j.Build.MemoryMB, VNCListen: a.cfg.VNCListen}
	if a.net != nil && len(j.Build.NICs) > 0 {
		// The ports' taps exist, on their bridges and filtered, before
		// the domain that opens them is defined.
		var ports []string
		for _, n := range j.Build.NICs {
			ports = append(ports, n.PortID)
			spec.NICs = append(spec.NICs, hypervisor.NIC{Device: n.Device, MAC: n.MAC, MTU: n.MTU})
		}
		step(ctx, model.StepNetworking, 0)
		if err := a.net.ensurePorts(ctx, ports); err != nil {
			return spec, err
		}
	}
	if a.info.DomainType == "test" {
		spec.NICs = nil  // nothing to plug them into
		return spec, nil // libvirt's test driver boots nothing: no disks
	}
	acc := qemuAccess()
	dir, err := a.makeInstanceDir(acc, id)
	if err != nil {
		return spec, err
	}
	for _, d := range j.Build.Volumes {
		hv, err := a.volumeDisk(ctx, d)
		if err != nil {
			return spec, fmt.Errorf("volume %s: %w", d.VolumeID, err)
		}
		if d.Device == "vda" {
			spec.RootVolume = &hv
		} else {
			spec.Volumes = append(spec.Volumes, hv)
		}
	}
	spec.DiskPath, spec.DiskFormat = filepath.Join(dir, "disk"), "qcow2"
	if spec.RootVolume != nil {
		spec.DiskPath = "" // it boots from its volume: no disk of the host's
	} else if newDisk {
		_ = a.emit(ctx, queue.Event{Kind: queue.EventStarted, Step: "compute_prepare_image", InstanceID: id, ActionID: j.ActionID})
		disk, err := a.rootDisk(ctx, acc, dir, j.Build.Image, "disk", j.Build.RootGB)
		if err != nil {
			return spec, err
		}
		spec.DiskPath = disk
	} else if _, err := os.Stat(spec.DiskPath); err != nil {
		return spec, fmt.Errorf("the instance's disk: %w", err)
	}
	spec.SerialLog = filepath.Join(dir, "console.log")
	step(ctx, model.StepConfigDrive, 0)
	if iso, err := a.configDrive(ctx, dir, j); err != nil {
		return spec, err
	} else if iso != "" {
		if err := acc.file(iso); err != nil {
			return spec, err
		}
		spec.ConfigDrive = iso
	}
	return spec, nil
}

// rootDisk makes the instance's root disk in dir: a qcow2 overlay on the
// cached image, made only once the image passed inspection, and refused
// when the flavor's root disk (rootGB, when set) is smaller than the
// image's virtual size as measured here.
func (a *Agent) rootDisk(ctx context.Context, acc access, dir string, im *queue.ImageRef, name string, rootGB int) (string, error) {
	base, info, err := a.cachedImage(ctx, acc, im)
	if err != nil {
		return "", err
	}
	if root := int64(rootGB) << 30; root > 0 && root < info.VirtualSize {
		return "", fmt.Errorf("flavor's root disk of %d bytes is smaller than image %s of %d bytes: %w",
			root, im.ID, info.VirtualSize, errPermanent)
	}
	disk := filepath.Join(dir, name)
	if err := os.Remove(disk); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	step(ctx, model.StepCreatingDisk, 0)
	if err := overlay(ctx, base, info.Format, disk, rootGB); err != nil {
		return "", err
	}
	return disk, acc.file(disk)
}

// cachedImage returns the path of the image in the local cache, fetching
// and verifying its checksums once, and inspecting it (diskimage.Inspect,
// against its declared disk_format) on every use: the agent trusts
// neither the controller's file nor its own cache. A cached file that
// fails inspection is removed; a refusal wraps errPermanent. Concurrent
// builds of one image wait for one fetch.
func (a *Agent) cachedImage(ctx context.Context, acc access, im *queue.ImageRef) (string, diskimage.Info, error) {
	if im == nil || im.URL == "" {
		return "", diskimage.Info{}, errors.New("build job has no image to fetch")
	}
	if hypervisor.ValidateInstanceID(im.ID) != nil {
		return "", diskimage.Info{}, fmt.Errorf("image id %q is not a UUID", im.ID)
	}
	a.images.Lock()
	defer a.images.Unlock()
	dir := filepath.Join(a.cfg.StateDir, "images")
	if err := acc.mkdir(dir); err != nil {
		return "", diskimage.Info{}, err
	}
	path := filepath.Join(dir, im.ID)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := a.fetch(ctx, dir, path, im); err != nil {
			return "", diskimage.Info{}, err
		}
	} else if err != nil {
		return "", diskimage.Info{}, err
	}
	// Used now: the image cache keeps it (pruneImageCache), even before
	// the overlay that will be backed by it exists.
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		return "", diskimage.Info{}, err
	}
	info, err := inspect(ctx, path, im)
	if errors.Is(err, errPermanent) {
		// Refused: fetched again (and inspected again) next time.
		return "", diskimage.Info{}, errors.Join(err, os.Remove(path))
	}
	if err != nil {
		return "", diskimage.Info{}, err
	}
	return path, info, acc.file(path)
}

// inspect checks a cached image against its declared format.
func inspect(ctx context.Context, path string, im *queue.ImageRef) (diskimage.Info, error) {
	info, err := diskimage.Inspect(ctx, path, im.DiskFormat)
	var refused *diskimage.Error
	if errors.As(err, &refused) {
		return diskimage.Info{}, fmt.Errorf("image %s refused: %w: %w", im.ID, err, errPermanent)
	}
	if err != nil {
		return diskimage.Info{}, fmt.Errorf("inspect image %s: %w", im.ID, err)
	}
	return info, nil
}

// fetch downloads the image to path through a private temporary file,
// checking its MD5 and SHA-512 against the job's.
func (a *Agent) fetch(ctx context.Context, dir, path string, im *queue.ImageRef) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, im.URL, nil)
	if err != nil {
		return err
	}
	res, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("fetch image %s: %w", im.ID, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch image %s: status %d", im.ID, res.StatusCode)
	}
	tmp, err := os.CreateTemp(dir, ".fetch-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	m5, s512 := md5.New(), sha512.New()
	if _, err := io.Copy(io.MultiWriter(tmp, m5, s512, newDownloadReporter(ctx, res.ContentLength)), res.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("fetch image %s: %w", im.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(m5.Sum(nil)); im.Checksum != "" && got != im.Checksum {
		return fmt.Errorf("image %s checksum %s, want %s", im.ID, got, im.Checksum)
	}
	if got := hex.EncodeToString(s512.Sum(nil)); im.SHA512 != "" && got != im.SHA512 {
		return fmt.Errorf("image %s sha512 mismatch", im.ID)
	}
	return os.Rename(tmp.Name(), path)
}

// overlay makes a qcow2 overlay of base, an inspected image of format, at
// path, grown to rootGB if set. The backing format is always given, so
// QEMU never probes the base.
func overlay(ctx context.Context, base, format, path string, rootGB int) error {
	if format == "" || format == "iso" {
		format = "raw"
	}
	args := []string{"create", "-f", "qcow2", "-F", format, "-b", base, path}
	if rootGB > 0 {
		args = append(args, strconv.Itoa(rootGB)+"G")
	}
	return qemuImg(ctx, args...)
}
