// Package agent is the compute agent's work: it takes jobs from its host's
// stream, drives the hypervisor through hypervisor.Driver, and reports
// every outcome on the events stream. It never touches PostgreSQL.
//
//	nimbus:compute:<host> ──> Agent.handle ──> hypervisor.Driver (libvirt)
//	                               └──> nimbus:events (started, spawned, failed, stopped, ...)
//
// Handlers are idempotent: a redelivered build finds its domain and only
// reports; a redelivered delete finds nothing and reports deleted. Jobs
// for one instance run one at a time.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
	"github.com/nimbus-cloud/nimbus/compute-agent/storage"
	"github.com/nimbus-cloud/nimbus/internal/failpoint"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// Config is what an Agent needs.
type Config struct {
	Host            string
	AZ              string
	Prefix          string        // Redis key prefix
	StateDir        string        // instance disks and the image cache live under it
	VNCListen       string        // address domains' VNC servers listen on
	ConsoleAddress  string        // where console proxies reach them (default VNCListen)
	Heartbeat       time.Duration // how often the host reports itself
	PowerSync       time.Duration // how often power states are reported
	Stats           time.Duration // how often domain and host statistics are sent (0: 10 s)
	ShutdownTimeout time.Duration // graceful stop before a hard power-off
	ClaimIdle       time.Duration // pending jobs of a dead consumer are reclaimed after this
	ImageCacheAge   time.Duration // an unused cached base goes once unused this long (0: 24 h)
	// Network runs the host's datapath (nil: off, domains get no NICs);
	// Taps is the libvirt driver's tap mover when the datapath lives in a
	// namespace of its own.
	Network *NetworkConfig
	Taps    *Taps
	// Storage is the pool of volumes this host keeps (nil: none);
	// StorageAddr is the address other hosts reach its NBD exports at.
	Storage     *storage.Local
	StorageAddr string
}

// Agent runs one host.
type Agent struct {
	// watches are the serial logs pages follow (pushLogs).
	watches logWatches
	cfg     Config
	drv     hypervisor.Driver
	rdb     *redis.Client
	log     *slog.Logger
	http    *http.Client
	info    hypervisor.HostInfo
	locks   sync.Map // instance id -> *sync.Mutex: one job per instance at a time
	images  sync.Mutex

	// reported is what the controller last heard of each domain, from
	// syncPower or from a job's own event; lastFull belongs to syncPower.
	reportedMu sync.Mutex
	reported   map[string]hypervisor.Status
	lastFull   time.Time

	net *network // nil: no datapath
	cpu hostCPU  // sendStats's previous reading
}

// fullSyncEvery is how many power syncs apart every domain is reported
// even when unchanged, with the host's whole list (a minute at the
// default 10 s), so a lost event or a controller's restart is repaired.
const fullSyncEvery = 6

// New returns an Agent for drv.
func New(cfg Config, drv hypervisor.Driver, rdb *redis.Client, log *slog.Logger) *Agent {
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.PowerSync == 0 {
		cfg.PowerSync = 10 * time.Second
	}
	if cfg.Stats == 0 {
		cfg.Stats = 10 * time.Second
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 60 * time.Second
	}
	return &Agent{cfg: cfg, drv: drv, rdb: rdb, log: log.With("component", "agent"),
		http: &http.Client{Timeout: 30 * time.Minute}}
}

