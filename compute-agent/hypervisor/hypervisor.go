// Package hypervisor is the contract between the compute agent and the
// hypervisor it drives: a Driver defines, powers and removes the virtual
// machines ("domains") of Nimbus instances and reports their state and the
// host's capacity.
//
// The only identifier that crosses this boundary is the instance UUID. The
// domain's name is DomainName(instanceID) and its libvirt UUID is the instance
// UUID itself, so nothing a user typed (instance names, metadata, tags) ever
// reaches the hypervisor. Spec.Validate enforces that shape before anything
// is sent to a hypervisor.
//
// The libvirt implementation lives in package libvirtdriver; the reusable
// contract test suite every implementation must pass lives in package
// hypervisortest.
package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

// DomainPrefix starts the name of every domain Nimbus owns; the name is
// "nimbus-" + the instance UUID and nothing else, so user text never reaches libvirt.
const DomainPrefix = "nimbus-"

// DomainName returns the domain name for an instance id.
func DomainName(instanceID string) string { return DomainPrefix + instanceID }

// InstanceIDFromDomainName is the inverse of DomainName: it returns the
// instance id of a domain Nimbus owns and false for every other name (no
// DomainPrefix, or not followed by a canonical UUID). Drivers use it to keep
// foreign domains out of List. (Addition to the original contract.)
func InstanceIDFromDomainName(name string) (string, bool) {
	id, ok := strings.CutPrefix(name, DomainPrefix)
	if !ok || ValidateInstanceID(id) != nil {
		return "", false
	}
	return id, true
}

// ErrNotFound: the domain does not exist.
var ErrNotFound = errors.New("domain not found")

// ErrInvalidSpec is wrapped by every error that reports a malformed Spec or
// instance id; such a request never reaches the hypervisor. (Addition to the
// original contract, so callers can tell a caller bug from a hypervisor
// failure with errors.Is.)
var ErrInvalidSpec = errors.New("invalid spec")

// PowerState is the power state of a domain: model.PowerState, the one
// type the agent and the controller share.
type PowerState = model.PowerState

// The power states a Driver reports. Hypervisor states without an equivalent
// are mapped to the nearest one; libvirtdriver documents its mapping.
const (
	Running   = model.PowerRunning  // the guest is executing (or is being shut down)
	Shutoff   = model.PowerShutdown // defined but not running
	Paused    = model.PowerPaused   // running but suspended by the hypervisor or the guest
	Suspended = model.PowerSuspend  // shut off with its memory saved to disk (managed save)
	Crashed   = model.PowerCrashed  // the guest crashed and the domain was kept
	NoState   = model.PowerNoState  // the hypervisor cannot tell
)

// Spec is everything needed to define a domain. Only the instance UUID is an
// identifier; no user-supplied text (instance names, metadata) is ever part of it.
//
// Paths are produced by the agent (instance directory, image cache), never by
// users; Validate still requires them to be absolute and clean and free of
// control characters, so no value can change the meaning of a domain
// definition.
type Spec struct {
	InstanceID string // UUID; domain name is DomainName(InstanceID), domain <uuid> is InstanceID
	VCPUs      int
	MemoryMB   int
	DiskPath   string // qcow2 overlay (optional for the test driver: empty means no disk)
	DiskFormat string // "qcow2" or "raw"; empty means "qcow2". The format is always stated to the hypervisor, never probed.
	// SecondDisk is a qcow2 disk attached after the root disk (vdb): a
	// rescued instance's own disk while it boots from a rescue disk.
	SecondDisk  string
	ConfigDrive string // path of an ISO config drive, attached as a read-only cdrom, optional
	// Kernel, Initrd and Cmdline select direct kernel boot; all optional, but
	// Initrd and Cmdline need Kernel.
	Kernel, Initrd, Cmdline string
	SerialLog               string // file that receives the serial console (<serial type='file'>), optional
	VNCListen               string // address the VNC server listens on, e.g. "127.0.0.1"; empty = no graphics
	// NICs are virtio network interfaces on tap devices the agent's
	// datapath made (libvirt opens them, it does not make them).
	NICs []NIC
	// RootVolume is the root disk (vda) when it is a volume (then
	// DiskPath is empty); Volumes are the data volumes (vdb...).
	RootVolume *Volume
	Volumes    []Volume
}

