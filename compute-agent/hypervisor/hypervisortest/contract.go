// Package hypervisortest holds the contract test suite every
// hypervisor.Driver must pass. An implementation's tests call RunContract
// with a factory for drivers and one for specs:
//
//	func TestContract(t *testing.T) {
//		hypervisortest.RunContract(t,
//			func(t *testing.T) hypervisor.Driver { d, err := New(...); ...; return d },
//			func(t *testing.T, name string) hypervisor.Spec {
//				return hypervisor.Spec{VCPUs: 1, MemoryMB: 128}
//			})
//	}
package hypervisortest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
)

// ShutdownTimeout is how long the suite lets a guest react to an ACPI
// shutdown before the driver must power it off hard. It is short because a
// contract test guest usually has no operating system to react.
const ShutdownTimeout = 2 * time.Second

// NewInstanceID returns a random (version 4) UUID in canonical form.
func NewInstanceID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// RunContract runs the contract suite as parallel subtests.
//
// newDriver returns a fresh driver for one subtest; the suite closes it when
// the subtest ends, so the factory must not. Drivers from different
// subtests may share a hypervisor: every check only concerns instances the
// subtest defined itself, and every instance is destroyed and undefined
// when its subtest ends.
//
// specFor returns the spec of a new instance; name is a label unique within
// the run (e.g. "lifecycle", "concurrent-07") that the factory may use for
// file names. If the spec's InstanceID is empty the suite sets a fresh
// random UUID; a factory that sets its own must make it unique.
func RunContract(t *testing.T, newDriver func(t *testing.T) hypervisor.Driver, specFor func(t *testing.T, name string) hypervisor.Spec) {
	t.Helper()
	s := &suite{newDriver: newDriver, specFor: specFor}
	t.Run("Lifecycle", s.lifecycle)
	t.Run("PauseAndSave", s.pauseAndSave)
	t.Run("Missing", s.missing)
	t.Run("InvalidInput", s.invalidInput)
	t.Run("CanceledContext", s.canceledContext)
	t.Run("List", s.list)
	t.Run("ConcurrentDefine", s.concurrentDefine)
	t.Run("HostInfo", s.hostInfo)
}

type suite struct {
	newDriver func(t *testing.T) hypervisor.Driver
	specFor   func(t *testing.T, name string) hypervisor.Spec
}

// driver returns a new driver that is closed when t ends.
func (s *suite) driver(t *testing.T) hypervisor.Driver {
	t.Helper()
	d := s.newDriver(t)
	if d == nil {
		t.Fatal("newDriver returned nil")
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// spec returns the spec for a new instance and registers its cleanup
// (destroy, undefine) on t; the cleanup runs before the driver is closed.
func (s *suite) spec(t *testing.T, d hypervisor.Driver, name string) hypervisor.Spec {
	t.Helper()
	spec := s.specFor(t, name)
	if spec.InstanceID == "" {
		spec.InstanceID = NewInstanceID()
	}
	if err := spec.Validate(); err != nil {
		t.Fatalf("specFor(%q) returned an invalid spec: %v", name, err)
	}
	id := spec.InstanceID
	t.Cleanup(func() {
		ctx := context.Background()
		if err := d.Destroy(ctx, id); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
			t.Errorf("cleanup: Destroy(%s): %v", id, err)
		}
		if err := d.Undefine(ctx, id); err != nil {
			t.Errorf("cleanup: Undefine(%s): %v", id, err)
		}
	})
	return spec
}

// expect fails the test unless Get reports state for id.
func expect(t *testing.T, d hypervisor.Driver, step, id string, state hypervisor.PowerState) hypervisor.Status {
	t.Helper()
	st, err := d.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("%s: Get: %v", step, err)
	}
	if st.InstanceID != id {
		t.Fatalf("%s: Get returned InstanceID %q, want %q", step, st.InstanceID, id)
	}
	if st.State != state {
		t.Fatalf("%s: state = %q, want %q", step, st.State, state)
	}
	if state != hypervisor.Running && st.VNCPort != 0 {
		t.Fatalf("%s: VNCPort = %d for a domain that is not running, want 0", step, st.VNCPort)
	}
	if st.VNCPort < 0 || st.VNCPort > 65535 {
		t.Fatalf("%s: VNCPort = %d out of range", step, st.VNCPort)
	}
	return st
}

