package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/compute-agent/datapath"
	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/netspec"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// NetworkConfig turns the host's network datapath on (Config.Network nil:
// off, domains get no NICs).
type NetworkConfig struct {
	// HostNetns keeps bridges, taps and filters in that namespace instead
	// of the agent's own (tests: nothing touches the machine's own
	// namespace); taps are moved there once libvirt opened them.
	HostNetns string
	// NamePrefix prefixes the datapath's namespaces and tables, so two
	// simulated hosts on one machine never collide.
	NamePrefix string
	// PhysicalInterfaces maps physical network names to the host's
	// interfaces (flat and VLAN networks).
	PhysicalInterfaces map[string]string
	// VTEP is the host's VXLAN tunnel address ("": VXLAN networks stay on
	// this host).
	VTEP string
}

// network is the agent's datapath: it applies the host's document from
// Redis at start, when the controller announces a new one, and every
// minute (repairing whatever happened to the host meanwhile).
type network struct {
	cfg    NetworkConfig
	host   string
	prefix string
	state  string
	rdb    *redis.Client
	log    *slog.Logger

	mu      sync.Mutex // one Apply at a time; guards dp and applied
	dp      *datapath.Datapath
	applied int64 // the generation applied last

	lastMu   sync.Mutex
	last     applied       // the last apply's outcome
	lastDone chan struct{} // closed when an apply ends
}

// applied is what an apply of a document did: the ports it carried and
// its error (nil: all of it is in place).
type applied struct {
	ports map[string]bool
	err   error
}

// lastApply returns the last apply's outcome and a channel closed when
// the next one ends.
func (n *network) lastApply() (applied, <-chan struct{}) {
	n.lastMu.Lock()
	defer n.lastMu.Unlock()
	if n.lastDone == nil {
		n.lastDone = make(chan struct{})
	}
	return n.last, n.lastDone
}

func (n *network) record(doc netspec.Host, err error) {
	ports := make(map[string]bool, len(doc.Ports))
	for _, p := range doc.Ports {
		ports[p.ID] = true
	}
	n.lastMu.Lock()
	defer n.lastMu.Unlock()
	n.last = applied{ports: ports, err: err}
	if n.lastDone != nil {
		close(n.lastDone)
	}
	n.lastDone = make(chan struct{})
}

// netRepairEvery is how often the whole document is applied again.
const netRepairEvery = time.Minute

func newNetwork(cfg NetworkConfig, host, prefix, stateDir string, rdb *redis.Client, log *slog.Logger) *network {
	return &network{cfg: cfg, host: host, prefix: prefix, state: filepath.Join(stateDir, "network"), rdb: rdb,
		log: log.With("component", "network")}
}

