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

	"github.com/nimbus-cloud/nimbus/compute-agent/storage"
	"github.com/nimbus-cloud/nimbus/internal/pki"
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

// TestExportOverNBDWithTLS: a volume exported to an attachment is
// written and read over NBD by a client holding a certificate of the
// Nimbus CA; a client without TLS, or with a certificate of another CA,
// is refused; the data is the volume's own file's; closing the export
// ends the service.
func TestExportOverNBDWithTLS(t *testing.T) {
	needTools(t)
	ctx := context.Background()
	dir := t.TempDir()
	l := storage.Local{Dir: filepath.Join(dir, "volumes")}
	if err := l.Create(ctx, vol, 1); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA("nimbus-test")
	if err != nil {
		t.Fatal(err)
	}
	serverDir, clientDir := filepath.Join(dir, "server"), filepath.Join(dir, "client")
	if err := ca.WriteDir(serverDir, "127.0.0.1", pki.Server); err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteDir(clientDir, "compute-1", pki.Client); err != nil {
		t.Fatal(err)
	}
	other, _ := pki.NewCA("someone-else")
	strangerDir := filepath.Join(dir, "stranger")
	if err := other.WriteDir(strangerDir, "compute-x", pki.Client); err != nil {
		t.Fatal(err)
	}
	e, err := l.Export(ctx, vol, "att-0123456789abcdef", "127.0.0.1", 0, serverDir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	qemuIO := func(certDir, cmd string) (string, error) {
		args := []string{"--image-opts", "driver=nbd,host=127.0.0.1,port=" + strconv.Itoa(e.Port) + ",export=" + e.Name}
		if certDir != "" {
			args = append([]string{"--object", "tls-creds-x509,id=tls0,endpoint=client,dir=" + certDir}, args...)
			args[len(args)-1] += ",tls-creds=tls0"
		}
		out, err := exec.Command("qemu-io", append(args, "-c", cmd)...).CombinedOutput()
		return string(out), err
	}
	if out, err := qemuIO(clientDir, "write -P 0xab 1M 64k"); err != nil {
		t.Fatalf("write over NBD: %v\n%s", err, out)
	}
	if out, err := qemuIO(clientDir, "read -P 0xab 1M 64k"); err != nil || strings.Contains(out, "Pattern verification failed") {
		t.Fatalf("read back over NBD: %v\n%s", err, out)
	}
	if out, err := qemuIO("", "read 0 4k"); err == nil {
		t.Errorf("a client without TLS read the volume:\n%s", out)
	} else if !strings.Contains(out, "TLS") {
		t.Errorf("a client without TLS was refused, but not for it:\n%s", out)
	}
	if out, err := qemuIO(strangerDir, "read 0 4k"); err == nil {
		t.Errorf("a client of another CA read the volume:\n%s", out)
	} else if !strings.Contains(out, "certificate") && !strings.Contains(out, "TLS") {
		t.Errorf("a client of another CA was refused, but not by TLS:\n%s", out)
	}
	e.Close()
	// The volume's own file holds what was written over the network.
	p, _ := l.Path(vol)
	out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", "read -P 0xab 1M 64k", p).CombinedOutput()
	if err != nil || strings.Contains(string(out), "Pattern verification failed") {
		t.Errorf("the file after the export: %v\n%s", err, out)
	}
	if _, err := qemuIO(clientDir, "read 0 4k"); err == nil {
		t.Error("the volume is still served after Close")
	}
}
