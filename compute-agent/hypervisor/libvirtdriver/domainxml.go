package libvirtdriver

import (
	"fmt"

	"libvirt.org/go/libvirtxml"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
)

// Domain types DomainXML understands (the <domain type=...> attribute).
const (
	DomainTypeKVM  = "kvm"  // QEMU with hardware acceleration
	DomainTypeQEMU = "qemu" // QEMU with TCG (software emulation)
	DomainTypeTest = "test" // libvirt's test:/// driver, for tests
)

// Fixed parts of a QEMU/KVM domain.
const (
	qemuArch    = "x86_64"
	qemuMachine = "pc" // i440fx with SeaBIOS
	rngDevice   = "/dev/urandom"
	// balloonStatsPeriod is how often (seconds) the guest balloon driver
	// reports memory statistics.
	balloonStatsPeriod = 10
)

// DomainXML returns the libvirt domain definition of spec for domainType
// ("kvm", "qemu" or "test"). The spec is validated first (errors wrap
// hypervisor.ErrInvalidSpec); the document is produced by encoding/xml
// through libvirtxml's structs, so every value is escaped by the encoder and
// no value can add elements or attributes.
//
// QEMU and KVM domains are x86_64 "pc" machines booting with SeaBIOS from
// the disk, then the cdrom (or directly from Kernel when set), with ACPI (so
// Shutdown works), a virtio disk, the config drive as a read-only IDE cdrom,
// serial port 0 written to SerialLog plus an interactive pty console (see
// addSerial), VNC on VNCListen with an automatic port, a virtio RNG
// fed from /dev/urandom and a virtio memory balloon. KVM domains also use
// the host-model CPU; TCG domains use QEMU's default CPU model.
//
// Test domains are the minimum libvirt's test driver accepts (os type hvm,
// no arch or machine, since its capabilities only know i686) plus the disk,
// cdrom, serial and VNC devices the spec asks for.
func DomainXML(spec hypervisor.Spec, domainType string) (string, error) {
	if err := spec.Validate(); err != nil {
		return "", err
	}
	var dom *libvirtxml.Domain
	switch domainType {
	case DomainTypeKVM, DomainTypeQEMU:
		dom = qemuDomain(spec, domainType)
	case DomainTypeTest:
		dom = testDomain(spec)
	default:
		return "", fmt.Errorf("%w: domain type %q is not kvm, qemu or test", hypervisor.ErrInvalidSpec, domainType)
	}
	doc, err := dom.Marshal()
	if err != nil {
		return "", fmt.Errorf("marshal domain %s: %w", dom.Name, err)
	}
	return doc + "\n", nil
}

// baseDomain holds what every domain type shares: identity, size and
// lifecycle actions.
func baseDomain(spec hypervisor.Spec, domainType string) *libvirtxml.Domain {
	return &libvirtxml.Domain{
		Type:          domainType,
		Name:          hypervisor.DomainName(spec.InstanceID),
		UUID:          spec.InstanceID,
		Memory:        &libvirtxml.DomainMemory{Value: uint(spec.MemoryMB) * 1024, Unit: "KiB"},
		CurrentMemory: &libvirtxml.DomainCurrentMemory{Value: uint(spec.MemoryMB) * 1024, Unit: "KiB"},
		VCPU:          &libvirtxml.DomainVCPU{Placement: "static", Value: uint(spec.VCPUs)},
		OS:            &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Type: "hvm"}},
		Clock:         &libvirtxml.DomainClock{Offset: "utc"},
		OnPoweroff:    "destroy",
		OnReboot:      "restart",
		OnCrash:       "destroy",
		Devices:       &libvirtxml.DomainDeviceList{},
	}
}

func qemuDomain(spec hypervisor.Spec, domainType string) *libvirtxml.Domain {
	dom := baseDomain(spec, domainType)
	dom.OS.Type.Arch = qemuArch
	dom.OS.Type.Machine = qemuMachine
	dom.OS.Kernel = spec.Kernel
	dom.OS.Initrd = spec.Initrd
	dom.OS.Cmdline = spec.Cmdline
	dom.OS.BootDevices = []libvirtxml.DomainBootDevice{{Dev: "hd"}, {Dev: "cdrom"}}
	dom.Features = &libvirtxml.DomainFeatureList{
		ACPI: &libvirtxml.DomainFeature{},
		APIC: &libvirtxml.DomainFeatureAPIC{},
	}
	if domainType == DomainTypeKVM {
		dom.CPU = &libvirtxml.DomainCPU{Mode: "host-model"}
	}
	dev := dom.Devices
	addStorage(dev, spec, "virtio", "ide")
	addNICs(dev, spec)
	addSerial(dev, spec, true)
	if spec.VNCListen != "" {
		addVNC(dev, spec)
		dev.Inputs = []libvirtxml.DomainInput{{Type: "tablet", Bus: "usb"}}
		dev.Videos = []libvirtxml.DomainVideo{{Model: libvirtxml.DomainVideoModel{Type: "vga"}}}
	}
	dev.RNGs = []libvirtxml.DomainRNG{{
		Model: "virtio",
		Backend: &libvirtxml.DomainRNGBackend{
			Random: &libvirtxml.DomainRNGBackendRandom{Device: rngDevice},
		},
	}}
	dev.MemBalloon = &libvirtxml.DomainMemBalloon{
		Model: "virtio",
		Stats: &libvirtxml.DomainMemBalloonStats{Period: balloonStatsPeriod},
	}
	return dom
}

