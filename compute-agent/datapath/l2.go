package datapath

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// vxlanPort is the IANA VXLAN port (the kernel's default is Linux's
// older 8472).
const vxlanPort = 4789

// zeroMAC is the flooding entry's address in a VXLAN device's fdb:
// broadcast, unknown unicast and multicast go to every such destination.
const zeroMAC = "00:00:00:00:00:00"

// applyNetwork makes the network's bridge and its uplink.
func (d *Datapath) applyNetwork(ctx context.Context, n netspec.Network) error {
	if n.ID == "" {
		return errors.New("network without id")
	}
	ns := d.cfg.HostNetns
	br := bridgeName(n.ID)
	uplink, err := d.ensureUplink(ctx, n)
	if err != nil {
		return err
	}
	l, ok, err := linkByName(ctx, ns, br)
	if err != nil {
		return err
	}
	if !ok {
		// No IPv6 address of its own: the bridge is not a host on the
		// tenant's network.
		if _, err := run(ctx, ns, "ip", "link", "add", br, "type", "bridge"); err != nil {
			return err
		}
		if _, err := run(ctx, ns, "ip", "link", "set", br, "addrgenmode", "none"); err != nil {
			return err
		}
		d.log.Info("bridge created", "bridge", br, "network_id", n.ID)
	}
	if uplink != "" {
		if err := d.plug(ctx, uplink, br, n.MTU, n.Type != netspec.TypeFlat); err != nil {
			return err
		}
	}
	if err := d.setLink(ctx, l, ok, br, "", n.MTU); err != nil {
		return err
	}
	if n.Type == netspec.TypeVXLAN {
		return d.ensureFlooding(ctx, uplink, n.Peers)
	}
	return nil
}

// ensureUplink makes the network's uplink device and returns its name
// ("" for a local network).
func (d *Datapath) ensureUplink(ctx context.Context, n netspec.Network) (string, error) {
	ns := d.cfg.HostNetns
	switch n.Type {
	case netspec.TypeLocal:
		return "", nil
	case netspec.TypeFlat, netspec.TypeVLAN:
		phys := n.PhysicalInterface
		if phys == "" {
			phys = d.cfg.PhysicalInterfaces[n.PhysicalNetwork]
		}
		if phys == "" || !devName.MatchString(phys) {
			return "", fmt.Errorf("no interface for physical network %q", n.PhysicalNetwork)
		}
		if _, ok, err := linkByName(ctx, ns, phys); err != nil || !ok {
			return "", errors.Join(err, fmt.Errorf("physical interface %s missing", phys))
		}
		if n.Type == netspec.TypeFlat {
			return phys, nil
		}
		if n.SegmentationID < 1 || n.SegmentationID > 4094 {
			return "", fmt.Errorf("bad vlan id %d", n.SegmentationID)
		}
		name := vlanName(phys, n.SegmentationID)
		l, ok, err := linkByName(ctx, ns, name)
		if err != nil {
			return "", err
		}
		if ok && (l.LinkInfo.Kind != "vlan" || l.Parent != phys || l.LinkInfo.Data.ID != n.SegmentationID) {
			return "", fmt.Errorf("%s exists and is not vlan %d on %s", name, n.SegmentationID, phys)
		}
		if !ok {
			if _, err := run(ctx, ns, "ip", "link", "add", "link", phys, "name", name, "type", "vlan", "id", strconv.Itoa(n.SegmentationID)); err != nil {
				return "", err
			}
			d.log.Info("vlan device created", "device", name, "network_id", n.ID)
		}
		return name, nil
	case netspec.TypeVXLAN:
		return d.ensureVXLAN(ctx, n)
	}
	return "", fmt.Errorf("unknown network type %q", n.Type)
}

func (d *Datapath) ensureVXLAN(ctx context.Context, n netspec.Network) (string, error) {
	ns := d.cfg.HostNetns
	if n.SegmentationID < 1 || n.SegmentationID > 1<<24-1 {
		return "", fmt.Errorf("bad vni %d", n.SegmentationID)
	}
	vtep := n.VTEP
	if vtep == "" {
		vtep = d.cfg.VTEP
	}
	local, err := netip.ParseAddr(vtep)
	if err != nil {
		return "", fmt.Errorf("bad vtep %q", vtep)
	}
	dev, err := interfaceWith(ctx, ns, local)
	if err != nil {
		return "", err
	}
	name := vxlanName(n.SegmentationID)
	l, ok, err := linkByName(ctx, ns, name)
	if err != nil {
		return "", err
	}
	if ok && (l.LinkInfo.Kind != "vxlan" || l.LinkInfo.Data.ID != n.SegmentationID || l.LinkInfo.Data.Local != local.String() || l.LinkInfo.Data.Port != vxlanPort) {
		if _, err := run(ctx, ns, "ip", "link", "del", name); err != nil {
			return "", err
		}
		d.log.Info("vxlan device deleted (changed)", "device", name)
		ok = false
	}
	if !ok {
		if _, err := run(ctx, ns, "ip", "link", "add", name, "type", "vxlan", "id", strconv.Itoa(n.SegmentationID),
			"local", local.String(), "dev", dev, "dstport", strconv.Itoa(vxlanPort)); err != nil {
			return "", err
		}
		d.log.Info("vxlan device created", "device", name, "network_id", n.ID, "local", local, "dev", dev)
	}
	return name, nil
}

