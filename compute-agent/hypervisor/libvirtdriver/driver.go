package libvirtdriver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
)

// ErrClosed is returned (wrapped) by every method called after Close.
var ErrClosed = errors.New("libvirt driver is closed")

// Options tune a Driver.
type Options struct {
	// DomainType forces the <domain type=...> Define uses: "kvm", "qemu" or
	// "test". Empty means detect it (see New). The agent's configuration is
	// the place to expose it as an override, e.g. to force "qemu" on a host
	// whose detection says kvm but whose KVM cannot run guests.
	DomainType string
	// InstancesDir is the directory that holds instance disks. HostInfo
	// reports the size of its filesystem as DiskGB; empty means unknown (0).
	InstancesDir string
	// Taps, when set, is told before and after a domain starts which tap
	// devices it opens: libvirt opens them in its own network namespace,
	// and an agent whose datapath lives in another (a test's "host"
	// namespace) moves them there and back.
	Taps TapMover
}

// TapMover moves a domain's tap devices to where libvirt opens them
// before it starts, and back to the datapath after.
type TapMover interface {
	BeforeStart(taps []string) error
	AfterStart(taps []string)
}

// Driver is the libvirt implementation of hypervisor.Driver. It holds one
// libvirt connection for its whole life; the libvirt Go binding may be used
// from many goroutines at once, so the methods run concurrently.
type Driver struct {
	uri        string
	opts       Options
	hvType     string // HostInfo.HypervisorType: "QEMU", "Test", ...
	domainType string // "kvm", "qemu" or "test"

	// mu protects conn against Close: methods hold the read lock for the
	// duration of each libvirt call so that Close (write lock) never frees
	// the connection under a running call; conn is nil once closed. It does
	// not serialize libvirt calls with one another.
	mu   sync.RWMutex
	conn *libvirt.Connect
}

var _ hypervisor.Driver = (*Driver)(nil)

// pollInterval is how often Shutdown checks whether the guest has powered off.
const pollInterval = 100 * time.Millisecond

// shutdownRetry is how often a clean shutdown presses the power button
// again (Nova's 10 s).
const shutdownRetry = 10 * time.Second

// Where KVM detection looks; variables so tests can point them elsewhere.
var (
	kvmDevice   = "/dev/kvm"
	cpuinfoPath = "/proc/cpuinfo"
)

// New connects to the libvirt URI (e.g. "qemu:///system", "test:///default")
// and chooses the domain type Define will use. With opts.DomainType empty,
// it is "test" for libvirt's test driver; for QEMU it is "kvm" only if
// /dev/kvm can be opened read-write, the CPU advertises hardware
// virtualization (vmx or svm in /proc/cpuinfo) and libvirt's capabilities
// list a kvm domain for x86_64 hvm guests, and "qemu" (TCG) otherwise. The
// CPU flag check matters: some hosts (e.g. kernels with the kvm-pvm module)
// expose a working /dev/kvm and libvirt reports kvm, yet ordinary guests
// cannot run on it. A forced DomainType must suit the connection: "test"
// for the test driver, "kvm" or "qemu" for QEMU. Other hypervisors are not
// supported.
func New(uri string, opts Options) (*Driver, error) {
	conn, err := libvirt.NewConnect(uri)
	if err != nil {
		return nil, fmt.Errorf("connect to libvirt %s: %w", uri, err)
	}
	d, err := newDriver(conn, uri, opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return d, nil
}

func newDriver(conn *libvirt.Connect, uri string, opts Options) (*Driver, error) {
	typ, err := conn.GetType()
	if err != nil {
		return nil, fmt.Errorf("hypervisor type of %s: %w", uri, err)
	}
	d := &Driver{uri: uri, opts: opts, hvType: hypervisorType(typ), conn: conn}
	d.domainType = opts.DomainType
	switch typ {
	case "TEST":
		if d.domainType == "" {
			d.domainType = DomainTypeTest
		}
		if d.domainType != DomainTypeTest {
			return nil, fmt.Errorf("domain type %q does not suit libvirt's test driver at %s", d.domainType, uri)
		}
	case "QEMU":
		if d.domainType == "" {
			d.domainType = DomainTypeQEMU
			// The local checks come first: asking libvirt for its
			// capabilities can make it probe every QEMU binary.
			if kvmUsable(kvmDevice, cpuinfoPath) {
				caps, err := capabilities(conn)
				if err != nil {
					return nil, fmt.Errorf("capabilities of %s: %w", uri, err)
				}
				if capsHaveKVM(caps) {
					d.domainType = DomainTypeKVM
				}
			}
		}
		if d.domainType != DomainTypeKVM && d.domainType != DomainTypeQEMU {
			return nil, fmt.Errorf("domain type %q does not suit QEMU at %s", d.domainType, uri)
		}
	default:
		return nil, fmt.Errorf("hypervisor %s at %s is not supported (only QEMU and test)", typ, uri)
	}
	return d, nil
}

// DomainType returns the domain type Define uses: "kvm", "qemu" or "test".
func (d *Driver) DomainType() string { return d.domainType }

// Define creates or replaces the persistent definition of the instance's
// domain from DomainXML. The document is checked against libvirt's schema by the tests
// (TestDomainXMLMatchesLibvirtSchema), not at every define: validating
// here made libvirt compile its RelaxNG schema each time, which was most
// of an agent's CPU per launch.
func (d *Driver) Define(ctx context.Context, spec hypervisor.Spec) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("define domain: %w", err)
	}
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("define domain: %w", err)
	}
	name := hypervisor.DomainName(spec.InstanceID)
	doc, err := DomainXML(spec, d.domainType)
	if err != nil {
		return fmt.Errorf("define domain %s: %w", name, err)
	}
	return d.withConn(func(c *libvirt.Connect) error {
		dom, err := c.DomainDefineXMLFlags(doc, 0)
		if err != nil {
			return fmt.Errorf("define domain %s: %w", name, err)
		}
		dom.Free()
		return nil
	})
}