// Run registers the host, then heartbeats, consumes jobs and syncs power
// states until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	// The state directory must exist before HostInfo measures the disk
	// it lives on (a missing one reported 0 GB, and every launch failed
	// the DiskFilter).
	if err := os.MkdirAll(a.cfg.StateDir, 0o755); err != nil {
		return err
	}
	info, err := a.drv.HostInfo(ctx)
	if err != nil {
		return fmt.Errorf("host info: %w", err)
	}
	a.info = info
	if a.cfg.Host == "" {
		a.cfg.Host = info.Hostname
	}
	a.log = a.log.With("host", a.cfg.Host)
	a.log.Info("agent started", "hypervisor", info.HypervisorType, "domain_type", info.DomainType,
		"vcpus", info.VCPUs, "memory_mb", info.MemoryMB)
	a.restoreVolumes(ctx)
	var wg sync.WaitGroup
	if a.cfg.Network != nil {
		a.net = newNetwork(*a.cfg.Network, a.cfg.Host, a.cfg.Prefix, a.cfg.StateDir, a.rdb, a.log)
		if a.cfg.Taps != nil {
			a.cfg.Taps.setReapply(func() {
				if _, err := a.net.apply(context.WithoutCancel(ctx), true); err != nil {
					a.log.Warn("apply the datapath document", "error", err)
				}
			})
		}
		wg.Add(1)
		go func() { defer wg.Done(); a.net.run(ctx) }()
	}
	wg.Add(7)
	a.watches = logWatches{}
	go func() { defer wg.Done(); a.every(ctx, a.cfg.Stats, a.sendStats) }()
	go func() { defer wg.Done(); a.every(ctx, time.Second, a.pushLogs) }()
	go func() {
		defer wg.Done()
		a.every(ctx, imageCacheEvery, func(ctx context.Context) error { _, err := a.pruneImageCache(ctx); return err })
	}()
	go func() { defer wg.Done(); a.every(ctx, a.cfg.Heartbeat, a.heartbeat) }()
	go func() { defer wg.Done(); queue.Serve(ctx, a.rdb, a.cfg.Prefix, a.cfg.Host, a.answer) }()
	go func() { defer wg.Done(); a.every(ctx, a.cfg.PowerSync, a.syncPower) }()
	go func() {
		defer wg.Done()
		c := &queue.Consumer{RDB: a.rdb, Stream: queue.HostStream(a.cfg.Prefix, a.cfg.Host), Group: "agent",
			Name: a.cfg.Host, DeadLetter: queue.DeadLetterStream(a.cfg.Prefix), ClaimIdle: a.cfg.ClaimIdle, Log: a.log,
			OnDead: a.dead}
		c.Run(ctx, a.handle)
	}()
	wg.Wait()
	a.log.Info("agent stopped")
	return nil
}