// NIC is a network interface of a domain.
type NIC struct {
	Device string // tap device: "tap" and up to 11 of [0-9a-f-]
	MAC    string // the port's MAC, aa:bb:cc:dd:ee:ff
	MTU    int    // 0: the default
}

// Validate reports whether the NIC can be given to a Driver.
func (n NIC) Validate() error { return n.validate() }

func (n NIC) validate() error {
	ok := strings.HasPrefix(n.Device, "tap") && len(n.Device) > 3 && len(n.Device) <= 15
	for _, r := range strings.TrimPrefix(n.Device, "tap") {
		ok = ok && (r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == '-')
	}
	if !ok {
		return fmt.Errorf("%w: tap device %q", ErrInvalidSpec, n.Device)
	}
	if hw, err := net.ParseMAC(n.MAC); err != nil || len(hw) != 6 || hw.String() != n.MAC {
		return fmt.Errorf("%w: MAC %q", ErrInvalidSpec, n.MAC)
	}
	if n.MTU < 0 || n.MTU > 65535 {
		return fmt.Errorf("%w: MTU %d", ErrInvalidSpec, n.MTU)
	}
	return nil
}

// Limits Validate applies on top of "positive"; they only keep absurd values
// (and integer overflow when converting to KiB) away from the hypervisor.
const (
	MaxVCPUs    = 1024
	MaxMemoryMB = 64 << 20 // 64 TiB
)

// Validate reports whether the spec can be given to a Driver: a canonical
// lowercase UUID as InstanceID, VCPUs and MemoryMB in (0, Max], absolute
// clean paths, a known disk format, an IP address (not a host name) for
// VNCListen, and no control characters or invalid UTF-8 anywhere (XML cannot
// carry them faithfully). Errors wrap ErrInvalidSpec.
func (s Spec) Validate() error {
	if err := ValidateInstanceID(s.InstanceID); err != nil {
		return err
	}
	if s.VCPUs <= 0 || s.VCPUs > MaxVCPUs {
		return fmt.Errorf("%w: vcpus %d not in 1..%d", ErrInvalidSpec, s.VCPUs, MaxVCPUs)
	}
	if s.MemoryMB <= 0 || s.MemoryMB > MaxMemoryMB {
		return fmt.Errorf("%w: memory %d MB not in 1..%d", ErrInvalidSpec, s.MemoryMB, MaxMemoryMB)
	}
	switch s.DiskFormat {
	case "", "qcow2", "raw":
	default:
		return fmt.Errorf("%w: disk format %q is neither qcow2 nor raw", ErrInvalidSpec, s.DiskFormat)
	}
	for _, p := range []struct{ what, path string }{
		{"disk path", s.DiskPath},
		{"second disk", s.SecondDisk},
		{"config drive", s.ConfigDrive},
		{"kernel", s.Kernel},
		{"initrd", s.Initrd},
		{"serial log", s.SerialLog},
	} {
		if err := validatePath(p.what, p.path); err != nil {
			return err
		}
	}
	if s.Kernel == "" && (s.Initrd != "" || s.Cmdline != "") {
		return fmt.Errorf("%w: initrd and cmdline need a kernel", ErrInvalidSpec)
	}
	if err := validateText("cmdline", s.Cmdline); err != nil {
		return err
	}
	for _, n := range s.NICs {
		if err := n.validate(); err != nil {
			return err
		}
	}
	if s.RootVolume != nil {
		if s.DiskPath != "" || s.RootVolume.Device != "vda" {
			return fmt.Errorf("%w: a root volume is vda, and the only root disk", ErrInvalidSpec)
		}
		if err := s.RootVolume.validate(true); err != nil {
			return err
		}
	}
	for _, v := range s.Volumes {
		if err := v.Validate(); err != nil {
			return err
		}
		if s.SecondDisk != "" && v.Device == "vdb" {
			return fmt.Errorf("%w: vdb is the second disk", ErrInvalidSpec)
		}
	}
	if s.VNCListen != "" {
		a, err := netip.ParseAddr(s.VNCListen)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("%w: vnc listen address %q is not an IP address", ErrInvalidSpec, s.VNCListen)
		}
	}
	return nil
}