// Start powers the domain on (restoring a managed save if there is one);
// no error if it is already running. A paused domain is resumed and a
// suspended (pmsuspended) one woken up.
func (d *Driver) Start(ctx context.Context, instanceID string) error {
	return d.withDomain(ctx, "start", instanceID, func(dom *libvirt.Domain) error {
		state, _, err := dom.GetState()
		if err != nil {
			return err
		}
		switch state {
		case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED, libvirt.DOMAIN_SHUTDOWN:
			return nil
		case libvirt.DOMAIN_PAUSED:
			return dom.Resume()
		case libvirt.DOMAIN_PMSUSPENDED:
			return dom.PMWakeup(0)
		case libvirt.DOMAIN_CRASHED:
			// Still active (on_crash=preserve): power it off first.
			if err := destroy(dom); err != nil {
				return err
			}
		}
		if err := d.create(dom); err != nil {
			// Somebody else may have started it meanwhile.
			if active, aerr := dom.IsActive(); aerr == nil && active {
				return nil
			}
			return err
		}
		return nil
	})
}

// Shutdown sends the guest an ACPI power-button press (libvirt's default
// shutdown mode when the domain has no guest agent channel), polls until
// the domain is off or timeout has passed, then powers it off hard. A paused
// or suspended guest cannot see the button and is powered off at once.
func (d *Driver) Shutdown(ctx context.Context, instanceID string, timeout time.Duration) error {
	var off, hard bool
	err := d.withDomain(ctx, "shut down", instanceID, func(dom *libvirt.Domain) error {
		state, _, err := dom.GetState()
		if err != nil {
			return err
		}
		switch state {
		case libvirt.DOMAIN_SHUTOFF:
			off = true
			return nil
		case libvirt.DOMAIN_PAUSED, libvirt.DOMAIN_PMSUSPENDED, libvirt.DOMAIN_CRASHED:
			hard = true
			return nil
		}
		if err := dom.Shutdown(); err != nil {
			if active, aerr := dom.IsActive(); aerr == nil && !active {
				off = true
				return nil
			}
			// The guest could not be asked (no ACPI, still booting...):
			// the hard power off below is what is left.
			hard = true
		}
		return nil
	})
	if err != nil || off {
		return err
	}
	if !hard {
		deadline := time.NewTimer(timeout)
		defer deadline.Stop()
		tick := time.NewTicker(pollInterval)
		defer tick.Stop()
		// A guest still booting (or busy) may miss the power button: it is
		// pressed again every shutdownRetry until the timeout, as Nova's
		// clean shutdown does, rather than waiting the whole timeout for a
		// press that was lost.
		again := time.NewTicker(shutdownRetry)
		defer again.Stop()
	wait:
		for {
			select {
			case <-ctx.Done():
				return fmt.Errorf("shut down domain %s: %w", hypervisor.DomainName(instanceID), ctx.Err())
			case <-deadline.C:
				break wait
			case <-again.C:
				_ = d.withDomain(ctx, "shut down", instanceID, func(dom *libvirt.Domain) error { return dom.Shutdown() })
				continue
			case <-tick.C:
			}
			err := d.withDomain(ctx, "shut down", instanceID, func(dom *libvirt.Domain) error {
				active, err := dom.IsActive()
				off = err == nil && !active
				return err
			})
			if err != nil || off {
				return err
			}
		}
	}
	return d.withDomain(ctx, "shut down", instanceID, destroy)
}

