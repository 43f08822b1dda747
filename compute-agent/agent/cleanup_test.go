package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor/hypervisortest"
	"github.com/nimbus-cloud/nimbus/internal/diskimage"
	"github.com/nimbus-cloud/nimbus/internal/diskimage/diskimagetest"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// failingDriver defines domains but cannot start them, and remembers
// what was asked of it.
type failingDriver struct {
	mu      sync.Mutex
	defined map[string]bool
}

var errNoStart = errors.New("cannot start")

func (d *failingDriver) Define(_ context.Context, s hypervisor.Spec) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.defined[s.InstanceID] = true
	return nil
}
func (d *failingDriver) Start(context.Context, string) error { return errNoStart }
func (d *failingDriver) Shutdown(context.Context, string, time.Duration) error {
	return nil
}
func (d *failingDriver) Destroy(context.Context, string) error      { return nil }
func (d *failingDriver) Reboot(context.Context, string, bool) error { return nil }
func (d *failingDriver) Pause(context.Context, string) error        { return nil }
func (d *failingDriver) Unpause(context.Context, string) error      { return nil }
func (d *failingDriver) Save(context.Context, string) error         { return nil }
func (d *failingDriver) HostInfo(context.Context) (hypervisor.HostInfo, error) {
	return hypervisor.HostInfo{DomainType: "qemu"}, nil
}
func (d *failingDriver) List(context.Context) ([]hypervisor.Status, error) { return nil, nil }
func (d *failingDriver) Close() error                                      { return nil }
func (d *failingDriver) Undefine(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.defined, id)
	return nil
}
func (d *failingDriver) Get(_ context.Context, id string) (hypervisor.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.defined[id] {
		return hypervisor.Status{InstanceID: id, State: hypervisor.Shutoff}, nil
	}
	return hypervisor.Status{}, hypervisor.ErrNotFound
}

// TestFailedBuildLeavesNothing: a build that fails on a host — at power
// on here, or at its image — takes away its domain definition and its
// instance directory (disk, config drive), so hosts do not keep the disks
// of every build tried on them (issue 8).
func TestFailedBuildLeavesNothing(t *testing.T) {
	diskimagetest.Need(t, "qemu-img")
	rdb, prefix := testenv.Redis(t)
	drv := &failingDriver{defined: map[string]bool{}}
	a := New(Config{Host: "h", Prefix: prefix, StateDir: t.TempDir()}, drv, rdb, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.info = hypervisor.HostInfo{DomainType: "qemu"}
	srv := newImageServer(t)
	a.http = srv.srv.Client()
	files := t.TempDir()
	good := srv.ref(diskimagetest.QCOW2(t, files, "good.qcow2", "64M"), diskimage.QCOW2)
	log := a.log
	for _, c := range []struct {
		what string
		img  *queue.ImageRef
		want error
	}{
		{"power on fails", good, errNoStart},
		{"the image is refused", srv.ref(diskimagetest.Backed(t, files), diskimage.QCOW2), errPermanent},
	} {
		id := hypervisortest.NewInstanceID()
		_, err := a.build(context.Background(), log, queue.Job{V: queue.Version, Kind: queue.JobBuild, InstanceID: id,
			Build: &queue.Build{VCPUs: 1, MemoryMB: 64, RootGB: 1, Image: c.img, Name: "x"}})
		if !errors.Is(err, c.want) {
			t.Fatalf("%s: build error %v, want %v", c.what, err, c.want)
		}
		if drv.defined[id] {
			t.Errorf("%s: the domain is still defined", c.what)
		}
		if _, err := os.Stat(filepath.Join(a.cfg.StateDir, "instances", id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the instance directory is left behind: %v", c.what, err)
		}
	}
}