// ValidateInstanceID reports whether id is a UUID in canonical form: 36
// characters, lowercase hexadecimal digits and hyphens in the 8-4-4-4-12
// layout (what PostgreSQL prints for a uuid column). Only this form is
// accepted so that DomainName is a function of the instance alone and
// matches the <uuid> libvirt reports back. Errors wrap ErrInvalidSpec.
func ValidateInstanceID(id string) error {
	if len(id) != 36 {
		return fmt.Errorf("%w: instance id %q is not a canonical lowercase uuid", ErrInvalidSpec, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return fmt.Errorf("%w: instance id %q is not a canonical lowercase uuid", ErrInvalidSpec, id)
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return fmt.Errorf("%w: instance id %q is not a canonical lowercase uuid", ErrInvalidSpec, id)
			}
		}
	}
	return nil
}

// validatePath accepts "" (unset) or an absolute, clean path without
// control characters.
func validatePath(what, p string) error {
	if p == "" {
		return nil
	}
	if err := validateText(what, p); err != nil {
		return err
	}
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("%w: %s %q is not an absolute clean path", ErrInvalidSpec, what, p)
	}
	return nil
}

// validateText rejects invalid UTF-8 and control characters: XML 1.0 cannot
// represent most of them and encoders silently replace them, which would
// make libvirt use a different value than the one asked for.
func validateText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidSpec, what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffe || r == 0xffff {
			return fmt.Errorf("%w: %s %q contains a control character", ErrInvalidSpec, what, s)
		}
	}
	return nil
}

// Status is what the driver reports about one domain.
type Status struct {
	InstanceID string
	State      PowerState
	VNCPort    int // 0 when not running or no graphics
}

// HostInfo describes the host.
type HostInfo struct {
	Hostname       string
	HypervisorType string // "QEMU" for qemu:///..., "Test" for test:///...
	Arch           string // "x86_64" (whatever the hypervisor's capabilities report; libvirt's test driver says "i686")
	VCPUs          int
	MemoryMB       int
	DiskGB         int    // free+used of the instances dir's filesystem, 0 if unknown
	DomainType     string // "kvm", "qemu" or "test": what Define will use
}

// Driver is what the agent needs from a hypervisor. All methods are idempotent where noted.
//
// Every method returns an error wrapping ctx.Err() when ctx is already done
// on entry. Methods that take an instance id return an error wrapping
// ErrInvalidSpec for a malformed id and, except Undefine, an error wrapping
// ErrNotFound when the domain does not exist. Implementations are safe for
// concurrent use; concurrent operations on the same instance are allowed
// but their order is not defined, so callers serialize them per instance.
type Driver interface {
	// Define creates or replaces the persistent definition of
	// DomainName(spec.InstanceID). Idempotent: redefining the same instance is
	// fine; redefining a running domain changes what its next boot uses.
	Define(ctx context.Context, spec Spec) error
	// Start powers the domain on; no error if already running (a paused
	// domain is resumed, a saved one restored from its save).
	Start(ctx context.Context, instanceID string) error
	// Shutdown asks the guest to power off (ACPI), waits up to timeout, then
	// powers it off hard; no error if already off. If ctx ends first the
	// wait stops, the domain is left as it is and the error wraps ctx.Err().
	Shutdown(ctx context.Context, instanceID string, timeout time.Duration) error
	// Destroy powers the domain off hard; no error if not running.
	Destroy(ctx context.Context, instanceID string) error
	// Reboot restarts a running domain. Soft asks the guest to reboot (for a
	// domain that is not running it is an error); hard powers the domain off
	// hard if it is on and starts it, from any state, with its current
	// definition (a save is discarded: the guest boots afresh).
	Reboot(ctx context.Context, instanceID string, hard bool) error
	// Pause holds a running domain in the host's memory (its vCPUs stop);
	// no error if already paused. A domain that is not running is an error.
	Pause(ctx context.Context, instanceID string) error
	// Unpause lets a paused domain run again; no error if running.
	Unpause(ctx context.Context, instanceID string) error
	// Save writes a running or paused domain's memory to the host's disk
	// and stops it (libvirt's managed save): it then reports Suspended,
	// and Start resumes it from the save, which is removed. No error if
	// already saved.
	Save(ctx context.Context, instanceID string) error
	// Undefine removes the definition (and NVRAM/managed save); no error if
	// missing. A running domain keeps running until powered off (libvirt
	// makes it transient), so callers Destroy first.
	Undefine(ctx context.Context, instanceID string) error
	// Get reports one domain; ErrNotFound when absent.
	Get(ctx context.Context, instanceID string) (Status, error)
	// List reports every Nimbus domain: only domains whose names start with
	// DomainPrefix (followed by a valid instance id), sorted by InstanceID.
	List(ctx context.Context) ([]Status, error)
	// HostInfo describes the host and its capacity.
	HostInfo(ctx context.Context) (HostInfo, error)
	// Close releases the hypervisor connection. Further calls fail; a second
	// Close returns nil.
	Close() error
}