// Destroy powers the domain off hard; no error if it is not running.
func (d *Driver) Destroy(ctx context.Context, instanceID string) error {
	return d.withDomain(ctx, "destroy", instanceID, destroy)
}

// destroy powers dom off unless it is already off.
func destroy(dom *libvirt.Domain) error {
	if active, err := dom.IsActive(); err != nil || !active {
		return err
	}
	if err := dom.Destroy(); err != nil {
		if active, aerr := dom.IsActive(); aerr == nil && !active {
			return nil
		}
		return err
	}
	return nil
}

// Reboot restarts the domain. Soft asks the guest to reboot (libvirt's
// default mode: ACPI without a guest agent) and fails for a domain that is
// not running; hard powers the domain off if it is on and starts it again,
// so the new run uses the current persistent definition.
func (d *Driver) Reboot(ctx context.Context, instanceID string, hard bool) error {
	op := "reboot"
	if hard {
		op = "hard reboot"
	}
	return d.withDomain(ctx, op, instanceID, func(dom *libvirt.Domain) error {
		if hard {
			if err := destroy(dom); err != nil {
				return err
			}
			if err := dropSave(dom); err != nil {
				return err
			}
			return d.create(dom)
		}
		state, reason, err := dom.GetState()
		if err != nil {
			return err
		}
		if ps := powerState(state, reason); ps != hypervisor.Running {
			return fmt.Errorf("domain is %s, not running", ps)
		}
		return dom.Reboot(0)
	})
}

// Pause suspends a running domain's vCPUs (libvirt's "suspend").
func (d *Driver) Pause(ctx context.Context, instanceID string) error {
	return d.withDomain(ctx, "pause", instanceID, func(dom *libvirt.Domain) error {
		ps, err := domPower(dom)
		if err != nil || ps == hypervisor.Paused {
			return err
		}
		if ps != hypervisor.Running {
			return fmt.Errorf("domain is %s, not running", ps)
		}
		return dom.Suspend()
	})
}

// Unpause resumes a paused domain's vCPUs.
func (d *Driver) Unpause(ctx context.Context, instanceID string) error {
	return d.withDomain(ctx, "unpause", instanceID, func(dom *libvirt.Domain) error {
		ps, err := domPower(dom)
		if err != nil || ps == hypervisor.Running {
			return err
		}
		if ps != hypervisor.Paused {
			return fmt.Errorf("domain is %s, not paused", ps)
		}
		return dom.Resume()
	})
}

// Save is libvirt's managed save: memory to a file libvirt keeps next to
// the domain (under its own state directory), restored by the next start.
func (d *Driver) Save(ctx context.Context, instanceID string) error {
	return d.withDomain(ctx, "save", instanceID, func(dom *libvirt.Domain) error {
		ps, err := domPower(dom)
		if err != nil || ps == hypervisor.Suspended {
			return err
		}
		if ps != hypervisor.Running && ps != hypervisor.Paused {
			return fmt.Errorf("domain is %s, not running", ps)
		}
		return dom.ManagedSave(0)
	})
}

func domPower(dom *libvirt.Domain) (hypervisor.PowerState, error) {
	state, reason, err := dom.GetState()
	if err != nil {
		return hypervisor.NoState, err
	}
	return withSave(dom, powerState(state, reason))
}

