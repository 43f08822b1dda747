package storage_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/compute-agent/storage"
)

const vol = "0a1b2c3d-0000-4000-8000-00000000abcd"

func needTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"qemu-img", "qemu-io", "qemu-storage-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed (scripts/deps.sh installs QEMU)", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
}

// TestLocalVolumes: a volume is a qcow2 file of its size; creating it
// again (a job delivered twice) is done, with another size refused;
// it grows and never shrinks; deleting twice is fine; an id that is no
// UUID names no file.
func TestLocalVolumes(t *testing.T) {
	needTools(t)
	ctx := context.Background()
	l := storage.Local{Dir: filepath.Join(t.TempDir(), "volumes")}
	if err := l.Create(ctx, vol, 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Create(ctx, vol, 1); err != nil {
		t.Errorf("create again: %v", err)
	}
	if err := l.Create(ctx, vol, 2); err == nil {
		t.Error("create again with another size: no error")
	}
	if got, err := l.SizeGB(ctx, vol); err != nil || got != 1 {
		t.Fatalf("size %d %v", got, err)
	}
	if err := l.Extend(ctx, vol, 3); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.SizeGB(ctx, vol); got != 3 {
		t.Errorf("after extend to 3: %d GB", got)
	}
	if err := l.Extend(ctx, vol, 2); !errors.Is(err, storage.ErrShrink) {
		t.Errorf("extend to a smaller size: %v", err)
	}
	for _, bad := range []string{"../../etc/passwd", "x", vol + "/.."} {
		if err := l.Create(ctx, bad, 1); err == nil {
			t.Errorf("create %q: no error", bad)
		}
	}
	for i := 0; i < 2; i++ {
		if err := l.Delete(ctx, vol); err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
	if _, err := l.SizeGB(ctx, vol); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("size after delete: %v", err)
	}
}

// TestExportThroughARelay: a volume exported to an attachment is written
// and read through the compute side's relay (the unix socket a guest's
// disk opens); a client without TLS, or with another key, is refused; a
// daemon killed (its host restarted) comes back with Restore at the same
// port and the relay carries on; the data is the volume's own file's;
// Unexport ends the service.
func TestExportThroughARelay(t *testing.T) {
	needTools(t)
	ctx := context.Background()
	dir := t.TempDir()
	l := storage.Local{Dir: filepath.Join(dir, "volumes")}
	if err := l.Create(ctx, vol, 1); err != nil {
		t.Fatal(err)
	}
	r := storage.Remote{Host: "127.0.0.1", Name: "exp-0123456789abcdef", User: "0a1b2c3d-0000-4000-8000-0000000000a1",
		Key: strings.Repeat("5a", 32)}
	port, err := l.Export(ctx, vol, r)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unexport(r.Name)
	if again, err := l.Export(ctx, vol, r); err != nil || again != port {
		t.Fatalf("export again: port %d (first %d), %v", again, port, err)
	}
	r.Port = port
	relays := storage.Relays{Dir: filepath.Join(dir, "relays")}
	sock, err := relays.Open(ctx, r.User, r)
	if err != nil {
		t.Fatal(err)
	}
	defer relays.Close(r.User)
	viaRelay := func(cmd string) (string, error) {
		out, err := exec.Command("qemu-io", "-f", "raw", "-c", cmd, "nbd+unix:///vol?socket="+sock).CombinedOutput()
		return string(out), err
	}
	if out, err := viaRelay("write -P 0xab 1M 64k"); err != nil {
		t.Fatalf("write through the relay: %v\n%s", err, out)
	}
	if out, err := viaRelay("read -P 0xab 1M 64k"); err != nil || strings.Contains(out, "Pattern verification failed") {
		t.Fatalf("read back: %v\n%s", err, out)
	}
	direct := func(tls string) (string, error) {
		args := []string{"--image-opts", "driver=nbd,host=127.0.0.1,port=" + strconv.Itoa(port) + ",export=" + r.Name}
		if tls != "" {
			kd := filepath.Join(dir, "other-key")
			os.MkdirAll(kd, 0o700)
			os.WriteFile(filepath.Join(kd, "keys.psk"), []byte(r.User+":"+tls+"\n"), 0o600)
			args = append([]string{"--object", "tls-creds-psk,id=tls0,endpoint=client,dir=" + kd + ",username=" + r.User}, args...)
			args[len(args)-1] += ",tls-creds=tls0"
		}
		out, err := exec.Command("qemu-io", append(args, "-c", "read 0 4k")...).CombinedOutput()
		return string(out), err
	}
	if out, err := direct(""); err == nil {
		t.Errorf("a client without TLS read the volume:\n%s", out)
	}
	if out, err := direct(strings.Repeat("11", 32)); err == nil {
		t.Errorf("a client with another key read the volume:\n%s", out)
	}
	// The storage host restarts: its daemon is gone, Restore brings it
	// back on the same port, and the relay reconnects.
	if out, err := exec.Command("pkill", "-f", "name="+r.Name).CombinedOutput(); err != nil {
		t.Fatalf("kill the export: %v %s", err, out)
	}
	for i := 0; l.Exported(r.Name) && i < 100; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if err := l.RestoreExports(ctx); err != nil {
		t.Fatal(err)
	}
	if !l.Exported(r.Name) {
		t.Fatal("the export did not come back")
	}
	if out, err := viaRelay("read -P 0xab 1M 64k"); err != nil || strings.Contains(out, "Pattern verification failed") {
		t.Fatalf("read through the relay after the export's restart: %v\n%s", err, out)
	}
	relays.Close(r.User)
	if err := l.Unexport(r.Name); err != nil {
		t.Fatal(err)
	}
	// The volume's own file holds what was written over the network.
	p, _ := l.Path(vol)
	out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", "read -P 0xab 1M 64k", p).CombinedOutput()
	if err != nil || strings.Contains(string(out), "Pattern verification failed") {
		t.Errorf("the file after the export: %v\n%s", err, out)
	}
	if _, err := direct(""); err == nil {
		t.Error("the volume is still served after Unexport")
	}
}

// TestSnapshotsAndCopies: a snapshot keeps the data of its moment; a
// volume made from it, or from another volume, is a copy of its size;
// deleting the source leaves the copies whole.
func TestSnapshotsAndCopies(t *testing.T) {
	needTools(t)
	ctx := context.Background()
	l := storage.Local{Dir: filepath.Join(t.TempDir(), "volumes")}
	const snap, fromSnap, fromVol = "0a1b2c3d-0000-4000-8000-0000000000b1", "0a1b2c3d-0000-4000-8000-0000000000b2", "0a1b2c3d-0000-4000-8000-0000000000b3"
	if err := l.Create(ctx, vol, 1); err != nil {
		t.Fatal(err)
	}
	p, _ := l.Path(vol)
	io := func(file, cmd string) string {
		t.Helper()
		out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", cmd, file).CombinedOutput()
		if err != nil || strings.Contains(string(out), "verification failed") {
			t.Fatalf("%s on %s: %v\n%s", cmd, file, err, out)
		}
		return string(out)
	}
	io(p, "write -P 0x11 0 64k")
	for i := 0; i < 2; i++ {
		if err := l.Snapshot(ctx, vol, snap); err != nil {
			t.Fatal(err)
		}
	}
	io(p, "write -P 0x22 0 64k")
	sp, _ := l.SnapshotPath(snap)
	if err := l.CreateFrom(ctx, fromSnap, 2, sp, "qcow2"); err != nil {
		t.Fatal(err)
	}
	if err := l.CreateFrom(ctx, fromVol, 1, p, "qcow2"); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(ctx, vol); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	a, _ := l.Path(fromSnap)
	b, _ := l.Path(fromVol)
	io(a, "read -P 0x11 0 64k")
	io(b, "read -P 0x22 0 64k")
	if got, _ := l.SizeGB(ctx, fromSnap); got != 2 {
		t.Errorf("volume from a snapshot: %d GB, want 2", got)
	}
	if err := l.CreateFrom(ctx, "0a1b2c3d-0000-4000-8000-0000000000b4", 1, a, "qcow2"); err == nil {
		t.Error("a 2 GB source into a 1 GB volume: no error")
	}
}