func (a *Agent) every(ctx context.Context, d time.Duration, fn func(context.Context) error) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("periodic task failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// heartbeat reports the host alive, but only while its hypervisor
// answers: an agent whose libvirt is gone (libvirtd restarted or dead)
// would otherwise keep a host "up" on which every job fails. The check
// reconnects when it can, so the host comes back by itself.
func (a *Agent) heartbeat(ctx context.Context) error {
	if err := a.checkHypervisor(ctx); err != nil {
		return fmt.Errorf("hypervisor unreachable, host not reported alive: %w", err)
	}
	info := a.info
	var st *queue.StorageInfo
	if a.cfg.Storage != nil {
		addr := a.cfg.StorageAddr
		if addr == "" {
			addr = a.consoleAddr()
		}
		st = &queue.StorageInfo{Backend: "local", FreeGB: a.cfg.Storage.FreeGB(), Addr: addr}
	}
	return queue.Heartbeat(ctx, a.rdb, a.cfg.Prefix, queue.AgentInfo{
		Host: a.cfg.Host, AZ: a.cfg.AZ, Hypervisor: info.HypervisorType, Arch: info.Arch, VCPUs: info.VCPUs,
		MemoryMB: info.MemoryMB, DiskGB: info.DiskGB, SeenAt: time.Now(), ConsoleAddr: a.consoleAddr(), Storage: st,
	})
}

func (a *Agent) consoleAddr() string {
	if a.cfg.ConsoleAddress != "" {
		return a.cfg.ConsoleAddress
	}
	if a.cfg.VNCListen != "" {
		return a.cfg.VNCListen
	}
	return "127.0.0.1"
}

// syncPower reports domains' power states: those that changed since the
// last report, and all of them once a minute. The controller turns an
// instance shut down from inside into SHUTOFF and removes domains whose
// instance it no longer has.
func (a *Agent) syncPower(ctx context.Context) error {
	sts, err := a.drv.List(ctx)
	if err != nil {
		return err
	}
	a.reportedMu.Lock()
	full := a.reported == nil || time.Since(a.lastFull) >= fullSyncEvery*a.cfg.PowerSync
	if full {
		a.reported, a.lastFull = map[string]hypervisor.Status{}, time.Now()
	}
	var changed []hypervisor.Status
	owned := []string{}
	for _, st := range sts {
		if !a.owns(st.InstanceID) {
			continue
		}
		owned = append(owned, st.InstanceID)
		if a.reported[st.InstanceID] != st {
			changed = append(changed, st)
		}
	}
	a.reportedMu.Unlock()
	for _, st := range changed {
		if err := a.emit(ctx, queue.Event{Kind: queue.EventPower, InstanceID: st.InstanceID, Power: st.State, VNCPort: st.VNCPort}); err != nil {
			return err
		}
		a.noteReported(st)
	}
	if full {
		// The whole list, so the controller learns of instances whose
		// domain is gone from this host.
		return a.emit(ctx, queue.Event{Kind: queue.EventInventory, Instances: owned})
	}
	return nil
}

// noteReported records that the controller knows st, so the next power
// sync does not report it again: a job's own event (spawned, powered on)
// already carried it, and a second report per launch was a second
// transaction per launch on the controller.
func (a *Agent) noteReported(st hypervisor.Status) {
	a.reportedMu.Lock()
	defer a.reportedMu.Unlock()
	if a.reported != nil {
		a.reported[st.InstanceID] = st
	}
}

// emit publishes an event.
func (a *Agent) emit(ctx context.Context, ev queue.Event) error {
	b, err := a.encode(ev)
	if err != nil {
		return err
	}
	return a.publish(ctx, b)
}

// encode stamps an event as this host's, now, and encodes it.
func (a *Agent) encode(ev queue.Event) ([]byte, error) {
	ev.V, ev.Host, ev.At = queue.Version, a.cfg.Host, time.Now().UTC()
	return json.Marshal(ev)
}

// publish puts an encoded event on the events stream.
func (a *Agent) publish(ctx context.Context, b []byte) error {
	return queue.Publish(ctx, a.rdb, queue.EventStream(a.cfg.Prefix), b)
}

// checkHypervisor asks a driver that can tell whether its connection
// still works, reconnecting when it does not.
func (a *Agent) checkHypervisor(ctx context.Context) error {
	p, ok := a.drv.(hypervisor.Pinger)
	if !ok {
		return nil
	}
	return p.Ping(ctx)
}

func (a *Agent) lock(id string) func() {
	m, _ := a.locks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// handle runs one job and reports its outcome. It returns an error only
// when the outcome could not be reported, so the job is retried.
func (a *Agent) handle(ctx context.Context, b []byte) error {
	var j queue.Job
	if err := queue.Decode(b, &j); err != nil {
		return err
	}
	if hypervisor.ValidateInstanceID(j.InstanceID) != nil {
		return fmt.Errorf("job for instance %q: %w", j.InstanceID, queue.ErrPoison)
	}
	defer a.lock(j.InstanceID)()
	log := a.log.With("instance_id", j.InstanceID, "job", j.Kind, "request_id", j.RequestID)
	done := queue.DoneKey(a.cfg.Prefix, a.cfg.Host, j)
	if done != "" {
		// Done before: report the outcome again, do not do it again.
		b, err := a.rdb.Get(ctx, done).Bytes()
		if err == nil {
			log.Info("job already done; reporting its outcome again")
			return a.publish(ctx, b)
		}
		if !errors.Is(err, redis.Nil) {
			return err
		}
	}
	failpoint.Hit("agent.job.received")
	ev, err := a.run(ctx, log, j)
	failpoint.Hit("agent.job.done")
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: leave the job pending
		}
		log.Warn("job failed", "error", err)
		ev = queue.Event{Kind: queue.EventFailed, Message: failMessage(j.Kind), Details: err.Error(),
			Retryable: j.Kind == queue.JobBuild && !errors.Is(err, errPermanent)}
		a.checkHypervisor(ctx)
	}
	ev.Job, ev.InstanceID, ev.RequestID, ev.ActionID, ev.ImageID = j.Kind, j.InstanceID, j.RequestID, j.ActionID, j.ImageID()
	b, merr := a.encode(ev)
	if merr != nil {
		return merr
	}
	if done != "" {
		// Remembered before it is reported: a crash between the two
		// reports it again on redelivery rather than doing it again.
		if err := a.rdb.Set(ctx, done, b, queue.DoneTTL).Err(); err != nil {
			return err
		}
	}
	failpoint.Hit("agent.job.remembered")
	if err := a.publish(ctx, b); err != nil {
		return err
	}
	failpoint.Hit("agent.job.reported") // reported, not yet acknowledged
	if ev.Kind == queue.EventDone && ev.Job != queue.JobDelete {
		// The event was made from the domain's status a moment ago: note
		// that, rather than asking libvirt again.
		a.noteReported(hypervisor.Status{InstanceID: j.InstanceID, State: ev.Power, VNCPort: ev.VNCPort})
	}
	return nil
}

// failMessage is what users see; the error itself (libvirt's words,
// paths) goes to Details, which only admins see.
func failMessage(kind queue.JobKind) string {
	switch kind {
	case queue.JobBuild:
		return "Build of instance failed on the compute host."
	case queue.JobDelete:
		return "The compute host failed to delete the instance."
	}
	return "The compute host failed to " + string(kind) + " the instance."
}

