package libvirtdriver

import (
	"errors"
	"path"
	"regexp"
	"testing"
	"unicode/utf8"

	"libvirt.org/go/libvirtxml"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
)

// canonicalUUID is the only instance id form a spec may carry, written out
// here independently of hypervisor.ValidateInstanceID.
var canonicalUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// badText: invalid UTF-8, or a character XML 1.0 cannot carry or that
// would read back as something else (C0 and C1 controls, DEL, U+FFFE/F).
func badText(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) || r == 0xfffe || r == 0xffff {
			return true
		}
	}
	return false
}

// badPath: set, and not an absolute clean path of good text.
func badPath(p string) bool {
	return p != "" && (badText(p) || p[0] != '/' || path.Clean(p) != p)
}

// mustRefuse says, without asking Validate, whether a spec has to be
// refused: a bad UUID, sizes out of range, a bad path, control characters.
func mustRefuse(s hypervisor.Spec) bool {
	switch {
	case !canonicalUUID.MatchString(s.InstanceID),
		s.VCPUs < 1 || s.VCPUs > hypervisor.MaxVCPUs,
		s.MemoryMB < 1 || s.MemoryMB > hypervisor.MaxMemoryMB,
		badPath(s.DiskPath), badPath(s.ConfigDrive), badPath(s.Kernel), badPath(s.Initrd), badPath(s.SerialLog),
		badText(s.Cmdline), badText(s.VNCListen):
		return true
	}
	return false
}