// withSave turns Shutoff into Suspended when the domain has a managed save.
func withSave(dom *libvirt.Domain, ps hypervisor.PowerState) (hypervisor.PowerState, error) {
	if ps != hypervisor.Shutoff {
		return ps, nil
	}
	saved, err := dom.HasManagedSaveImage(0)
	if err != nil {
		return ps, err
	}
	if saved {
		return hypervisor.Suspended, nil
	}
	return ps, nil
}

// dropSave removes a domain's managed save, if it has one.
func dropSave(dom *libvirt.Domain) error {
	saved, err := dom.HasManagedSaveImage(0)
	if err != nil || !saved {
		return err
	}
	return dom.ManagedSaveRemove(0)
}

// Undefine removes the persistent definition together with any managed save
// image, snapshot and checkpoint metadata and NVRAM file; no error if the
// domain does not exist. Drivers that do not know some of these flags (the
// test driver knows neither NVRAM nor checkpoints) get the ones they know.
func (d *Driver) Undefine(ctx context.Context, instanceID string) error {
	err := d.withDomain(ctx, "undefine", instanceID, func(dom *libvirt.Domain) error {
		var err error
		for _, flags := range []libvirt.DomainUndefineFlagsValues{
			libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
				libvirt.DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | libvirt.DOMAIN_UNDEFINE_NVRAM,
			libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
			0,
		} {
			err = dom.UndefineFlags(flags)
			if !errors.Is(err, libvirt.ERR_INVALID_ARG) && !errors.Is(err, libvirt.ERR_NO_SUPPORT) {
				return err
			}
		}
		return err
	})
	if errors.Is(err, hypervisor.ErrNotFound) {
		return nil
	}
	return err
}

// Get reports the domain's state and, while it is running, its VNC port.
func (d *Driver) Get(ctx context.Context, instanceID string) (hypervisor.Status, error) {
	var st hypervisor.Status
	err := d.withDomain(ctx, "get", instanceID, func(dom *libvirt.Domain) error {
		var err error
		st, err = status(instanceID, dom)
		return err
	})
	return st, err
}

// List reports every domain named DomainPrefix + a canonical UUID, sorted by
// instance id; all other domains (such as the test driver's predefined
// "test") are left out. Domains that vanish while being listed are skipped.
func (d *Driver) List(ctx context.Context) ([]hypervisor.Status, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	var out []hypervisor.Status
	err := d.withConn(func(c *libvirt.Connect) error {
		doms, err := c.ListAllDomains(0)
		if err != nil {
			return fmt.Errorf("list domains: %w", err)
		}
		defer func() {
			for i := range doms {
				doms[i].Free()
			}
		}()
		for i := range doms {
			name, err := doms[i].GetName()
			if err != nil {
				return fmt.Errorf("list domains: %w", err)
			}
			id, ok := hypervisor.InstanceIDFromDomainName(name)
			if !ok {
				continue
			}
			st, err := status(id, &doms[i])
			if errors.Is(err, libvirt.ERR_NO_DOMAIN) {
				continue
			}
			if err != nil {
				return fmt.Errorf("list domains: %s: %w", name, err)
			}
			out = append(out, st)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b hypervisor.Status) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	return out, nil
}

// HostInfo reports the host: name, hypervisor type, CPU architecture, logical
// CPUs and memory (from the node info), the size
// of Options.InstancesDir's filesystem and the domain type Define uses.
func (d *Driver) HostInfo(ctx context.Context) (hypervisor.HostInfo, error) {
	if err := ctx.Err(); err != nil {
		return hypervisor.HostInfo{}, fmt.Errorf("host info: %w", err)
	}
	info := hypervisor.HostInfo{HypervisorType: d.hvType, DomainType: d.domainType}
	err := d.withConn(func(c *libvirt.Connect) error {
		ni, err := c.GetNodeInfo()
		if err != nil {
			return fmt.Errorf("host info: node info: %w", err)
		}
		info.VCPUs = int(ni.Cpus)
		info.MemoryMB = int(ni.Memory / 1024)
		if info.Hostname, err = c.GetHostname(); err != nil {
			return fmt.Errorf("host info: host name: %w", err)
		}
		// libvirt fills the node info's "model" with the host architecture
		// (the <arch> of the capabilities' host CPU); reading the
		// capabilities themselves can take seconds, so they are only the
		// fallback.
		if info.Arch = ni.Model; info.Arch != "" {
			return nil
		}
		caps, err := capabilities(c)
		if err != nil {
			return fmt.Errorf("host info: capabilities: %w", err)
		}
		if caps.Host.CPU != nil {
			info.Arch = caps.Host.CPU.Arch
		}
		return nil
	})
	if err != nil {
		return hypervisor.HostInfo{}, err
	}
	info.DiskGB = diskGB(d.opts.InstancesDir)
	return info, nil
}

// Close closes the libvirt connection, waiting for calls in progress. A
// second Close returns nil; every other method then fails with ErrClosed.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == nil {
		return nil
	}
	_, err := d.conn.Close()
	d.conn = nil
	if err != nil {
		return fmt.Errorf("close libvirt connection %s: %w", d.uri, err)
	}
	return nil
}