// must fails the test if err is not nil.
func must(t *testing.T, step string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// pauseAndSave walks pause, unpause, managed save (suspend) and restore,
// each repeated (a job may arrive twice), and checks a hard reboot and an
// undefine discard a save.
func (s *suite) pauseAndSave(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := s.driver(t)
	spec := s.spec(t, d, "pause")
	id := spec.InstanceID
	must(t, "define", d.Define(ctx, spec))
	if err := d.Pause(ctx, id); err == nil {
		t.Fatal("pause of a stopped domain: no error")
	}
	if err := d.Save(ctx, id); err == nil {
		t.Fatal("save of a stopped domain: no error")
	}
	must(t, "start", d.Start(ctx, id))
	for i := 0; i < 2; i++ {
		must(t, "pause", d.Pause(ctx, id))
		expect(t, d, "after pause", id, hypervisor.Paused)
	}
	for i := 0; i < 2; i++ {
		must(t, "unpause", d.Unpause(ctx, id))
		expect(t, d, "after unpause", id, hypervisor.Running)
	}
	for i := 0; i < 2; i++ {
		must(t, "save", d.Save(ctx, id))
		expect(t, d, "after save", id, hypervisor.Suspended)
	}
	if err := d.Unpause(ctx, id); err == nil {
		t.Fatal("unpause of a saved domain: no error")
	}
	must(t, "start from the save", d.Start(ctx, id))
	expect(t, d, "after restore", id, hypervisor.Running)
	must(t, "pause before save", d.Pause(ctx, id))
	must(t, "save a paused domain", d.Save(ctx, id))
	expect(t, d, "after saving a paused domain", id, hypervisor.Suspended)
	must(t, "hard reboot of a saved domain", d.Reboot(ctx, id, true))
	expect(t, d, "after hard reboot of a saved domain", id, hypervisor.Running)
	must(t, "destroy", d.Destroy(ctx, id))
	expect(t, d, "a hard reboot discards the save", id, hypervisor.Shutoff)
	must(t, "start", d.Start(ctx, id))
	must(t, "save before undefine", d.Save(ctx, id))
	must(t, "undefine a saved domain", d.Undefine(ctx, id))
	if _, err := d.Get(ctx, id); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("after undefine: Get error = %v, want ErrNotFound", err)
	}
}

func (s *suite) lifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := s.driver(t)
	spec := s.spec(t, d, "lifecycle")
	id := spec.InstanceID

	must(t, "define", d.Define(ctx, spec))
	expect(t, d, "after define", id, hypervisor.Shutoff)
	must(t, "define again", d.Define(ctx, spec))
	expect(t, d, "after second define", id, hypervisor.Shutoff)

	must(t, "start", d.Start(ctx, id))
	st := expect(t, d, "after start", id, hypervisor.Running)
	if spec.VNCListen == "" && st.VNCPort != 0 {
		t.Fatalf("after start: VNCPort = %d without graphics, want 0", st.VNCPort)
	}
	must(t, "start again", d.Start(ctx, id))
	expect(t, d, "after second start", id, hypervisor.Running)
	must(t, "define while running", d.Define(ctx, spec))
	expect(t, d, "after define while running", id, hypervisor.Running)

	must(t, "soft reboot", d.Reboot(ctx, id, false))
	expect(t, d, "after soft reboot", id, hypervisor.Running)
	must(t, "hard reboot", d.Reboot(ctx, id, true))
	expect(t, d, "after hard reboot", id, hypervisor.Running)

	must(t, "shutdown", d.Shutdown(ctx, id, ShutdownTimeout))
	expect(t, d, "after shutdown", id, hypervisor.Shutoff)
	must(t, "shutdown again", d.Shutdown(ctx, id, ShutdownTimeout))
	expect(t, d, "after second shutdown", id, hypervisor.Shutoff)
	must(t, "destroy while stopped", d.Destroy(ctx, id))
	expect(t, d, "after destroy while stopped", id, hypervisor.Shutoff)
	if err := d.Reboot(ctx, id, false); err == nil {
		t.Fatal("soft reboot of a stopped domain: no error")
	}
	expect(t, d, "after refused soft reboot", id, hypervisor.Shutoff)

	must(t, "start after shutdown", d.Start(ctx, id))
	expect(t, d, "after restart", id, hypervisor.Running)
	must(t, "destroy", d.Destroy(ctx, id))
	expect(t, d, "after destroy", id, hypervisor.Shutoff)

	must(t, "hard reboot while stopped", d.Reboot(ctx, id, true))
	expect(t, d, "after hard reboot from shutoff", id, hypervisor.Running)
	must(t, "destroy again", d.Destroy(ctx, id))
	expect(t, d, "after second destroy", id, hypervisor.Shutoff)

	must(t, "undefine", d.Undefine(ctx, id))
	if _, err := d.Get(ctx, id); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("after undefine: Get error = %v, want ErrNotFound", err)
	}
	must(t, "undefine again", d.Undefine(ctx, id))
	list, err := d.List(ctx)
	must(t, "list after undefine", err)
	for _, st := range list {
		if st.InstanceID == id {
			t.Fatalf("after undefine: List still reports %s", id)
		}
	}
}

