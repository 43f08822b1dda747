package libvirtdriver

import (
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
)

// update rewrites the golden files: go test ./compute-agent/hypervisor/libvirtdriver -run TestDomainXMLGolden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const goldenID = "0b3c1c8e-5f2a-4d6e-9a41-7c2d8e9f1a3b"

func fullSpec() hypervisor.Spec {
	return hypervisor.Spec{
		InstanceID:  goldenID,
		VCPUs:       2,
		MemoryMB:    2048,
		DiskPath:    "/var/lib/nimbus/instances/" + goldenID + "/disk",
		DiskFormat:  "qcow2",
		ConfigDrive: "/var/lib/nimbus/instances/" + goldenID + "/disk.config",
		Kernel:      "/var/lib/nimbus/instances/" + goldenID + "/kernel",
		Initrd:      "/var/lib/nimbus/instances/" + goldenID + "/ramdisk",
		Cmdline:     "root=/dev/vda1 console=ttyS0 ds=nocloud",
		SerialLog:   "/var/lib/nimbus/instances/" + goldenID + "/console.log",
		VNCListen:   "127.0.0.1",
		NICs: []hypervisor.NIC{{Device: "tap5e1d2c3b-4a", MAC: "fa:16:3e:12:34:56", MTU: 1450},
			{Device: "tap0a1b2c3d-4e", MAC: "fa:16:3e:ab:cd:ef"}},
	}
}

// volumesSpec boots from a volume read over NBD through a relay's
// socket, with a data volume that is a file of the host's own pool.
func volumesSpec() hypervisor.Spec {
	s := fullSpec()
	s.DiskPath, s.Kernel, s.Initrd, s.Cmdline = "", "", "", ""
	s.RootVolume = &hypervisor.Volume{Device: "vda", Serial: "5f0c7a44-9d1e-4c3b-8a2f-6e7d1b0c9a11",
		Socket: "/var/lib/nimbus/relays/9b1d7c2e-3f4a-4b5c-8d6e-7f8091a2b3c4/s"}
	s.Volumes = []hypervisor.Volume{{Device: "vdb", Serial: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
		File: "/var/lib/nimbus/volumes/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d.qcow2"}}
	return s
}

func TestDomainXMLGolden(t *testing.T) {
	tests := []struct {
		golden     string
		spec       hypervisor.Spec
		domainType string
	}{
		{"minimal-test.xml", hypervisor.Spec{InstanceID: goldenID, VCPUs: 1, MemoryMB: 512}, DomainTypeTest},
		{"full-qemu.xml", fullSpec(), DomainTypeQEMU},
		{"full-kvm.xml", fullSpec(), DomainTypeKVM},
		{"volumes-qemu.xml", volumesSpec(), DomainTypeQEMU},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := DomainXML(tt.spec, tt.domainType)
			if err != nil {
				t.Fatalf("DomainXML: %v", err)
			}
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("DomainXML differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
			}
			var dom libvirtxml.Domain
			if err := dom.Unmarshal(got); err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			if dom.Name != hypervisor.DomainName(tt.spec.InstanceID) || dom.UUID != tt.spec.InstanceID || dom.Type != tt.domainType {
				t.Errorf("identity = %q %q %q", dom.Type, dom.Name, dom.UUID)
			}
		})
	}
}

// nic is a one-NIC list (a new slice: specs must not share one).
func nic(dev, mac string, mtu int) []hypervisor.NIC {
	return []hypervisor.NIC{{Device: dev, MAC: mac, MTU: mtu}}
}