// Ping checks that libvirt still answers on the connection and connects
// again when it does not: after libvirtd restarts, the old connection
// fails every call for ever. The agent calls it before each heartbeat
// (its interval is the retry back-off) and after a failed job.
func (d *Driver) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.RLock()
	c := d.conn
	alive := false
	if c != nil {
		if ok, err := c.IsAlive(); err == nil && ok {
			_, err := c.GetLibVersion() // a round trip: IsAlive alone misses a closed socket
			alive = err == nil
		}
	}
	d.mu.RUnlock()
	if c == nil {
		return ErrClosed
	}
	if alive {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == nil {
		return ErrClosed
	}
	if d.conn != c {
		return nil // another caller has reconnected meanwhile
	}
	nc, err := libvirt.NewConnect(d.uri)
	if err != nil {
		return fmt.Errorf("reconnect to libvirt %s: %w", d.uri, err)
	}
	_, _ = d.conn.Close()
	d.conn = nc
	return nil
}

// withConn runs fn with the connection, holding the read lock.
func (d *Driver) withConn(fn func(*libvirt.Connect) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.conn == nil {
		return ErrClosed
	}
	return fn(d.conn)
}

// withDomain looks the instance's domain up and runs fn with it. Errors
// carry the operation and domain name; a missing domain, at lookup or
// later, wraps hypervisor.ErrNotFound.
func (d *Driver) withDomain(ctx context.Context, op, instanceID string, fn func(*libvirt.Domain) error) error {
	if err := hypervisor.ValidateInstanceID(instanceID); err != nil {
		return fmt.Errorf("%s domain: %w", op, err)
	}
	name := hypervisor.DomainName(instanceID)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s domain %s: %w", op, name, err)
	}
	err := d.withConn(func(c *libvirt.Connect) error {
		dom, err := c.LookupDomainByName(name)
		if err != nil {
			return err
		}
		defer dom.Free()
		return fn(dom)
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, libvirt.ERR_NO_DOMAIN):
		return fmt.Errorf("%s domain %s: %w", op, name, hypervisor.ErrNotFound)
	default:
		return fmt.Errorf("%s domain %s: %w", op, name, err)
	}
}

// status reads one domain's state and, while it runs, its VNC port.
func status(instanceID string, dom *libvirt.Domain) (hypervisor.Status, error) {
	state, reason, err := dom.GetState()
	if err != nil {
		return hypervisor.Status{}, err
	}
	ps, err := withSave(dom, powerState(state, reason))
	if err != nil {
		return hypervisor.Status{}, err
	}
	st := hypervisor.Status{InstanceID: instanceID, State: ps}
	if st.State == hypervisor.Running {
		doc, err := dom.GetXMLDesc(0)
		if err != nil {
			return hypervisor.Status{}, err
		}
		if st.VNCPort, err = vncPort(doc); err != nil {
			return hypervisor.Status{}, err
		}
	}
	return st, nil
}

