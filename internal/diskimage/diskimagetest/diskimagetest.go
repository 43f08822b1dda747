// Package diskimagetest makes real disk image files with qemu-img and
// genisoimage for tests: good ones and the shapes a tenant could use to
// make QEMU read or write host files. Without the tools a test is
// skipped, unless CI=true, where that is a failure.
package diskimagetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Need skips (or under CI=true fails) t when a tool is not installed.
func Need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := tool + " is not installed (scripts/deps.sh installs it)"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// Run runs a command that makes a test file, failing t if it fails.
func Run(t testing.TB, name string, args ...string) {
	t.Helper()
	Need(t, name)
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

// QCOW2 makes an empty qcow2 of size (qemu-img's notation, "64M") in dir.
func QCOW2(t testing.TB, dir, name, size string, opts ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	Run(t, "qemu-img", append(append([]string{"create", "-q", "-f", "qcow2"}, opts...), p, size)...)
	return p
}

// Backed makes a qcow2 whose backing file is /etc/passwd, the original
// bug's shape: a guest booted on it reads the host's file.
func Backed(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "backed.qcow2")
	Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", p)
	return p
}

// DataFile makes a qcow2 with an external data file in dir: a guest
// writing its disk writes that file.
func DataFile(t testing.TB, dir string) string {
	t.Helper()
	return QCOW2(t, dir, "datafile.qcow2", "1M", "-o", "data_file="+filepath.Join(dir, "victim.raw"))
}

// Raw writes a raw image of n bytes of a repeating pattern in dir.
func Raw(t testing.TB, dir, name string, n int) string {
	t.Helper()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/512)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ISO makes a small ISO 9660 image with genisoimage in dir.
func ISO(t testing.TB, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "iso-root")
	if err := os.MkdirAll(src, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "good.iso")
	Run(t, "genisoimage", "-quiet", "-V", "nimbus-test", "-o", p, src)
	return p
}

// Truncate writes the first n bytes of src to a new file in dir.
func Truncate(t testing.TB, src, dir, name string, n int) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b[:min(n, len(b))], 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