func TestDomainXMLRejectsInvalidSpecs(t *testing.T) {
	ok := fullSpec()
	tests := []struct {
		name   string
		mutate func(*hypervisor.Spec)
	}{
		{"xml in instance id", func(s *hypervisor.Spec) { s.InstanceID = `"><evil/>` }},
		{"xml after uuid", func(s *hypervisor.Spec) { s.InstanceID = goldenID + `"><evil/>` }},
		{"empty instance id", func(s *hypervisor.Spec) { s.InstanceID = "" }},
		{"uppercase uuid", func(s *hypervisor.Spec) { s.InstanceID = strings.ToUpper(goldenID) }},
		{"braced uuid", func(s *hypervisor.Spec) { s.InstanceID = "{" + goldenID[:34] + "}" }},
		{"uuid without hyphens", func(s *hypervisor.Spec) { s.InstanceID = strings.ReplaceAll(goldenID, "-", "") + "abcd" }},
		{"a root volume beside a root disk", func(s *hypervisor.Spec) { s.RootVolume = &volumesSpec().Volumes[0]; s.RootVolume.Device = "vda" }},
		{"a data volume at vda", func(s *hypervisor.Spec) { s.Volumes = volumesSpec().Volumes; s.Volumes[0].Device = "vda" }},
		{"a data volume at vdb beside the second disk", func(s *hypervisor.Spec) { s.SecondDisk = "/srv/x"; s.Volumes = volumesSpec().Volumes }},
		{"a volume both file and socket", func(s *hypervisor.Spec) { s.Volumes = volumesSpec().Volumes; s.Volumes[0].Socket = "/run/s" }},
		{"xml in a volume's path", func(s *hypervisor.Spec) { s.Volumes = volumesSpec().Volumes; s.Volumes[0].File = `/srv/a'/><evil/>` }},
		{"a volume serial that is no uuid", func(s *hypervisor.Spec) { s.Volumes = volumesSpec().Volumes; s.Volumes[0].Serial = "x" }},
		{"zero vcpus", func(s *hypervisor.Spec) { s.VCPUs = 0 }},
		{"negative vcpus", func(s *hypervisor.Spec) { s.VCPUs = -1 }},
		{"too many vcpus", func(s *hypervisor.Spec) { s.VCPUs = hypervisor.MaxVCPUs + 1 }},
		{"zero memory", func(s *hypervisor.Spec) { s.MemoryMB = 0 }},
		{"negative memory", func(s *hypervisor.Spec) { s.MemoryMB = -512 }},
		{"huge memory", func(s *hypervisor.Spec) { s.MemoryMB = hypervisor.MaxMemoryMB + 1 }},
		{"relative disk", func(s *hypervisor.Spec) { s.DiskPath = "disk" }},
		{"unclean disk", func(s *hypervisor.Spec) { s.DiskPath = "/var/lib/nimbus/../../etc/shadow" }},
		{"disk with newline", func(s *hypervisor.Spec) { s.DiskPath = "/var/lib/disk\n" }},
		{"disk with nul", func(s *hypervisor.Spec) { s.DiskPath = "/var/lib/disk\x00" }},
		{"disk invalid utf8", func(s *hypervisor.Spec) { s.DiskPath = "/var/lib/\xff" }},
		{"unknown format", func(s *hypervisor.Spec) { s.DiskFormat = "vmdk" }},
		{"relative config drive", func(s *hypervisor.Spec) { s.ConfigDrive = "config.iso" }},
		{"relative kernel", func(s *hypervisor.Spec) { s.Kernel = "./vmlinuz" }},
		{"relative initrd", func(s *hypervisor.Spec) { s.Initrd = "initrd" }},
		{"relative serial log", func(s *hypervisor.Spec) { s.SerialLog = "console.log" }},
		{"initrd without kernel", func(s *hypervisor.Spec) { s.Kernel = "" }},
		{"cmdline without kernel", func(s *hypervisor.Spec) { s.Kernel, s.Initrd = "", "" }},
		{"cmdline control char", func(s *hypervisor.Spec) { s.Cmdline = "console=ttyS0\x1b[2J" }},
		{"vnc host name", func(s *hypervisor.Spec) { s.VNCListen = "localhost" }},
		{"tap name with a quote", func(s *hypervisor.Spec) { s.NICs = nic(`tap"/><evil`, "fa:16:3e:12:34:56", 0) }},
		{"not a tap", func(s *hypervisor.Spec) { s.NICs = nic("eth0", "fa:16:3e:12:34:56", 0) }},
		{"tap name too long", func(s *hypervisor.Spec) { s.NICs = nic("tap0123456789abc", "fa:16:3e:12:34:56", 0) }},
		{"bad MAC", func(s *hypervisor.Spec) { s.NICs = nic("tap0a1b", "fa:16:3e:12:34", 0) }},
		{"MAC in capitals", func(s *hypervisor.Spec) { s.NICs = nic("tap0a1b", "FA:16:3E:12:34:56", 0) }},
		{"negative MTU", func(s *hypervisor.Spec) { s.NICs = nic("tap0a1b", "fa:16:3e:12:34:56", -1) }},
		{"vnc xml", func(s *hypervisor.Spec) { s.VNCListen = `127.0.0.1'/><evil/>` }},
		{"vnc zone", func(s *hypervisor.Spec) { s.VNCListen = "fe80::1%eth0" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.mutate(&s)
			for _, typ := range []string{DomainTypeQEMU, DomainTypeTest} {
				doc, err := DomainXML(s, typ)
				if !errors.Is(err, hypervisor.ErrInvalidSpec) {
					t.Errorf("%s: DomainXML error = %v, want ErrInvalidSpec", typ, err)
				}
				if doc != "" {
					t.Errorf("%s: DomainXML returned a document for an invalid spec:\n%s", typ, doc)
				}
			}
		})
	}
	if _, err := DomainXML(ok, "xen"); !errors.Is(err, hypervisor.ErrInvalidSpec) {
		t.Errorf("unknown domain type: error = %v, want ErrInvalidSpec", err)
	}
	if _, err := DomainXML(ok, DomainTypeQEMU); err != nil {
		t.Errorf("valid spec rejected: %v", err)
	}
}