// NICPlugger is a Driver that can add a NIC to a domain and remove one,
// in its definition and, while it runs, live (hot-plug). Both are
// idempotent: a NIC with the MAC already there (or already gone) is fine.
// A hypervisor that runs nothing (libvirt's test driver) does nothing.
type NICPlugger interface {
	PlugNIC(ctx context.Context, instanceID string, nic NIC) error
	UnplugNIC(ctx context.Context, instanceID, mac string) error
}

// Volume is a block storage volume given to a domain as a virtio disk.
type Volume struct {
	Device string // the target: vdb ... vdz
	Serial string // the volume's id: the guest finds it as /dev/disk/by-id/virtio-<first 20>
	File   string // a qcow2 file on this host, or else
	Socket string // a unix socket whose NBD export "vol" relays a volume kept on another host
}

// Validate reports whether the volume can be given to a Driver as a
// data disk (vdb to vdz).
func (v Volume) Validate() error { return v.validate(false) }

// validate checks v; root allows vda.
func (v Volume) validate(root bool) error {
	first := byte('b')
	if root {
		first = 'a'
	}
	if len(v.Device) != 3 || !strings.HasPrefix(v.Device, "vd") || v.Device[2] < first || v.Device[2] > 'z' {
		return fmt.Errorf("%w: volume device %q", ErrInvalidSpec, v.Device)
	}
	if ValidateInstanceID(v.Serial) != nil {
		return fmt.Errorf("%w: volume serial %q", ErrInvalidSpec, v.Serial)
	}
	if (v.File == "") == (v.Socket == "") {
		return fmt.Errorf("%w: a volume is a file or a socket", ErrInvalidSpec)
	}
	for _, p := range []string{v.File, v.Socket} {
		if p != "" && (!filepath.IsAbs(p) || filepath.Clean(p) != p || strings.ContainsAny(p, "\x00\n\r'\"<>&")) {
			return fmt.Errorf("%w: volume path %q", ErrInvalidSpec, p)
		}
	}
	return nil
}

// VolumeAttacher is a Driver that can give a domain a volume and take it
// away, in its definition and, while it runs, live. Attach is idempotent
// (a device already there is done); Detach returns only once the running
// guest let the disk go, and fails when it did not: a volume is never
// given to another guest while this one may still write to it.
type VolumeAttacher interface {
	AttachVolume(ctx context.Context, instanceID string, v Volume) error
	DetachVolume(ctx context.Context, instanceID, device string) error
}

// Pinger is a Driver that can tell whether its hypervisor still answers.
// Ping checks the connection and, when the hypervisor went away and came
// back (libvirtd restarted), connects again; it fails while the
// hypervisor cannot be reached.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Sampler is a Driver that can say what its running domains and its host
// use, for the charts, the Hypervisors page and os-diagnostics.
type Sampler interface {
	// SampleDomains reports every running Nimbus domain's counters.
	SampleDomains(ctx context.Context) ([]model.DomainSample, error)
	// SampleHost reports the host's CPU time counters and memory.
	SampleHost(ctx context.Context) (HostCounters, error)
}

// HostCounters are the host's CPU times since boot (the busy share is
// the difference of two readings) and its memory now.
type HostCounters struct {
	CPUBusy, CPUTotal  uint64 // ns, every CPU together
	MemoryKiB, UsedKiB uint64
}