// powerState maps libvirt's state to the agent's:
//
//	running, blocked (waiting on a resource), shutdown (being shut down) -> Running
//	paused, pmsuspended (guest suspended to RAM)                         -> Paused
//	paused while starting up (QEMU's CPUs not started yet)               -> Running
//	shutoff                                                              -> Shutoff, or Crashed if the guest crashed
//	                                                                        (Suspended with a managed save: see withSave)
//	crashed (kept by on_crash=preserve)                                  -> Crashed
//	nostate and anything unknown                                         -> NoState
//
// Domains are defined with on_crash=destroy, so a guest crash normally
// shows as shutoff with reason "crashed", which is reported as Crashed.
func powerState(state libvirt.DomainState, reason int) hypervisor.PowerState {
	switch state {
	case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED, libvirt.DOMAIN_SHUTDOWN:
		return hypervisor.Running
	case libvirt.DOMAIN_PAUSED:
		if libvirt.DomainPausedReason(reason) == libvirt.DOMAIN_PAUSED_STARTING_UP {
			// QEMU starts with its CPUs stopped until libvirt set it up:
			// a domain being started, not one paused. Reported as paused,
			// a power sync that listed it then could land after the
			// build's own "running" and leave the instance paused (seen
			// once in make test's TestQEMUEndToEnd, power_state 3).
			return hypervisor.Running
		}
		return hypervisor.Paused
	case libvirt.DOMAIN_PMSUSPENDED:
		return hypervisor.Paused
	case libvirt.DOMAIN_SHUTOFF:
		if libvirt.DomainShutoffReason(reason) == libvirt.DOMAIN_SHUTOFF_CRASHED {
			return hypervisor.Crashed
		}
		return hypervisor.Shutoff
	case libvirt.DOMAIN_CRASHED:
		return hypervisor.Crashed
	default:
		return hypervisor.NoState
	}
}

// vncPort returns the port of the first VNC server in a live domain XML, 0
// if there is none or it has no port yet (libvirt writes -1 until QEMU has
// one; the test driver always does).
func vncPort(doc string) (int, error) {
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(doc); err != nil {
		return 0, fmt.Errorf("parse live domain xml: %w", err)
	}
	if dom.Devices == nil {
		return 0, nil
	}
	for _, g := range dom.Devices.Graphics {
		if g.VNC != nil {
			return max(g.VNC.Port, 0), nil
		}
	}
	return 0, nil
}

// hypervisorType turns virConnectGetType's answer into HostInfo's spelling:
// the test driver says "TEST", reported as "Test"; others ("QEMU") as is.
func hypervisorType(typ string) string {
	if typ == "TEST" {
		return "Test"
	}
	return typ
}

func capabilities(c *libvirt.Connect) (*libvirtxml.Caps, error) {
	doc, err := c.GetCapabilities()
	if err != nil {
		return nil, err
	}
	var caps libvirtxml.Caps
	if err := caps.Unmarshal(doc); err != nil {
		return nil, fmt.Errorf("parse capabilities: %w", err)
	}
	return &caps, nil
}

// capsHaveKVM reports whether the capabilities offer a kvm domain for
// x86_64 hvm guests.
func capsHaveKVM(caps *libvirtxml.Caps) bool {
	for _, g := range caps.Guests {
		if g.OSType != "hvm" || g.Arch.Name != qemuArch {
			continue
		}
		for _, dt := range g.Arch.Domains {
			if dt.Type == DomainTypeKVM {
				return true
			}
		}
	}
	return false
}

// kvmUsable reports whether device (/dev/kvm) opens read-write and the CPU
// flags in cpuinfo include hardware virtualization (vmx or svm).
func kvmUsable(device, cpuinfo string) bool {
	f, err := os.OpenFile(device, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	data, err := os.ReadFile(cpuinfo)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(data)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(key) != "flags" {
			continue
		}
		for _, flag := range strings.Fields(val) {
			if flag == "vmx" || flag == "svm" {
				return true
			}
		}
	}
	return false
}

// diskGB returns the size (free + used) of dir's filesystem in GiB, 0 when
// dir is empty or cannot be examined.
func diskGB(dir string) int {
	if dir == "" {
		return 0
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0
	}
	size := uint64(fs.Frsize)
	if size == 0 {
		size = uint64(fs.Bsize)
	}
	return int(fs.Blocks * size >> 30)
}

