package diskimage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/diskimage/diskimagetest"
)

// TestInspect runs the whole check on real files made by qemu-img and
// genisoimage: good images pass with their virtual size, and every shape
// that could make QEMU touch another file, or that is not what was
// declared, is refused with its reason.
func TestInspect(t *testing.T) {
	diskimagetest.Need(t, "qemu-img", "genisoimage")
	dir := t.TempDir()
	goodQCOW2 := diskimagetest.QCOW2(t, dir, "good.qcow2", "64M")
	oldQCOW2 := diskimagetest.QCOW2(t, dir, "compat010.qcow2", "16M", "-o", "compat=0.10")
	raw := diskimagetest.Raw(t, dir, "good.raw", 1<<20)
	iso := diskimagetest.ISO(t, dir)
	backed := diskimagetest.Backed(t, dir)
	jsonBacked := filepath.Join(dir, "json-backed.qcow2")
	diskimagetest.Run(t, "qemu-img", "create", "-q", "-u", "-f", "qcow2", "-F", "raw", "-b",
		`json:{"driver":"raw","file":{"driver":"file","filename":"/etc/passwd"}}`, jsonBacked, "1M")
	dataFile := diskimagetest.DataFile(t, dir)
	vmdk := filepath.Join(dir, "sparse.vmdk")
	diskimagetest.Run(t, "qemu-img", "create", "-q", "-f", "vmdk", vmdk, "1M")
	vmdkFlat := filepath.Join(dir, "flat.vmdk") // a text descriptor naming flat-flat.vmdk
	diskimagetest.Run(t, "qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", vmdkFlat, "1M")
	others := map[string]string{}
	for _, f := range []struct{ ours, qemu string }{{VHDX, "vhdx"}, {VDI, "vdi"}, {VHD, "vpc"}, {QED, "qed"}, {QCOW, "qcow"}} {
		others[f.ours] = filepath.Join(dir, "other."+f.qemu)
		diskimagetest.Run(t, "qemu-img", "create", "-q", "-f", f.qemu, others[f.ours], "1M")
	}
	// A qcow2 that also carries an ISO 9660 signature where an ISO has it.
	polyglot := diskimagetest.QCOW2(t, dir, "polyglot.qcow2", "1M")
	writeAt(t, polyglot, 0x8001, "CD001")
	truncated50 := diskimagetest.Truncate(t, goodQCOW2, dir, "truncated50.qcow2", 50)
	truncated200 := diskimagetest.Truncate(t, goodQCOW2, dir, "truncated200.qcow2", 200)

	cases := []struct {
		name, path, declared string
		reason               Reason // "" means accepted
		detected             string
		virtualSize          int64
	}{
		{"good qcow2", goodQCOW2, QCOW2, "", "", 64 << 20},
		{"good qcow2 v2", oldQCOW2, QCOW2, "", "", 16 << 20},
		{"good raw", raw, Raw, "", "", 1 << 20},
		{"good iso", iso, ISO, "", "", fileSize(t, iso)},
		{"iso declared raw (hybrid)", iso, Raw, "", "", fileSize(t, iso)},
		{"backing file /etc/passwd", backed, QCOW2, ReasonBackingFile, "", 0},
		{"backing file declared raw", backed, Raw, ReasonBackingFile, "", 0},
		{"json: backing file", jsonBacked, QCOW2, ReasonBackingFile, "", 0},
		{"external data file", dataFile, QCOW2, ReasonDataFile, "", 0},
		{"qcow2 declared raw", goodQCOW2, Raw, ReasonFormatMismatch, QCOW2, 0},
		{"qcow2 declared iso", goodQCOW2, ISO, ReasonFormatMismatch, QCOW2, 0},
		{"qcow2 with an ISO signature declared iso", polyglot, ISO, ReasonFormatMismatch, QCOW2, 0},
		{"raw declared qcow2", raw, QCOW2, ReasonFormatMismatch, Raw, 0},
		{"raw declared iso", raw, ISO, ReasonFormatMismatch, Raw, 0},
		{"iso declared qcow2", iso, QCOW2, ReasonFormatMismatch, ISO, 0},
		{"vmdk declared raw", vmdk, Raw, ReasonFormatMismatch, VMDK, 0},
		{"vmdk descriptor declared raw", vmdkFlat, Raw, ReasonFormatMismatch, VMDK, 0},
		{"vhdx declared raw", others[VHDX], Raw, ReasonFormatMismatch, VHDX, 0},
		{"vdi declared raw", others[VDI], Raw, ReasonFormatMismatch, VDI, 0},
		{"vhd declared raw", others[VHD], Raw, ReasonFormatMismatch, VHD, 0},
		{"qed declared raw", others[QED], Raw, ReasonFormatMismatch, QED, 0},
		{"qcow v1 declared qcow2", others[QCOW], QCOW2, ReasonFormatMismatch, QCOW, 0},
		{"truncated header (50 bytes)", truncated50, QCOW2, ReasonInvalid, "", 0},
		{"truncated after the header (200 bytes)", truncated200, QCOW2, ReasonInvalid, "", 0},
		{"vmdk declared", vmdk, VMDK, ReasonUnsupported, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := Inspect(context.Background(), c.path, c.declared)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("Inspect: got %v, want accepted", err)
				}
				if info.Format != c.declared || info.VirtualSize != c.virtualSize {
					t.Errorf("got %+v, want format %s, virtual size %d", info, c.declared, c.virtualSize)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Inspect: got %v (%+v), want a refusal for %s", err, info, c.reason)
			}
			if e.Reason != c.reason || e.Detected != c.detected {
				t.Errorf("got reason %s, detected %q (%v); want %s, %q", e.Reason, e.Detected, e, c.reason, c.detected)
			}
		})
	}
}

