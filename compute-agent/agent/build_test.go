package agent

import (
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor/hypervisortest"
	"github.com/nimbus-cloud/nimbus/internal/diskimage"
	"github.com/nimbus-cloud/nimbus/internal/diskimage/diskimagetest"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// imageServer serves files by image id as the controller's signed
// download does, and returns refs for them with their checksums.
type imageServer struct {
	t     *testing.T
	srv   *httptest.Server
	files map[string]string // image id -> path
}

func newImageServer(t *testing.T) *imageServer {
	s := &imageServer{t: t, files: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, s.files[filepath.Base(r.URL.Path)])
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *imageServer) ref(path, format string) *queue.ImageRef {
	s.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		s.t.Fatal(err)
	}
	id := hypervisortest.NewInstanceID()
	s.files[id] = path
	m5, s5 := md5.Sum(b), sha512.Sum512(b)
	return &queue.ImageRef{ID: id, URL: s.srv.URL + "/" + id, DiskFormat: format, Size: int64(len(b)),
		Checksum: hex.EncodeToString(m5[:]), SHA512: hex.EncodeToString(s5[:])}
}

// TestAgentInspectsCachedImages: the agent checks an image itself, on
// fetch and on every use, whatever the controller checked. A file swapped
// in its cache for a qcow2 backed by /etc/passwd is refused (not
// retryable), removed, and no overlay is made on it.
func TestAgentInspectsCachedImages(t *testing.T) {
	diskimagetest.Need(t, "qemu-img")
	ctx := context.Background()
	files := t.TempDir()
	srv := newImageServer(t)
	a := &Agent{cfg: Config{StateDir: t.TempDir()}, http: srv.srv.Client()}
	acc := qemuAccess()
	inst := filepath.Join(a.cfg.StateDir, "instances", hypervisortest.NewInstanceID())
	if err := acc.mkdir(inst); err != nil {
		t.Fatal(err)
	}

	good := srv.ref(diskimagetest.QCOW2(t, files, "good.qcow2", "64M"), diskimage.QCOW2)
	base, info, err := a.cachedImage(ctx, acc, good)
	if err != nil || info.VirtualSize != 64<<20 {
		t.Fatalf("good image: got %+v, %v; want 64 MiB", info, err)
	}
	disk, err := a.rootDisk(ctx, acc, inst, good, "disk", 1)
	if err != nil {
		t.Fatalf("root disk on a good image: %v", err)
	}
	if got := backingOf(t, disk); got != base {
		t.Errorf("overlay's backing file %q, want the cached image %q", got, base)
	}
	for _, p := range []string{base, disk, filepath.Dir(base), inst} {
		notWorldReadable(t, p, acc)
	}

	// The original bug's shape, in the agent's cache this time.
	if err := os.Rename(diskimagetest.Backed(t, files), base); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(disk); err != nil {
		t.Fatal(err)
	}
	_, err = a.rootDisk(ctx, acc, inst, good, "disk", 1)
	var refused *diskimage.Error
	if !errors.As(err, &refused) || refused.Reason != diskimage.ReasonBackingFile || !errors.Is(err, errPermanent) {
		t.Fatalf("swapped cache file: got %v, want a permanent backing-file refusal", err)
	}
	if _, err := os.Stat(disk); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an overlay was made on a refused image: %v", err)
	}
	if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused file stays in the cache: %v", err)
	}

	// A controller (or anyone on its path) handing out such a file with
	// matching checksums gets the same answer, and nothing is cached.
	bad := srv.ref(diskimagetest.DataFile(t, files), diskimage.QCOW2)
	if _, _, err := a.cachedImage(ctx, acc, bad); !errors.As(err, &refused) || refused.Reason != diskimage.ReasonDataFile {
		t.Errorf("served data-file qcow2: got %v, want refused", err)
	}
	declaredRaw := srv.ref(diskimagetest.QCOW2(t, files, "really-qcow2", "1M"), diskimage.Raw)
	if _, _, err := a.cachedImage(ctx, acc, declaredRaw); !errors.As(err, &refused) || refused.Reason != diskimage.ReasonFormatMismatch {
		t.Errorf("qcow2 declared raw: got %v, want refused", err)
	}
	left, _ := os.ReadDir(filepath.Dir(base))
	if len(left) != 0 {
		t.Errorf("cache holds %d files after refusals, want none", len(left))
	}

	// A flavor's root disk smaller than the image's virtual size.
	big := srv.ref(diskimagetest.QCOW2(t, files, "big.qcow2", "2G"), diskimage.QCOW2)
	_, err = a.rootDisk(ctx, acc, inst, big, "disk", 1)
	if !errors.Is(err, errPermanent) {
		t.Errorf("1 GB root disk for a 2 GiB image: got %v, want a permanent refusal", err)
	}
	if _, err := os.Stat(disk); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an overlay was made for a root disk too small: %v", err)
	}
	if _, err := a.rootDisk(ctx, acc, inst, big, "disk", 0); err != nil {
		t.Errorf("no root size given: %v, want the image's own size", err)
	}
}

func backingOf(t *testing.T, disk string) string {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "--output=json", "-f", "qcow2", "-U", disk).Output()
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Backing string `json:"backing-filename"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	return info.Backing
}

// notWorldReadable checks that others have no access to p and, when
// files are shared with QEMU's group, that p has that group.
func notWorldReadable(t *testing.T, p string, acc access) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o007 != 0 {
		t.Errorf("%s has mode %v: others may read it", p, st.Mode().Perm())
	}
	if want := gidOf(t, st); acc.gid >= 0 && want != acc.gid {
		t.Errorf("%s has group %d, want QEMU's %d", p, want, acc.gid)
	}
	t.Logf("%s: %v gid %d", filepath.Base(p), st.Mode().Perm(), gidOf(t, st))
}

func gidOf(t *testing.T, st fs.FileInfo) int {
	t.Helper()
	return int(st.Sys().(*syscall.Stat_t).Gid)
}

// TestAccessPrivate: without QEMU's group, files and directories are the
// agent's alone.
func TestAccessPrivate(t *testing.T) {
	acc := access{gid: -1}
	dir := filepath.Join(t.TempDir(), "instances", "x")
	if err := acc.mkdir(dir); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "disk")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := acc.file(f); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]fs.FileMode{dir: 0o700, f: 0o600} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: got %v, want %v", p, st.Mode().Perm(), want)
		}
	}
}