// ensureFlooding makes the VXLAN device's flooding entries the peers.
func (d *Datapath) ensureFlooding(ctx context.Context, dev string, peers []string) error {
	ns := d.cfg.HostNetns
	want := map[string]bool{}
	for _, p := range peers {
		a, err := netip.ParseAddr(p)
		if err != nil {
			return fmt.Errorf("bad vxlan peer %q", p)
		}
		want[a.String()] = true
	}
	out, err := run(ctx, ns, "bridge", "-j", "fdb", "show", "dev", dev)
	if err != nil {
		return err
	}
	var entries []struct {
		MAC string `json:"mac"`
		Dst string `json:"dst"`
	}
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &entries); err != nil {
			return fmt.Errorf("bridge fdb show dev %s: decode: %w", dev, err)
		}
	}
	have := map[string]bool{}
	var errs []error
	// A peer no longer wanted loses its flooding entry and the addresses
	// learned behind it.
	for _, e := range entries {
		if e.Dst == "" {
			continue
		}
		if e.MAC == zeroMAC {
			have[e.Dst] = true
		}
		if !want[e.Dst] {
			if _, err := run(ctx, ns, "bridge", "fdb", "del", e.MAC, "dev", dev, "dst", e.Dst); err != nil {
				errs = append(errs, err)
				continue
			}
			if e.MAC == zeroMAC {
				d.log.Info("vxlan peer removed", "device", dev, "peer", e.Dst)
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(want)) {
		if have[p] {
			continue
		}
		if _, err := run(ctx, ns, "bridge", "fdb", "append", zeroMAC, "dev", dev, "dst", p); err != nil {
			errs = append(errs, err)
			continue
		}
		d.log.Info("vxlan peer added", "device", dev, "peer", p)
	}
	return errors.Join(errs...)
}

// plug puts dev on bridge br, up, with the MTU (unless setMTU is false:
// a flat network's physical interface is the host's, its MTU left alone).
func (d *Datapath) plug(ctx context.Context, dev, br string, mtu int, setMTU bool) error {
	l, ok, err := linkByName(ctx, d.cfg.HostNetns, dev)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s missing", dev)
	}
	if !setMTU {
		mtu = 0
	}
	return d.setLink(ctx, l, true, dev, br, mtu)
}

// setLink sets what differs of master, MTU (0: leave) and up on dev.
// l is its state as read (ok false: it was just created).
func (d *Datapath) setLink(ctx context.Context, l link, ok bool, dev, master string, mtu int) error {
	args, what := linkChanges(l, ok, dev, master, mtu)
	if len(what) == 0 {
		return nil
	}
	if _, err := run(ctx, d.cfg.HostNetns, append([]string{"ip"}, args...)...); err != nil {
		return err
	}
	if ok {
		d.log.Info("link set", "device", dev, "changes", strings.Join(what, ", "))
	}
	return nil
}

// linkChanges is the `ip` command (without "ip") setting what differs of
// master, MTU (0: leave) and up on dev, and what it changes (none: no
// command). l is dev's state as read (ok false: just created).
func linkChanges(l link, ok bool, dev, master string, mtu int) (args, what []string) {
	args = []string{"link", "set", "dev", dev}
	if master != "" && (!ok || l.Master != master) {
		args = append(args, "master", master)
		what = append(what, "master "+master)
	}
	if mtu > 0 && (!ok || l.MTU != mtu) {
		args = append(args, "mtu", strconv.Itoa(mtu))
		what = append(what, "mtu "+strconv.Itoa(mtu))
	}
	if !ok || !l.up() {
		args = append(args, "up")
		what = append(what, "up")
	}
	return args, what
}

// linkByName reads one interface of netns; ok is false if it is missing.
func linkByName(ctx context.Context, netns, name string) (link, bool, error) {
	var ls []link
	err := ipJSON(ctx, netns, &ls, "-d", "link", "show", "dev", name)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return link{}, false, nil
		}
		return link{}, false, err
	}
	if len(ls) != 1 {
		return link{}, false, nil
	}
	return ls[0], true, nil
}

// interfaceWith names the interface of netns holding address a.
func interfaceWith(ctx context.Context, netns string, a netip.Addr) (string, error) {
	var ifs []struct {
		Name  string     `json:"ifname"`
		Addrs []addrInfo `json:"addr_info"`
	}
	if err := ipJSON(ctx, netns, &ifs, "addr", "show"); err != nil {
		return "", err
	}
	for _, i := range ifs {
		for _, ai := range i.Addrs {
			if ai.Local == a.String() {
				return i.Name, nil
			}
		}
	}
	return "", fmt.Errorf("no interface holds vtep address %s", a)
}