// TestRefusedHeaderNeverReachesQEMU puts a qemu-img first in PATH that
// only leaves a mark: a file refused by the header check must never be
// given to QEMU, and one that passes must be.
func TestRefusedHeaderNeverReachesQEMU(t *testing.T) {
	diskimagetest.Need(t, "qemu-img")
	dir := t.TempDir()
	backed, dataFile := diskimagetest.Backed(t, dir), diskimagetest.DataFile(t, dir)
	good := diskimagetest.QCOW2(t, dir, "good.qcow2", "1M")
	bin, mark := filepath.Join(dir, "bin"), filepath.Join(dir, "qemu-img-ran")
	if err := os.Mkdir(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\ntouch '" + mark + "'\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "qemu-img"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, p := range []string{backed, dataFile} {
		if _, err := Inspect(context.Background(), p, QCOW2); err == nil {
			t.Errorf("%s accepted", filepath.Base(p))
		}
		if _, err := os.Stat(mark); err == nil {
			t.Fatalf("qemu-img ran on %s, which the header check refuses", filepath.Base(p))
		}
	}
	_, err := Inspect(context.Background(), good, QCOW2)
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonInvalid {
		t.Errorf("good file with a failing qemu-img: got %v, want refused as invalid", err)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Error("qemu-img never ran on a file that passed the header check")
	}
}

// TestCheckQemu covers the second opinion alone, with answers a header
// check would not have let through.
func TestCheckQemu(t *testing.T) {
	good := Header{Format: QCOW2, VirtualSize: 1 << 20}
	cases := []struct {
		name, json, declared string
		reason               Reason
	}{
		{"good qcow2", `{"format":"qcow2","virtual-size":1048576,"format-specific":{"type":"qcow2","data":{"compat":"1.1","corrupt":false}}}`, QCOW2, ""},
		{"good iso read as raw", `{"format":"raw","virtual-size":1048576}`, ISO, ""},
		{"format differs", `{"format":"vmdk","virtual-size":1048576}`, Raw, ReasonFormatMismatch},
		{"backing-filename", `{"format":"qcow2","virtual-size":1048576,"backing-filename":"/etc/passwd"}`, QCOW2, ReasonBackingFile},
		{"full-backing-filename only", `{"format":"qcow2","virtual-size":1048576,"full-backing-filename":"/etc/passwd"}`, QCOW2, ReasonBackingFile},
		{"data-file", `{"format":"qcow2","virtual-size":1048576,"format-specific":{"type":"qcow2","data":{"data-file":"/etc/shadow"}}}`, QCOW2, ReasonDataFile},
		{"encrypted", `{"format":"qcow2","virtual-size":1048576,"encrypted":true}`, QCOW2, ReasonEncrypted},
		{"corrupt", `{"format":"qcow2","virtual-size":1048576,"format-specific":{"type":"qcow2","data":{"corrupt":true}}}`, QCOW2, ReasonInvalid},
		{"virtual size differs from the header", `{"format":"qcow2","virtual-size":2097152}`, QCOW2, ReasonInvalid},
		{"not JSON", `qemu-img: oops`, QCOW2, ReasonInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := parseQemuInfo([]byte(c.json), c.declared)
			if err == nil {
				err = checkQemu(q, c.declared, good)
			}
			var e *Error
			switch {
			case c.reason == "" && err != nil:
				t.Errorf("got %v, want accepted", err)
			case c.reason != "" && (!errors.As(err, &e) || e.Reason != c.reason):
				t.Errorf("got %v, want reason %s", err, c.reason)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	cases := []struct {
		err  *Error
		want string
	}{
		{&Error{Reason: ReasonBackingFile}, "Image has a backing file, which is not allowed"},
		{&Error{Reason: ReasonDataFile}, "Image has an external data file, which is not allowed"},
		{&Error{Reason: ReasonFormatMismatch, Declared: Raw, Detected: QCOW2}, "Image disk_format is raw but its data is qcow2"},
		{&Error{Reason: ReasonUnsupported, Declared: VMDK}, "Image disk_format vmdk is not supported (use qcow2, raw or iso)"},
		{invalid(QCOW2, "truncated header (%d bytes)", 50), "Image data is not a valid qcow2 image: truncated header (50 bytes)"},
	}
	for _, c := range cases {
		if got := c.err.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func writeAt(t *testing.T, path string, off int64, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(s), off); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
