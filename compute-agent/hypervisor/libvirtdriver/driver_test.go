package libvirtdriver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor/hypervisortest"
)

// testURI is libvirt's in-process test driver. All connections a process
// opens to it share one private host while any of them is open; it starts
// with a domain named "test".
const testURI = "test:///default"

func newTestDriver(t *testing.T) *Driver {
	t.Helper()
	d, err := New(testURI, Options{InstancesDir: t.TempDir()})
	if err != nil {
		t.Fatalf("New(%s): %v", testURI, err)
	}
	return d
}

// TestContract runs the driver contract against libvirt's test driver, with
// specs that use every field (the test driver does not open files).
func TestContract(t *testing.T) {
	hypervisortest.RunContract(t,
		func(t *testing.T) hypervisor.Driver {
			d, err := New(testURI, Options{})
			if err != nil {
				t.Fatalf("New(%s): %v", testURI, err)
			}
			return d
		},
		func(t *testing.T, name string) hypervisor.Spec {
			dir := filepath.Join("/var/lib/nimbus/instances", name)
			return hypervisor.Spec{
				VCPUs:       1,
				MemoryMB:    128,
				DiskPath:    filepath.Join(dir, "disk"),
				DiskFormat:  "qcow2",
				ConfigDrive: filepath.Join(dir, "disk.config"),
				SerialLog:   filepath.Join(dir, "console.log"),
				VNCListen:   "127.0.0.1",
			}
		})
}

// TestContractMinimal runs the contract with the smallest spec.
func TestContractMinimal(t *testing.T) {
	hypervisortest.RunContract(t,
		func(t *testing.T) hypervisor.Driver { return newTestDriver(t) },
		func(t *testing.T, name string) hypervisor.Spec { return hypervisor.Spec{VCPUs: 1, MemoryMB: 64} })
}

// TestContractQEMU runs the contract against a real QEMU when
// NIMBUS_TEST_LIBVIRT_QEMU names a libvirt URI (e.g. qemu:///system). Guests
// have no disk, so Shutdown falls back to a hard power off after the
// suite's timeout. Use a libvirtd that no Nimbus agent manages: an agent's
// power sync reports every nimbus- domain and the controller deletes those
// it does not know, the test's included. It is slow (a start takes seconds;
// give it -timeout 30m) and leaves domains behind if killed.
func TestContractQEMU(t *testing.T) {
	uri := os.Getenv("NIMBUS_TEST_LIBVIRT_QEMU")
	if uri == "" {
		t.Skip("set NIMBUS_TEST_LIBVIRT_QEMU=qemu:///system to run the contract against QEMU")
	}
	hypervisortest.RunContract(t,
		func(t *testing.T) hypervisor.Driver {
			d, err := New(uri, Options{})
			if err != nil {
				t.Fatalf("New(%s): %v", uri, err)
			}
			t.Logf("domain type %s", d.DomainType())
			return d
		},
		func(t *testing.T, name string) hypervisor.Spec {
			return hypervisor.Spec{VCPUs: 1, MemoryMB: 64, VNCListen: "127.0.0.1"}
		})
	t.Run("VNCPort", func(t *testing.T) {
		ctx := context.Background()
		d, err := New(uri, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		spec := hypervisor.Spec{InstanceID: hypervisortest.NewInstanceID(), VCPUs: 1, MemoryMB: 64, VNCListen: "127.0.0.1"}
		defer d.Undefine(ctx, spec.InstanceID)
		defer d.Destroy(ctx, spec.InstanceID)
		if err := d.Define(ctx, spec); err != nil {
			t.Fatal(err)
		}
		if err := d.Start(ctx, spec.InstanceID); err != nil {
			t.Fatal(err)
		}
		st, err := d.Get(ctx, spec.InstanceID)
		if err != nil || st.VNCPort < 5900 {
			t.Fatalf("Get = %+v, %v; want a VNC port", st, err)
		}
	})
}

func TestNewTestDriver(t *testing.T) {
	d := newTestDriver(t)
	defer d.Close()
	if d.DomainType() != DomainTypeTest {
		t.Errorf("DomainType = %q, want test", d.DomainType())
	}
	info, err := d.HostInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The test driver's node: 16 CPUs, 3 GiB, capabilities for i686.
	if info.HypervisorType != "Test" || info.DomainType != "test" || info.VCPUs != 16 ||
		info.MemoryMB != 3072 || info.Arch != "i686" || info.Hostname == "" || info.DiskGB <= 0 {
		t.Errorf("HostInfo = %+v", info)
	}
}

func TestNewRejectsUnsuitableDomainType(t *testing.T) {
	for _, typ := range []string{DomainTypeKVM, DomainTypeQEMU, "xen"} {
		if d, err := New(testURI, Options{DomainType: typ}); err == nil {
			d.Close()
			t.Errorf("New(%s, DomainType %q): no error", testURI, typ)
		}
	}
	d, err := New(testURI, Options{DomainType: DomainTypeTest})
	if err != nil {
		t.Fatalf("explicit test domain type: %v", err)
	}
	d.Close()
	// A socket that does not exist: fails without reaching any daemon.
	if _, err := New("qemu+unix:///system?socket="+filepath.Join(t.TempDir(), "none.sock"), Options{}); err == nil {
		t.Error("New with a URI libvirt cannot open: no error")
	}
}

// TestListOnlyNimbusDomains defines foreign domains next to a Nimbus one
// through a second connection to the same test host: List reports only the
// Nimbus domain, never the predefined "test" domain.
func TestListOnlyNimbusDomains(t *testing.T) {
	ctx := context.Background()
	d := newTestDriver(t)
	defer d.Close()
	raw, err := libvirt.NewConnect(testURI)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if dom, err := raw.LookupDomainByName("test"); err != nil {
		t.Fatalf("the test driver's predefined domain is missing: %v", err)
	} else {
		dom.Free()
	}
	for _, name := range []string{"other", hypervisor.DomainPrefix + "not-a-uuid", "x" + hypervisor.DomainName(hypervisortest.NewInstanceID())} {
		doc, err := (&libvirtxml.Domain{
			Type: "test", Name: name,
			Memory: &libvirtxml.DomainMemory{Value: 65536, Unit: "KiB"},
			VCPU:   &libvirtxml.DomainVCPU{Value: 1},
			OS:     &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Type: "hvm"}},
		}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		dom, err := raw.DomainDefineXML(doc)
		if err != nil {
			t.Fatalf("define foreign domain %s: %v", name, err)
		}
		defer func() { dom.Undefine(); dom.Free() }()
	}
	id := hypervisortest.NewInstanceID()
	if err := d.Define(ctx, hypervisor.Spec{InstanceID: id, VCPUs: 1, MemoryMB: 64}); err != nil {
		t.Fatal(err)
	}
	defer d.Undefine(ctx, id)
	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(list, hypervisor.Status{InstanceID: id, State: hypervisor.Shutoff}) {
		t.Errorf("List = %+v, misses %s", list, id)
	}
	for _, st := range list {
		if hypervisor.ValidateInstanceID(st.InstanceID) != nil {
			t.Errorf("List reports a foreign domain: %+v", st)
		}
	}
}

