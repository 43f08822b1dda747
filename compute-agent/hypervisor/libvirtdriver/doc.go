// Package libvirtdriver implements hypervisor.Driver with libvirt, through
// the cgo binding libvirt.org/go/libvirt (one connection per Driver) and the
// XML structs of libvirt.org/go/libvirtxml.
//
// # Domains
//
// DomainXML turns a hypervisor.Spec into a domain definition. The document
// is always built from structs and encoded by encoding/xml, never by
// concatenating strings, and the spec is validated first (canonical UUID,
// positive sizes, absolute clean paths, an IP address for VNC, no control
// characters), so no value can inject markup. The domain's name is
// hypervisor.DomainName(id) ("nimbus-<uuid>") and its <uuid> is the instance
// id. Three domain types exist:
//
//   - "kvm" and "qemu" (TCG): an x86_64 "pc" machine (i440fx, SeaBIOS),
//     booting from the virtio disk then the cdrom, or directly from a
//     kernel; ACPI, the config drive as a read-only IDE cdrom, serial port 0
//     written to a file plus an interactive pty console, VNC with an
//     automatic port, virtio RNG and memory balloon; destroy on power off
//     and crash, restart on reboot.
//   - "test": the minimum libvirt's test:/// driver accepts, for tests.
//
// The golden files in testdata/ show the exact output; after a deliberate
// change, rewrite them with
//
//	go test ./compute-agent/hypervisor/libvirtdriver -run TestDomainXMLGolden -update
//
// # Choosing the domain type
//
// New picks "test" for the test driver. For QEMU it picks "kvm" only when
// /dev/kvm opens read-write, the CPU flags include vmx or svm and libvirt's
// capabilities offer a kvm domain for x86_64; otherwise "qemu". Hosts with
// the kvm-pvm module (such as Nimbus's build machines) expose /dev/kvm and
// libvirt lists kvm, but cannot run ordinary guests there; without vmx/svm
// they fall back to TCG. Options.DomainType forces a type.
//
// # Power operations
//
// Every operation reads the domain's state first, so repeating one is not
// an error (starting a running domain, destroying a stopped one), and
// re-reads it when libvirt refuses, to absorb races with the guest.
// Shutdown presses the ACPI power button, polls every 100 ms and powers off
// hard at the deadline; a hard reboot is destroy + start, so it also picks
// up a definition changed while the domain ran. Undefine removes managed
// save, snapshot/checkpoint metadata and NVRAM, retrying with fewer flags on
// drivers that do not know them (the test driver).
//
// # Concurrency
//
// The libvirt binding is safe for concurrent use, so methods run in
// parallel. The only lock, an RWMutex, keeps Close from freeing the
// connection under a call in progress; libvirt itself serializes jobs on
// the same domain. libvirtd serves at most max_client_requests (default 5)
// calls of one connection at once; further calls wait in the daemon.
//
// # Tests
//
// driver_test.go runs the contract suite (package hypervisortest) against
// libvirt's test:///default driver, which runs inside the test process and
// needs no daemon. Setting NIMBUS_TEST_LIBVIRT_QEMU=qemu:///system also runs
// it against a real QEMU (TCG guests without a disk; slow: each start takes
// seconds on a loaded machine; see the test for caveats).
package libvirtdriver