func testDomain(spec hypervisor.Spec) *libvirtxml.Domain {
	dom := baseDomain(spec, DomainTypeTest)
	addStorage(dom.Devices, spec, "virtio", "ide")
	addSerial(dom.Devices, spec, false)
	if spec.VNCListen != "" {
		addVNC(dom.Devices, spec)
	}
	return dom
}

// addNICs adds a virtio NIC per spec.NICs on its tap device, which the
// agent's datapath made and put on the network's bridge (managed='no':
// libvirt opens the device and never makes or deletes it).
func addNICs(dev *libvirtxml.DomainDeviceList, spec hypervisor.Spec) {
	for _, n := range spec.NICs {
		dev.Interfaces = append(dev.Interfaces, nicXML(n))
	}
}

func nicXML(n hypervisor.NIC) libvirtxml.DomainInterface {
	iface := libvirtxml.DomainInterface{
		MAC:    &libvirtxml.DomainInterfaceMAC{Address: n.MAC},
		Source: &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}},
		Target: &libvirtxml.DomainInterfaceTarget{Dev: n.Device, Managed: "no"},
		Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
	}
	if n.MTU > 0 {
		iface.MTU = &libvirtxml.DomainInterfaceMTU{Size: uint(n.MTU)}
	}
	return iface
}

// addStorage adds the root disk (vda: a file, or a volume), a second disk
// (vdb), the config drive (hda, read-only cdrom) and the data volumes. Formats are always explicit so the hypervisor never probes them.
func addStorage(dev *libvirtxml.DomainDeviceList, spec hypervisor.Spec, diskBus, cdromBus string) {
	if spec.RootVolume != nil {
		dev.Disks = append(dev.Disks, volumeDisk(*spec.RootVolume))
	}
	defer func() { // the data volumes after every other disk
		for _, v := range spec.Volumes {
			dev.Disks = append(dev.Disks, volumeDisk(v))
		}
	}()
	if spec.DiskPath != "" {
		format := spec.DiskFormat
		if format == "" {
			format = "qcow2"
		}
		dev.Disks = append(dev.Disks, libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: format},
			Source: &libvirtxml.DomainDiskSource{
				File: &libvirtxml.DomainDiskSourceFile{File: spec.DiskPath},
			},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: diskBus},
		})
	}
	if spec.SecondDisk != "" {
		dev.Disks = append(dev.Disks, libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
			Source: &libvirtxml.DomainDiskSource{
				File: &libvirtxml.DomainDiskSourceFile{File: spec.SecondDisk},
			},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vdb", Bus: diskBus},
		})
	}
	if spec.ConfigDrive != "" {
		dev.Disks = append(dev.Disks, libvirtxml.DomainDisk{
			Device: "cdrom",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
			Source: &libvirtxml.DomainDiskSource{
				File: &libvirtxml.DomainDiskSourceFile{File: spec.ConfigDrive},
			},
			Target:   &libvirtxml.DomainDiskTarget{Dev: "hda", Bus: cdromBus},
			ReadOnly: &libvirtxml.DomainDiskReadOnly{},
		})
	}
}

// addSerial sends serial port 0 (ttyS0, where console=ttyS0 kernels log)
// to SerialLog when it is set. With pty, an interactive console is added as
// well. libvirt treats a first <console> with a serial target as an alias of
// serial port 0, so when port 0 is the log file the pty console is a virtio
// console (hvc0, on which systemd starts a getty by itself) and libvirt adds
// the alias of the file serial as console 0; without a log file the pty
// console is serial port 0 itself.
func addSerial(dev *libvirtxml.DomainDeviceList, spec hypervisor.Spec, pty bool) {
	port := uint(0)
	if spec.SerialLog != "" {
		dev.Serials = append(dev.Serials, libvirtxml.DomainSerial{
			Source: &libvirtxml.DomainChardevSource{
				File: &libvirtxml.DomainChardevSourceFile{Path: spec.SerialLog},
			},
			Target: &libvirtxml.DomainSerialTarget{Type: "isa-serial", Port: &port},
		})
	}
	if !pty {
		return
	}
	ptySource := &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}}
	consolePort := uint(0)
	if spec.SerialLog != "" {
		dev.Consoles = append(dev.Consoles, libvirtxml.DomainConsole{
			Source: ptySource,
			Target: &libvirtxml.DomainConsoleTarget{Type: "virtio", Port: &consolePort},
		})
		return
	}
	dev.Serials = append(dev.Serials, libvirtxml.DomainSerial{
		Source: ptySource,
		Target: &libvirtxml.DomainSerialTarget{Type: "isa-serial", Port: &port},
	})
	dev.Consoles = append(dev.Consoles, libvirtxml.DomainConsole{
		Source: ptySource,
		Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &consolePort},
	})
}

// addVNC adds a VNC server on VNCListen with a port chosen by libvirt.
func addVNC(dev *libvirtxml.DomainDeviceList, spec hypervisor.Spec) {
	dev.Graphics = append(dev.Graphics, libvirtxml.DomainGraphic{
		VNC: &libvirtxml.DomainGraphicVNC{
			AutoPort: "yes",
			Listeners: []libvirtxml.DomainGraphicListener{{
				Address: &libvirtxml.DomainGraphicListenerAddress{Address: spec.VNCListen},
			}},
		},
	})
}