// TestDefineUsesDomainXML checks what the test driver stored.
func TestDefineUsesDomainXML(t *testing.T) {
	ctx := context.Background()
	d := newTestDriver(t)
	defer d.Close()
	id := hypervisortest.NewInstanceID()
	spec := hypervisor.Spec{InstanceID: id, VCPUs: 3, MemoryMB: 300, DiskPath: "/srv/it's <mine> & yours/disk", DiskFormat: "raw"}
	if err := d.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	defer d.Undefine(ctx, id)
	raw, err := libvirt.NewConnect(testURI)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	dom, err := raw.LookupDomainByUUIDString(id)
	if err != nil {
		t.Fatalf("no domain with the instance's uuid: %v", err)
	}
	defer dom.Free()
	doc, err := dom.GetXMLDesc(0)
	if err != nil {
		t.Fatal(err)
	}
	var got libvirtxml.Domain
	if err := got.Unmarshal(doc); err != nil {
		t.Fatal(err)
	}
	if got.Name != hypervisor.DomainName(id) || got.VCPU.Value != 3 || got.Memory.Value != 300*1024 ||
		len(got.Devices.Disks) != 1 || got.Devices.Disks[0].Source.File.File != spec.DiskPath {
		t.Errorf("stored definition:\n%s", doc)
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	d := newTestDriver(t)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	id := hypervisortest.NewInstanceID()
	if _, err := d.Get(ctx, id); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if err := d.Define(ctx, hypervisor.Spec{InstanceID: id, VCPUs: 1, MemoryMB: 64}); !errors.Is(err, ErrClosed) {
		t.Errorf("Define after Close: %v, want ErrClosed", err)
	}
	if _, err := d.List(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("List after Close: %v, want ErrClosed", err)
	}
	if _, err := d.HostInfo(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("HostInfo after Close: %v, want ErrClosed", err)
	}
}

func TestPowerState(t *testing.T) {
	tests := []struct {
		state  libvirt.DomainState
		reason int
		want   hypervisor.PowerState
	}{
		{libvirt.DOMAIN_RUNNING, 1, hypervisor.Running},
		{libvirt.DOMAIN_BLOCKED, 0, hypervisor.Running},
		{libvirt.DOMAIN_SHUTDOWN, 1, hypervisor.Running},
		{libvirt.DOMAIN_PAUSED, 1, hypervisor.Paused},
		{libvirt.DOMAIN_PAUSED, int(libvirt.DOMAIN_PAUSED_STARTING_UP), hypervisor.Running},
		{libvirt.DOMAIN_PAUSED, int(libvirt.DOMAIN_PAUSED_IOERROR), hypervisor.Paused},
		{libvirt.DOMAIN_PMSUSPENDED, 0, hypervisor.Paused},
		{libvirt.DOMAIN_SHUTOFF, int(libvirt.DOMAIN_SHUTOFF_SHUTDOWN), hypervisor.Shutoff},
		{libvirt.DOMAIN_SHUTOFF, int(libvirt.DOMAIN_SHUTOFF_DESTROYED), hypervisor.Shutoff},
		{libvirt.DOMAIN_SHUTOFF, int(libvirt.DOMAIN_SHUTOFF_CRASHED), hypervisor.Crashed},
		{libvirt.DOMAIN_CRASHED, 0, hypervisor.Crashed},
		{libvirt.DOMAIN_NOSTATE, 0, hypervisor.NoState},
		{libvirt.DomainState(99), 0, hypervisor.NoState},
	}
	for _, tt := range tests {
		if got := powerState(tt.state, tt.reason); got != tt.want {
			t.Errorf("powerState(%d, %d) = %q, want %q", tt.state, tt.reason, got, tt.want)
		}
	}
}

func TestVNCPort(t *testing.T) {
	tests := []struct {
		doc  string
		want int
	}{
		{`<domain><devices><graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics></devices></domain>`, 5901},
		{`<domain><devices><graphics type='vnc' port='-1' autoport='yes'/></devices></domain>`, 0},
		{`<domain><devices><graphics type='spice' port='5930'/><graphics type='vnc' port='5902'/></devices></domain>`, 5902},
		{`<domain><devices><disk type='file' device='disk'/></devices></domain>`, 0},
		{`<domain/>`, 0},
	}
	for _, tt := range tests {
		got, err := vncPort(tt.doc)
		if err != nil || got != tt.want {
			t.Errorf("vncPort(%s) = %d, %v; want %d", tt.doc, got, err, tt.want)
		}
	}
	if _, err := vncPort("<domain"); err == nil {
		t.Error("vncPort of broken XML: no error")
	}
}

func TestKVMDetection(t *testing.T) {
	dir := t.TempDir()
	dev := filepath.Join(dir, "kvm")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, flags string) string {
		p := filepath.Join(dir, name)
		doc := "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: " + flags + "\n\nprocessor\t: 1\nflags\t\t: " + flags + "\n"
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	vmx := write("vmx", "fpu vme de pse vmx ssse3")
	svm := write("svm", "fpu svm lahf_lm")
	none := write("none", "fpu vme de pse hypervisor ssse3 vmxnot")
	for _, tt := range []struct {
		dev, cpuinfo string
		want         bool
	}{
		{dev, vmx, true},
		{dev, svm, true},
		{dev, none, false}, // /dev/kvm without hardware virtualization (kvm-pvm)
		{filepath.Join(dir, "missing"), vmx, false},    // no /dev/kvm
		{dev, filepath.Join(dir, "no-cpuinfo"), false}, // unreadable cpuinfo
	} {
		if got := kvmUsable(tt.dev, tt.cpuinfo); got != tt.want {
			t.Errorf("kvmUsable(%s, %s) = %v, want %v", tt.dev, tt.cpuinfo, got, tt.want)
		}
	}

	caps := func(domains ...string) *libvirtxml.Caps {
		c := &libvirtxml.Caps{Guests: []libvirtxml.CapsGuest{
			{OSType: "hvm", Arch: libvirtxml.CapsGuestArch{Name: "i686", Domains: []libvirtxml.CapsGuestDomain{{Type: "kvm"}}}},
			{OSType: "hvm", Arch: libvirtxml.CapsGuestArch{Name: "x86_64"}},
		}}
		for _, d := range domains {
			c.Guests[1].Arch.Domains = append(c.Guests[1].Arch.Domains, libvirtxml.CapsGuestDomain{Type: d})
		}
		return c
	}
	if !capsHaveKVM(caps("qemu", "kvm")) {
		t.Error("capsHaveKVM misses the x86_64 kvm domain")
	}
	if capsHaveKVM(caps("qemu")) {
		t.Error("capsHaveKVM reports kvm for an x86_64 guest with qemu only (the i686 kvm must not count)")
	}
}

// TestDetectionOnThisHost checks what New picks for QEMU on this machine
// when NIMBUS_TEST_LIBVIRT_QEMU is set: qemu unless KVM is really usable.
func TestDetectionOnThisHost(t *testing.T) {
	uri := os.Getenv("NIMBUS_TEST_LIBVIRT_QEMU")
	if uri == "" {
		t.Skip("set NIMBUS_TEST_LIBVIRT_QEMU=qemu:///system to check detection against QEMU")
	}
	d, err := New(uri, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	want := DomainTypeQEMU
	if kvmUsable(kvmDevice, cpuinfoPath) {
		want = DomainTypeKVM
	}
	if d.DomainType() != want {
		t.Errorf("DomainType = %q, want %q", d.DomainType(), want)
	}
	info, err := d.HostInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.HypervisorType != "QEMU" || info.Arch != "x86_64" {
		t.Errorf("HostInfo = %+v", info)
	}
}