// create starts dom, moving its taps around the start when Options.Taps
// asks for it.
func (d *Driver) create(dom *libvirt.Domain) error {
	if d.opts.Taps == nil {
		return dom.Create()
	}
	taps, err := domainTaps(dom)
	if err != nil {
		return err
	}
	if len(taps) == 0 {
		return dom.Create()
	}
	if err := d.opts.Taps.BeforeStart(taps); err != nil {
		return err
	}
	err = dom.Create()
	d.opts.Taps.AfterStart(taps)
	return err
}

// domainTaps lists the tap devices of dom's ethernet interfaces.
func domainTaps(dom *libvirt.Domain) ([]string, error) {
	doc, err := dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	if err != nil {
		return nil, err
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(doc); err != nil {
		return nil, err
	}
	var taps []string
	if def.Devices != nil {
		for _, i := range def.Devices.Interfaces {
			if i.Source != nil && i.Source.Ethernet != nil && i.Target != nil && i.Target.Dev != "" {
				taps = append(taps, i.Target.Dev)
			}
		}
	}
	return taps, nil
}

// PlugNIC adds nic to the domain's definition and, when it runs, to the
// running guest (hot-plug). The test driver runs nothing: nothing to do.
func (d *Driver) PlugNIC(ctx context.Context, instanceID string, nic hypervisor.NIC) error {
	if err := nic.Validate(); err != nil {
		return fmt.Errorf("plug NIC: %w", err)
	}
	if d.domainType == DomainTypeTest {
		return nil
	}
	return d.withDomain(ctx, "plug NIC", instanceID, func(dom *libvirt.Domain) error {
		has, err := domainHasMAC(dom, nic.MAC)
		if err != nil || has {
			return err
		}
		doc, err := nicXMLString(nic)
		if err != nil {
			return err
		}
		flags := libvirt.DOMAIN_DEVICE_MODIFY_CONFIG
		if active, _ := dom.IsActive(); active {
			flags |= libvirt.DOMAIN_DEVICE_MODIFY_LIVE
		}
		return dom.AttachDeviceFlags(doc, flags)
	})
}

// UnplugNIC removes the NIC with mac from the domain's definition and the
// running guest, and waits (up to 20 s) until the guest let it go.
func (d *Driver) UnplugNIC(ctx context.Context, instanceID, mac string) error {
	if d.domainType == DomainTypeTest {
		return nil
	}
	return d.withDomain(ctx, "unplug NIC", instanceID, func(dom *libvirt.Domain) error {
		doc, err := dom.GetXMLDesc(0)
		if err != nil {
			return err
		}
		var def libvirtxml.Domain
		if err := def.Unmarshal(doc); err != nil {
			return err
		}
		var found *libvirtxml.DomainInterface
		if def.Devices != nil {
			for i, iface := range def.Devices.Interfaces {
				if iface.MAC != nil && strings.EqualFold(iface.MAC.Address, mac) {
					found = &def.Devices.Interfaces[i]
				}
			}
		}
		flags := libvirt.DOMAIN_DEVICE_MODIFY_CONFIG
		active, _ := dom.IsActive()
		if active {
			flags |= libvirt.DOMAIN_DEVICE_MODIFY_LIVE
		}
		if found == nil {
			// Not in the running guest; maybe still in the definition.
			inactive, err := dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
			if err != nil || !strings.Contains(strings.ToLower(inactive), strings.ToLower(mac)) {
				return err
			}
			flags = libvirt.DOMAIN_DEVICE_MODIFY_CONFIG
			found = &libvirtxml.DomainInterface{MAC: &libvirtxml.DomainInterfaceMAC{Address: mac}}
		}
		x, err := found.Marshal()
		if err != nil {
			return err
		}
		if err := dom.DetachDeviceFlags(x, flags); err != nil {
			return err
		}
		if !active {
			return nil
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			has, err := domainHasMAC(dom, mac)
			if err != nil || !has {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the guest has not released NIC %s", mac)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

func domainHasMAC(dom *libvirt.Domain, mac string) (bool, error) {
	doc, err := dom.GetXMLDesc(0)
	if err != nil {
		return false, err
	}
	return strings.Contains(strings.ToLower(doc), "<mac address='"+strings.ToLower(mac)+"'/>") ||
		strings.Contains(strings.ToLower(doc), `<mac address="`+strings.ToLower(mac)+`"`), nil
}

func nicXMLString(n hypervisor.NIC) (string, error) {
	x := nicXML(n)
	return x.Marshal()
}