// run does a job. Every job but delete ends by reporting the domain's
// state as it is then (done, with its power and console port), so the
// controller records what the host has, not what was asked.
func (a *Agent) run(ctx context.Context, log *slog.Logger, j queue.Job) (queue.Event, error) {
	id := j.InstanceID
	var err error
	switch j.Kind {
	case queue.JobBuild:
		return a.build(ctx, log, j)
	case queue.JobSnapshot:
		return a.snapshot(ctx, log, j)
	case queue.JobShelve:
		// A snapshot, then off: the domain stays until offloaded.
		if _, err := a.snapshot(ctx, log, j); err != nil {
			return queue.Event{}, err
		}
		if err := a.powerOff(ctx, id); err != nil {
			return queue.Event{}, err
		}
		ev, err := a.done(ctx, id)
		ev.ImageID = j.ImageID()
		return ev, err
	case queue.JobSoftDelete:
		err = a.powerOff(ctx, id)
	case queue.JobOffload:
		if err := a.discard(ctx, id); err != nil {
			return queue.Event{}, err
		}
		return queue.Event{Kind: queue.EventDone}, nil
	case queue.JobRebuild:
		return a.rebuild(ctx, log, j)
	case queue.JobRescue:
		return a.rescue(ctx, log, j)
	case queue.JobUnrescue:
		return a.unrescue(ctx, j)
	case queue.JobStart, queue.JobResume, queue.JobUnshelve, queue.JobRestore:
		// Start restores a suspended domain from its save.
		err = a.drv.Start(ctx, id)
	case queue.JobReboot:
		err = a.drv.Reboot(ctx, id, j.Hard)
	case queue.JobStop:
		err = a.drv.Shutdown(ctx, id, a.cfg.ShutdownTimeout)
	case queue.JobPause:
		err = a.drv.Pause(ctx, id)
	case queue.JobUnpause:
		err = a.drv.Unpause(ctx, id)
	case queue.JobSuspend:
		err = a.drv.Save(ctx, id)
	case queue.JobResizeOut:
		return a.resizeOut(ctx, log, j)
	case queue.JobResizeIn:
		return a.resizeIn(ctx, log, j)
	case queue.JobConfirmMove:
		return a.confirmMove(j)
	case queue.JobFinishRevert:
		return a.unpark(ctx, j)
	case queue.JobRevertMove:
		if err := a.discard(ctx, id); err != nil {
			return queue.Event{}, err
		}
		return queue.Event{Kind: queue.EventDone}, nil
	case queue.JobDelete:
		// Undefine removes the managed save of a suspended domain too; a
		// move's parked copy goes with the rest.
		if err := a.discard(ctx, id); err != nil {
			return queue.Event{}, err
		}
		if err := os.RemoveAll(a.parkedDir(id)); err != nil {
			return queue.Event{}, err
		}
		return queue.Event{Kind: queue.EventDone}, nil
	default:
		return queue.Event{}, fmt.Errorf("unknown job kind %q: %w", j.Kind, queue.ErrPoison)
	}
	if err != nil {
		return queue.Event{}, err
	}
	return a.done(ctx, id)
}

// powerOff shuts a domain down, as stop does, but pulls the plug of a
// paused one: a paused guest cannot hear the power button.
func (a *Agent) powerOff(ctx context.Context, id string) error {
	st, err := a.drv.Get(ctx, id)
	if err != nil {
		return err
	}
	if st.State == hypervisor.Paused {
		return a.drv.Destroy(ctx, id)
	}
	return a.drv.Shutdown(ctx, id, a.cfg.ShutdownTimeout)
}

// done is a job's report: the domain as it is now.
func (a *Agent) done(ctx context.Context, id string) (queue.Event, error) {
	st, err := a.drv.Get(ctx, id)
	if err != nil {
		return queue.Event{}, err
	}
	return queue.Event{Kind: queue.EventDone, Power: st.State, VNCPort: st.VNCPort}, nil
}

// owns reports whether this agent made the domain. On a real hypervisor
// other Nimbus deployments (a second cloud, a test run) may share libvirt;
// only domains with an instance directory under this agent's state
// directory are reported, so reconciliation never removes another's.
// libvirt's test driver is private to the process: all its domains are ours.
func (a *Agent) owns(id string) bool {
	if a.info.DomainType == "test" {
		return true
	}
	_, err := os.Stat(a.instanceDir(id))
	return err == nil
}

func (a *Agent) instanceDir(id string) string { return filepath.Join(a.cfg.StateDir, "instances", id) }

// dead reports a job given up on, so its instance does not wait forever.
func (a *Agent) dead(ctx context.Context, b []byte, reason string) {
	var j queue.Job
	if queue.Decode(b, &j) != nil || hypervisor.ValidateInstanceID(j.InstanceID) != nil {
		return
	}
	_ = a.emit(ctx, queue.Event{Kind: queue.EventFailed, Job: j.Kind, InstanceID: j.InstanceID, RequestID: j.RequestID,
		ActionID: j.ActionID, ImageID: j.ImageID(), Message: failMessage(j.Kind), Details: "job dead-lettered: " + reason})
}