// TestDomainXMLEscapesPaths feeds XML metacharacters through every free-form
// field: the encoder must escape them so that they come back unchanged and
// add no element or attribute.
func TestDomainXMLEscapesPaths(t *testing.T) {
	const evil = `/srv/a'b"c<d>e&f]]>/<evil attr="x"/>' evil='1`
	s := hypervisor.Spec{
		InstanceID:  goldenID,
		VCPUs:       1,
		MemoryMB:    256,
		DiskPath:    evil + "/disk",
		ConfigDrive: evil + "/config",
		Kernel:      evil + "/kernel",
		Initrd:      evil + "/initrd",
		Cmdline:     `console=ttyS0 x="</cmdline><evil/>" y='&amp;'`,
		SerialLog:   evil + "/log",
		VNCListen:   "::1",
	}
	for _, typ := range []string{DomainTypeQEMU, DomainTypeKVM, DomainTypeTest} {
		doc, err := DomainXML(s, typ)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if strings.Contains(doc, "<evil") || strings.Contains(doc, "evil='1") {
			t.Errorf("%s: unescaped markup in output:\n%s", typ, doc)
		}
		// Every element must be one libvirt knows; a generic walk finds any
		// injected element wherever it ended up.
		dec := xml.NewDecoder(strings.NewReader(doc))
		for {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "evil" {
				t.Errorf("%s: injected element found", typ)
			}
		}
		var dom libvirtxml.Domain
		if err := dom.Unmarshal(doc); err != nil {
			t.Fatalf("%s: output does not parse: %v", typ, err)
		}
		var paths []string
		for _, d := range dom.Devices.Disks {
			paths = append(paths, d.Source.File.File)
		}
		for _, ser := range dom.Devices.Serials {
			if ser.Source.File != nil {
				paths = append(paths, ser.Source.File.Path)
			}
		}
		want := []string{s.DiskPath, s.ConfigDrive, s.SerialLog}
		if strings.Join(paths, "|") != strings.Join(want, "|") {
			t.Errorf("%s: paths = %q, want %q", typ, paths, want)
		}
		if typ != DomainTypeTest {
			if dom.OS.Kernel != s.Kernel || dom.OS.Initrd != s.Initrd || dom.OS.Cmdline != s.Cmdline {
				t.Errorf("%s: kernel boot = %q %q %q", typ, dom.OS.Kernel, dom.OS.Initrd, dom.OS.Cmdline)
			}
		}
	}
}

func TestDomainXMLRawDisk(t *testing.T) {
	s := hypervisor.Spec{InstanceID: goldenID, VCPUs: 1, MemoryMB: 256, DiskPath: "/srv/disk.img", DiskFormat: "raw"}
	doc, err := DomainXML(s, DomainTypeQEMU)
	if err != nil {
		t.Fatal(err)
	}
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(doc); err != nil {
		t.Fatal(err)
	}
	if got := dom.Devices.Disks[0].Driver.Type; got != "raw" {
		t.Errorf("disk format = %q, want raw", got)
	}
	s.DiskFormat = ""
	doc, err = DomainXML(s, DomainTypeQEMU)
	if err != nil {
		t.Fatal(err)
	}
	dom = libvirtxml.Domain{}
	if err := dom.Unmarshal(doc); err != nil {
		t.Fatal(err)
	}
	if got := dom.Devices.Disks[0].Driver.Type; got != "qcow2" {
		t.Errorf("default disk format = %q, want qcow2 (never probed)", got)
	}
	if n := len(dom.Devices.Serials); n != 1 || dom.Devices.Serials[0].Source.Pty == nil {
		t.Errorf("without a serial log the pty console should be serial port 0, got %d serials", n)
	}
}

// TestDomainXMLMatchesLibvirtSchema runs libvirt's own validator over every
// golden document: Define no longer asks libvirt to validate (it cost
// most of the agent's CPU), so the schema check happens here, once.
func TestDomainXMLMatchesLibvirtSchema(t *testing.T) {
	if _, err := exec.LookPath("virt-xml-validate"); err != nil {
		t.Fatal("virt-xml-validate not installed (package libvirt-clients; make deps installs it)")
	}
	files, err := filepath.Glob("testdata/*.xml")
	if err != nil || len(files) < 3 {
		t.Fatalf("golden documents: %v, %v", files, err)
	}
	for _, f := range files {
		if out, err := exec.Command("virt-xml-validate", f, "domain").CombinedOutput(); err != nil {
			t.Errorf("%s does not match libvirt's domain schema: %v\n%s", f, err, out)
		}
	}
}
