package datapath

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// Config is how one agent's datapath is set up.
type Config struct {
	// StateDir holds dnsmasq's files and pid files:
	// <StateDir>/dhcp/<network id>/...
	StateDir string
	// HostNetns is the namespace the bridges, taps and filter live in;
	// "" is the agent's own (production). Tests name a namespace they
	// made, and every command then runs inside it.
	HostNetns string
	// NamePrefix prefixes the named namespaces (qdhcp-, qrouter-) and the
	// filter tables, so two simulated hosts on one machine never collide.
	NamePrefix string
	// PhysicalInterfaces maps a physical network's name to the host's
	// interface carrying it (flat and VLAN networks).
	PhysicalInterfaces map[string]string
	// VTEP is this host's VXLAN tunnel address; the interface holding it
	// carries the tunnels. A network's own VTEP wins.
	VTEP string
	// Metadata is where the metadata proxy forwards; nil: no metadata.
	Metadata *MetadataProxy
	// LeaseTime is the DHCP lease time (default 24 h, Neutron's).
	LeaseTime time.Duration
	Log       *slog.Logger
}

// Datapath applies netspec.Host documents to this host's kernel: bridges
// and uplinks, taps, the security group filter, DHCP and metadata
// namespaces, router namespaces. See doc.go.
type Datapath struct {
	cfg Config
	log *slog.Logger

	// mu serialises Apply and Close and guards the fields below.
	mu       sync.Mutex
	applied  int64                      // generation last applied, -1 before the first
	quick    bool                       // this apply trusts what it loaded last (ApplyQuick)
	metadata map[string]*metadataServer // by network id
	tables   map[string][2]string       // nft loaded: script and listing, by namespace and table
	filter   filterScript               // the filter loaded last ({}: unknown), for member-only updates
	// done holds, by unit, the spec last applied without error (trusted);
	// lastUnits the last document's units, so a quick apply that only
	// adds skips reading the host back for removals.
	done      map[string]string
	lastUnits map[string]bool
}

// New checks cfg and returns a Datapath. It changes nothing on the host.
func New(cfg Config) (*Datapath, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("datapath: StateDir is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.LeaseTime <= 0 {
		cfg.LeaseTime = 24 * time.Hour
	}
	if cfg.Metadata != nil {
		if err := cfg.Metadata.check(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("datapath: state dir: %w", err)
	}
	return &Datapath{
		cfg:      cfg,
		log:      cfg.Log.With("component", "datapath"),
		applied:  -1,
		metadata: map[string]*metadataServer{},
		tables:   map[string][2]string{},
		done:     map[string]string{},
	}, nil
}

// devName is what this package accepts as an interface name from a
// document (it ends up in commands and nft rules).
var devName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)

// Apply makes the host hold what h says and removes what it no longer
// has, among objects with our names only. It is idempotent and does as
// much as it can: the error joins what failed (one broken network does
// not stop the others). A document older than the last applied is
// ignored.
func (d *Datapath) Apply(ctx context.Context, h netspec.Host) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.quick = false
	return d.apply(ctx, h)
}

// ApplyQuick is Apply for a new document while nothing else is expected
// to have changed the host: the nftables rulesets it loaded last, and the
// networks, DHCP servers and routers it made from the same spec, are
// trusted rather than read back from the host (see trusted), and removal
// is skipped when the document only gained things. Apply is the thorough
// repair; after a failed quick apply nothing is trusted.
func (d *Datapath) ApplyQuick(ctx context.Context, h netspec.Host) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.quick = true
	defer func() { d.quick = false }()
	err := d.apply(ctx, h)
	if err != nil {
		// Something trusted was not as made (a bridge deleted by hand,
		// say): nothing is trusted until it was made again.
		clear(d.done)
	}
	return err
}

func (d *Datapath) apply(ctx context.Context, h netspec.Host) error {
	if h.Generation < d.applied {
		d.log.Info("stale document ignored", "generation", h.Generation, "applied", d.applied)
		return nil
	}
	var errs []error
	fail := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	networks := make(map[string]netspec.Network, len(h.Networks))
	for _, n := range h.Networks {
		networks[n.ID] = n
	}

	// The filter first, so a new port is never up unfiltered: its rules
	// name the tap and hold before the tap exists.
	fail(d.applyFilter(ctx, h))
	units := map[string]bool{} // the units of this document (trust keys)
	for _, n := range h.Networks {
		l2 := n
		l2.DHCP = nil // DHCP is a unit of its own
		key := "network:" + n.ID
		units[key] = true
		if fp, ok := d.trusted(key, l2); !ok {
			err := d.applyNetwork(ctx, n)
			d.remember(key, fp, err)
			if err != nil {
				fail(fmt.Errorf("network %s: %w", n.ID, err))
			}
		}
	}
	keep := map[string]bool{} // tap devices the document names
	for _, p := range h.Ports {
		keep[p.Device] = true
	}
	fail(d.applyPorts(ctx, h.Ports, networks))
	for _, n := range h.Networks {
		if n.DHCP == nil {
			continue
		}
		keep[tapName(n.DHCP.PortID)] = true
		units["dhcp:"+n.ID] = true
		fail(d.applyDHCP(ctx, n))
	}
	for _, r := range h.Routers {
		mtus := map[string]int{}
		for _, ri := range r.Interfaces {
			keep[tapName(ri.PortID)] = true
			mtus[ri.NetworkID] = networks[ri.NetworkID].MTU
		}
		if r.Gateway != nil {
			keep[tapName(r.Gateway.PortID)] = true
			mtus[r.Gateway.NetworkID] = networks[r.Gateway.NetworkID].MTU
		}
		key := "router:" + r.ID
		units[key] = true
		if fp, ok := d.trusted(key, struct {
			R    netspec.Router
			MTUs map[string]int
		}{r, mtus}); !ok {
			err := d.applyRouter(ctx, r, networks)
			d.remember(key, fp, err)
			fail(err)
		}
	}
	// Removal reads the host back; a quick apply skips it when the
	// document only gained things since the last apply.
	for dev := range keep {
		units["device:"+dev] = true
	}
	if !d.quick || !subset(d.lastUnits, units) {
		fail(d.removeStale(ctx, h, keep))
	}
	for k := range d.done {
		if !units[k] {
			delete(d.done, k) // gone: if it comes back, it is made again
		}
	}
	d.lastUnits = units
	d.applied = h.Generation
	return errors.Join(errs...)
}

// trusted reports whether a quick apply may skip a unit (a network's L2,
// a DHCP server, a router): the same spec was applied without error last
// time. Like the filter's tables, what was made is trusted between the
// agent's thorough repairs; fp is the spec's fingerprint for remember.
func (d *Datapath) trusted(key string, spec any) (fp string, ok bool) {
	b, err := json.Marshal(spec)
	if err != nil {
		return "", false
	}
	fp = string(b)
	return fp, d.quick && d.done[key] == fp
}

// remember records a unit's outcome for trusted.
func (d *Datapath) remember(key, fp string, err error) {
	if err != nil || fp == "" {
		delete(d.done, key)
		return
	}
	d.done[key] = fp
}

func subset(a, b map[string]bool) bool {
	if a == nil {
		return false // nothing known yet
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// Close stops the metadata listeners. The datapath stays in place: an
// agent restart must not cut the instances' traffic.
func (d *Datapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for id, m := range d.metadata {
		errs = append(errs, m.close())
		delete(d.metadata, id)
	}
	return errors.Join(errs...)
}