func (s *suite) missing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := s.driver(t)
	id := NewInstanceID()
	if _, err := d.Get(ctx, id); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("Get: error = %v, want ErrNotFound", err)
	}
	for name, call := range map[string]func() error{
		"Start":       func() error { return d.Start(ctx, id) },
		"Shutdown":    func() error { return d.Shutdown(ctx, id, ShutdownTimeout) },
		"Destroy":     func() error { return d.Destroy(ctx, id) },
		"Reboot":      func() error { return d.Reboot(ctx, id, false) },
		"Reboot hard": func() error { return d.Reboot(ctx, id, true) },
	} {
		if err := call(); !errors.Is(err, hypervisor.ErrNotFound) {
			t.Errorf("%s: error = %v, want ErrNotFound", name, err)
		}
	}
	if err := d.Undefine(ctx, id); err != nil {
		t.Errorf("Undefine of a missing domain: %v", err)
	}
}

func (s *suite) invalidInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := s.driver(t)
	good := s.spec(t, d, "invalid")
	for _, bad := range []string{"", `"><evil/>`, "test", "../" + good.InstanceID, good.InstanceID + " "} {
		spec := good
		spec.InstanceID = bad
		if err := d.Define(ctx, spec); !errors.Is(err, hypervisor.ErrInvalidSpec) {
			t.Errorf("Define(InstanceID %q): error = %v, want ErrInvalidSpec", bad, err)
		}
		if _, err := d.Get(ctx, bad); !errors.Is(err, hypervisor.ErrInvalidSpec) {
			t.Errorf("Get(%q): error = %v, want ErrInvalidSpec", bad, err)
		}
		if err := d.Start(ctx, bad); !errors.Is(err, hypervisor.ErrInvalidSpec) {
			t.Errorf("Start(%q): error = %v, want ErrInvalidSpec", bad, err)
		}
		if err := d.Undefine(ctx, bad); !errors.Is(err, hypervisor.ErrInvalidSpec) {
			t.Errorf("Undefine(%q): error = %v, want ErrInvalidSpec", bad, err)
		}
	}
	for name, mutate := range map[string]func(*hypervisor.Spec){
		"zero vcpus":    func(s *hypervisor.Spec) { s.VCPUs = 0 },
		"zero memory":   func(s *hypervisor.Spec) { s.MemoryMB = 0 },
		"relative disk": func(s *hypervisor.Spec) { s.DiskPath = "disk.qcow2" },
	} {
		spec := good
		mutate(&spec)
		if err := d.Define(ctx, spec); !errors.Is(err, hypervisor.ErrInvalidSpec) {
			t.Errorf("Define with %s: error = %v, want ErrInvalidSpec", name, err)
		}
	}
	if _, err := d.Get(ctx, good.InstanceID); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("a rejected Define left a domain behind: Get error = %v", err)
	}
}