// run registers the host's datapath with the controllers and applies
// documents until ctx ends; the datapath stays as it is after (an agent
// restart must not cut the guests off).
func (n *network) run(ctx context.Context) {
	var physnets []string
	for name, ifc := range n.cfg.PhysicalInterfaces {
		if ifc != "" {
			physnets = append(physnets, name)
		}
	}
	slices.Sort(physnets)
	for ctx.Err() == nil {
		if err := netspec.Register(ctx, n.rdb, n.prefix, n.host, netspec.AgentInfo{VTEP: n.cfg.VTEP, PhysicalNetworks: physnets}); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	sub := n.rdb.Subscribe(ctx, netspec.Channel(n.prefix))
	defer sub.Close()
	news := sub.Channel()
	t := time.NewTicker(netRepairEvery)
	defer t.Stop()
	_ = netspec.Want(ctx, n.rdb, n.prefix, n.host)
	force := true // at start, and every minute: whatever happened to the host is repaired
	for {
		if _, err := n.apply(ctx, force); err != nil && ctx.Err() == nil {
			n.log.Warn("apply the datapath document", "error", err)
		}
		force = false
		select {
		case <-ctx.Done():
			n.mu.Lock()
			if n.dp != nil {
				n.dp.Close()
			}
			n.mu.Unlock()
			return
		case m := <-news:
			if m == nil || m.Payload != n.host {
				continue
			}
		case <-t.C:
			force = true
		}
	}
}

// apply applies the host's newest document when it is newer than the
// one applied (or always, when forced), records its generation and tells
// the controllers (which then mark its ports ACTIVE); it returns the
// document.
func (n *network) apply(ctx context.Context, force bool) (netspec.Host, error) {
	doc, ok, err := netspec.Fetch(ctx, n.rdb, n.prefix, n.host)
	if err != nil || !ok {
		return doc, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !force && n.dp != nil && doc.Generation <= n.applied {
		return doc, nil
	}
	if n.dp == nil {
		cfg := datapath.Config{StateDir: n.state, HostNetns: n.cfg.HostNetns, NamePrefix: n.cfg.NamePrefix,
			PhysicalInterfaces: n.cfg.PhysicalInterfaces, VTEP: n.cfg.VTEP, Log: n.log}
		if doc.Metadata != nil {
			cfg.Metadata = &datapath.MetadataProxy{Upstream: doc.Metadata.URL, Secret: doc.Metadata.Secret}
		}
		if n.dp, err = datapath.New(cfg); err != nil {
			return doc, err
		}
	}
	apply := n.dp.ApplyQuick
	if force {
		apply = n.dp.Apply // the repair reads the kernel back
	}
	err = apply(ctx, doc)
	if err != nil && !force {
		// The quick apply trusted something the host no longer has: the
		// thorough one reads everything back and repairs it.
		n.log.Info("quick apply failed: repairing", "error", err)
		err = n.dp.Apply(ctx, doc)
	}
	n.record(doc, err)
	if err != nil {
		return doc, err
	}
	n.applied = max(n.applied, doc.Generation)
	return doc, netspec.SetApplied(ctx, n.rdb, n.prefix, n.host, doc.Generation)
}

// ensurePorts waits until an apply of the host's document carried every
// port (the controller is asked for them), so a domain's taps exist, on
// their bridges and filtered, before it starts. It reads what the run
// loop applied rather than fetching the document itself: a host starting
// twenty guests would otherwise decode the document twenty times per
// announcement.
func (n *network) ensurePorts(ctx context.Context, ports []string) error {
	deadline := time.Now().Add(30 * time.Second)
	var asked time.Time
	for {
		last, done := n.lastApply()
		missing := ""
		for _, id := range ports {
			if !last.ports[id] {
				missing = id
			}
		}
		if missing == "" {
			if last.err != nil {
				return fmt.Errorf("network datapath: %w", last.err)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("network datapath: the controller has not given this host port %s", missing)
		}
		if time.Since(asked) > time.Second {
			_ = netspec.Want(ctx, n.rdb, n.prefix, n.host)
			asked = time.Now()
		}
		// Woken when an apply ends; the timer applies the newest
		// document here in case an announcement was lost (Redis pub/sub
		// does not queue).
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
		case <-time.After(time.Second):
			if _, err := n.apply(ctx, false); err != nil && ctx.Err() == nil {
				n.log.Warn("apply the datapath document", "error", err)
			}
		}
	}
}

// Taps moves domains' tap devices for the libvirt driver
// (libvirtdriver.TapMover) when the datapath keeps them in a namespace of
// its own (NetworkConfig.HostNetns): libvirt opens them in the agent's.
type Taps struct {
	HostNetns string
	Log       *slog.Logger
	mu        sync.Mutex
	reapply   func() // the agent's: apply the datapath document again
}

// BeforeStart puts a domain's taps where libvirt opens them (the agent's
// own namespace), making those that do not exist yet.
func (n *Taps) BeforeStart(taps []string) error {
	self := strconv.Itoa(os.Getpid())
	for _, tap := range taps {
		if exec.Command("ip", "-n", n.HostNetns, "link", "show", "dev", tap).Run() == nil {
			if out, err := exec.Command("ip", "-n", n.HostNetns, "link", "set", "dev", tap, "netns", self).CombinedOutput(); err != nil {
				return fmt.Errorf("move %s out of %s: %v: %s", tap, n.HostNetns, err, out)
			}
			continue
		}
		if exec.Command("ip", "link", "show", "dev", tap).Run() != nil {
			if out, err := exec.Command("ip", "tuntap", "add", "dev", tap, "mode", "tap").CombinedOutput(); err != nil {
				return fmt.Errorf("make %s: %v: %s", tap, err, out)
			}
		}
	}
	return nil
}

// AfterStart moves a started domain's taps back into the datapath's
// namespace and applies the document again, which puts them on their
// bridges.
func (n *Taps) AfterStart(taps []string) {
	for _, tap := range taps {
		out, err := exec.Command("ip", "link", "set", "dev", tap, "netns", n.HostNetns).CombinedOutput()
		if err != nil && strings.Contains(string(out), "same name exists") {
			// The datapath's own apply saw the port's tap missing while
			// this one was lent out for the start, and made another: that
			// one carries no guest, this one does. (TestQEMUNetworking's
			// vm3 got no DHCP lease in a clean run: its tap stayed out.)
			exec.Command("ip", "-n", n.HostNetns, "link", "del", "dev", tap).Run()
			out, err = exec.Command("ip", "link", "set", "dev", tap, "netns", n.HostNetns).CombinedOutput()
		}
		if err != nil {
			n.Log.Warn("move a tap into the datapath's namespace", "tap", tap, "error", err, "output", string(out))
		}
	}
	n.mu.Lock()
	reapply := n.reapply
	n.mu.Unlock()
	if reapply != nil {
		reapply()
	}
}

func (n *Taps) setReapply(fn func()) {
	n.mu.Lock()
	n.reapply = fn
	n.mu.Unlock()
}

// changeNIC plugs a port's NIC into an instance's domain (its tap made,
// bridged and filtered first) or unplugs it (os-interface).
func (a *Agent) changeNIC(ctx context.Context, id string, nic queue.NIC, plug bool) error {
	defer a.lock(id)()
	plugger, ok := a.drv.(hypervisor.NICPlugger)
	if !ok {
		return fmt.Errorf("this hypervisor cannot change NICs")
	}
	hn := hypervisor.NIC{Device: nic.Device, MAC: nic.MAC, MTU: nic.MTU}
	if !plug {
		return plugger.UnplugNIC(ctx, id, nic.MAC)
	}
	if a.net != nil {
		if err := a.net.ensurePorts(ctx, []string{nic.PortID}); err != nil {
			return err
		}
	}
	if a.info.DomainType == "test" {
		return nil // it runs nothing to plug into
	}
	if a.net == nil {
		return fmt.Errorf("this host runs no network datapath")
	}
	if a.cfg.Taps == nil {
		return plugger.PlugNIC(ctx, id, hn)
	}
	// libvirt opens the tap in its own namespace, then it goes back.
	if err := a.cfg.Taps.BeforeStart([]string{nic.Device}); err != nil {
		return err
	}
	err := plugger.PlugNIC(ctx, id, hn)
	a.cfg.Taps.AfterStart([]string{nic.Device})
	return err
}