// FuzzDomainXML: a spec that Validate accepts gives a document that
// libvirtxml parses back to the same name, uuid, memory, vcpus, disk,
// config drive, kernel, initrd, cmdline, serial log and VNC address, with
// no extra disks, serials or graphics; a spec with a bad UUID, a relative
// or unclean path or a control character anywhere is refused by both
// Validate and DomainXML.
func FuzzDomainXML(f *testing.F) {
	full := fullSpec()
	f.Add(full.InstanceID, full.VCPUs, full.MemoryMB, full.DiskPath, full.DiskFormat, full.ConfigDrive,
		full.Kernel, full.Initrd, full.Cmdline, full.SerialLog, full.VNCListen, uint8(0))
	f.Add(goldenID, 1, 512, "", "", "", "", "", "", "", "", uint8(2))
	f.Add(goldenID, 4, 4096, "/var/lib/nimbus/a/disk", "raw", "", "", "", "", "", "::1", uint8(1))
	f.Add(goldenID, 1, 512, "/a/b\x00c", "", "", "", "", "", "", "", uint8(0))
	f.Add(goldenID, 1, 512, "relative/disk", "", "", "", "", "", "", "", uint8(0))
	f.Add(goldenID, 1, 512, "/a/../etc/passwd", "", "", "", "", "", "", "", uint8(0))
	f.Add(goldenID, 1, 512, "", "", "", "/k", "", "console=ttyS0\n<devices/>", "", "", uint8(0))
	f.Add(goldenID, 1, 512, "", "", "", "/k", "", "a\u0085b", "", "", uint8(0))
	f.Add(goldenID, 1, 512, "/d'\"<&>", "", "", "", "", "", "", "", uint8(1))
	f.Add("0B3C1C8E-5F2A-4D6E-9A41-7C2D8E9F1A3B", 1, 512, "", "", "", "", "", "", "", "", uint8(2))
	f.Add("{"+goldenID+"}", 1, 512, "", "", "", "", "", "", "", "", uint8(2))
	f.Add(goldenID+"\n", 1, 512, "", "", "", "", "", "", "", "", uint8(2))
	f.Add(goldenID, 0, 512, "", "", "", "", "", "", "", "127.0.0.1%lo", uint8(2))
	f.Fuzz(func(t *testing.T, id string, vcpus, mem int, disk, format, cdrom, kernel, initrd, cmdline, serial, vnc string, kind uint8) {
		spec := hypervisor.Spec{InstanceID: id, VCPUs: vcpus, MemoryMB: mem, DiskPath: disk, DiskFormat: format,
			ConfigDrive: cdrom, Kernel: kernel, Initrd: initrd, Cmdline: cmdline, SerialLog: serial, VNCListen: vnc}
		domainType := []string{DomainTypeKVM, DomainTypeQEMU, DomainTypeTest}[int(kind)%3]
		doc, err := DomainXML(spec, domainType)
		verr := spec.Validate()
		if mustRefuse(spec) {
			if verr == nil || err == nil {
				t.Fatalf("spec %+v accepted (Validate: %v, DomainXML: %v), want refused", spec, verr, err)
			}
		}
		if verr != nil {
			if !errors.Is(verr, hypervisor.ErrInvalidSpec) || !errors.Is(err, hypervisor.ErrInvalidSpec) {
				t.Fatalf("refusal of %+v: Validate %v, DomainXML %v; want both to wrap ErrInvalidSpec", spec, verr, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("DomainXML of a valid spec %+v: %v", spec, err)
		}
		var dom libvirtxml.Domain
		if err := dom.Unmarshal(doc); err != nil {
			t.Fatalf("the document does not parse back: %v\n%s", err, doc)
		}
		checkDomain(t, spec, domainType, &dom)
	})
}

// checkDomain compares a parsed domain with the spec it was made from.
func checkDomain(t *testing.T, spec hypervisor.Spec, domainType string, dom *libvirtxml.Domain) {
	t.Helper()
	if dom.Type != domainType || dom.Name != hypervisor.DomainName(spec.InstanceID) || dom.UUID != spec.InstanceID {
		t.Errorf("type/name/uuid: got %q %q %q, want %q %q %q", dom.Type, dom.Name, dom.UUID,
			domainType, hypervisor.DomainName(spec.InstanceID), spec.InstanceID)
	}
	wantKiB := uint(spec.MemoryMB) * 1024
	if dom.Memory == nil || dom.Memory.Value != wantKiB || dom.Memory.Unit != "KiB" {
		t.Errorf("memory: got %+v, want %d KiB", dom.Memory, wantKiB)
	}
	if dom.VCPU == nil || dom.VCPU.Value != uint(spec.VCPUs) {
		t.Errorf("vcpus: got %+v, want %d", dom.VCPU, spec.VCPUs)
	}
	var devs libvirtxml.DomainDeviceList
	if dom.Devices != nil {
		devs = *dom.Devices
	}
	// Disks: exactly vda (the disk) and hda (the config drive) when set.
	want := map[string]string{}
	if spec.DiskPath != "" {
		want["vda"] = spec.DiskPath
	}
	if spec.ConfigDrive != "" {
		want["hda"] = spec.ConfigDrive
	}
	if len(devs.Disks) != len(want) {
		t.Errorf("%d disks, want %d", len(devs.Disks), len(want))
	}
	for _, d := range devs.Disks {
		if d.Target == nil || d.Source == nil || d.Source.File == nil || d.Driver == nil {
			t.Errorf("disk without target, file source or driver: %+v", d)
			continue
		}
		if got, ok := want[d.Target.Dev]; !ok || got != d.Source.File.File {
			t.Errorf("disk %s: source %q, want %q", d.Target.Dev, d.Source.File.File, got)
		}
		format := "raw"
		if d.Target.Dev == "vda" {
			format = spec.DiskFormat
			if format == "" {
				format = "qcow2"
			}
		}
		if d.Driver.Type != format {
			t.Errorf("disk %s: format %q, want %q (never probed)", d.Target.Dev, d.Driver.Type, format)
		}
	}
	// The serial log: the only file-backed serial port.
	var logs []string
	for _, s := range devs.Serials {
		if s.Source != nil && s.Source.File != nil {
			logs = append(logs, s.Source.File.Path)
		}
	}
	if (spec.SerialLog == "" && len(logs) != 0) || (spec.SerialLog != "" && (len(logs) != 1 || logs[0] != spec.SerialLog)) {
		t.Errorf("serial log files %q, want %q", logs, spec.SerialLog)
	}
	// VNC: one server on VNCListen, or none.
	switch {
	case spec.VNCListen == "" && len(devs.Graphics) != 0:
		t.Errorf("%d graphics devices without VNCListen", len(devs.Graphics))
	case spec.VNCListen != "":
		if len(devs.Graphics) != 1 || devs.Graphics[0].VNC == nil || len(devs.Graphics[0].VNC.Listeners) != 1 ||
			devs.Graphics[0].VNC.Listeners[0].Address == nil || devs.Graphics[0].VNC.Listeners[0].Address.Address != spec.VNCListen {
			t.Errorf("graphics %+v, want one VNC server on %q", devs.Graphics, spec.VNCListen)
		}
	}
	// Direct kernel boot (QEMU and KVM only; the test driver ignores it).
	if domainType != DomainTypeTest && dom.OS != nil {
		if dom.OS.Kernel != spec.Kernel || dom.OS.Initrd != spec.Initrd || dom.OS.Cmdline != spec.Cmdline {
			t.Errorf("kernel/initrd/cmdline: got %q %q %q, want %q %q %q", dom.OS.Kernel, dom.OS.Initrd, dom.OS.Cmdline,
				spec.Kernel, spec.Initrd, spec.Cmdline)
		}
	}
}