func (s *suite) canceledContext(t *testing.T) {
	t.Parallel()
	d := s.driver(t)
	spec := s.spec(t, d, "canceled")
	must(t, "define", d.Define(context.Background(), spec))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	id := spec.InstanceID
	checks := map[string]error{
		"Define":   d.Define(ctx, spec),
		"Start":    d.Start(ctx, id),
		"Shutdown": d.Shutdown(ctx, id, ShutdownTimeout),
		"Destroy":  d.Destroy(ctx, id),
		"Reboot":   d.Reboot(ctx, id, true),
		"Undefine": d.Undefine(ctx, id),
	}
	_, checks["Get"] = d.Get(ctx, id)
	_, checks["List"] = d.List(ctx)
	_, checks["HostInfo"] = d.HostInfo(ctx)
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: error = %v, want context.Canceled", name, err)
		}
	}
	expect(t, d, "after canceled calls", id, hypervisor.Shutoff)
}

func (s *suite) list(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := s.driver(t)
	a := s.spec(t, d, "list-a")
	b := s.spec(t, d, "list-b")
	must(t, "define a", d.Define(ctx, a))
	must(t, "define b", d.Define(ctx, b))
	must(t, "start b", d.Start(ctx, b.InstanceID))

	list, err := d.List(ctx)
	must(t, "list", err)
	seen := map[string]hypervisor.PowerState{}
	for i, st := range list {
		if err := hypervisor.ValidateInstanceID(st.InstanceID); err != nil {
			t.Errorf("List reports a domain that is not a Nimbus domain: %+v", st)
		}
		if _, dup := seen[st.InstanceID]; dup {
			t.Errorf("List reports %s twice", st.InstanceID)
		}
		if i > 0 && list[i-1].InstanceID > st.InstanceID {
			t.Errorf("List is not sorted by InstanceID at %d", i)
		}
		seen[st.InstanceID] = st.State
	}
	if got := seen[a.InstanceID]; got != hypervisor.Shutoff {
		t.Errorf("List: %s state = %q, want shutoff", a.InstanceID, got)
	}
	if got := seen[b.InstanceID]; got != hypervisor.Running {
		t.Errorf("List: %s state = %q, want running", b.InstanceID, got)
	}
}

func (s *suite) concurrentDefine(t *testing.T) {
	t.Parallel()
	const n = 20
	ctx := context.Background()
	d := s.driver(t)
	specs := make([]hypervisor.Spec, n)
	for i := range specs {
		specs[i] = s.spec(t, d, fmt.Sprintf("concurrent-%02d", i))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range specs {
		wg.Go(func() { errs[i] = d.Define(ctx, specs[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Define %d: %v", i, err)
		}
	}
	list, err := d.List(ctx)
	must(t, "list", err)
	listed := map[string]bool{}
	for _, st := range list {
		listed[st.InstanceID] = true
	}
	for _, spec := range specs {
		if !listed[spec.InstanceID] {
			t.Errorf("List misses concurrently defined %s", spec.InstanceID)
		}
		expect(t, d, "after concurrent define", spec.InstanceID, hypervisor.Shutoff)
	}
}

func (s *suite) hostInfo(t *testing.T) {
	t.Parallel()
	d := s.driver(t)
	info, err := d.HostInfo(context.Background())
	must(t, "host info", err)
	if info.Hostname == "" || info.HypervisorType == "" || info.Arch == "" {
		t.Errorf("HostInfo lacks names: %+v", info)
	}
	if info.VCPUs <= 0 || info.MemoryMB <= 0 || info.DiskGB < 0 {
		t.Errorf("HostInfo capacity: %+v", info)
	}
	switch info.DomainType {
	case "kvm", "qemu", "test":
	default:
		t.Errorf("HostInfo.DomainType = %q, want kvm, qemu or test", info.DomainType)
	}
}
