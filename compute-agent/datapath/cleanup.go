package datapath

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// removeStale removes what the document no longer has, among objects
// with our names: namespaces (with their dnsmasq, metadata listener and
// veths), taps, uplinks and bridges. Anything else is left alone.
func (d *Datapath) removeStale(ctx context.Context, h netspec.Host, keep map[string]bool) error {
	var errs []error
	dhcp, routers, bridges, vxlans := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, n := range h.Networks {
		bridges[bridgeName(n.ID)] = true
		if n.DHCP != nil {
			dhcp[n.ID] = true
		}
		if n.Type == netspec.TypeVXLAN {
			vxlans[vxlanName(n.SegmentationID)] = true
		}
	}
	for _, r := range h.Routers {
		routers[r.ID] = true
	}

	nss, err := namespaces(ctx)
	errs = append(errs, err)
	for name := range nss {
		switch kind, id := d.nsKind(name); {
		case kind == dhcpNSPrefix && !dhcp[id]:
			errs = append(errs, d.removeDHCP(ctx, id))
		case kind == routerNSPrefix && !routers[id]:
			errs = append(errs, d.deleteNamespace(ctx, name))
			for k := range d.tables {
				if strings.HasPrefix(k, name+"\x00") {
					delete(d.tables, k)
				}
			}
		}
	}
	// A dnsmasq or proxy whose namespace someone else deleted.
	if entries, err := os.ReadDir(filepath.Join(d.cfg.StateDir, "dhcp")); err == nil {
		for _, e := range entries {
			if !dhcp[e.Name()] {
				errs = append(errs, d.removeDHCP(ctx, e.Name()))
			}
		}
	}
	for id := range d.metadata {
		if !dhcp[id] {
			d.stopMetadata(id)
		}
	}

	ls, err := links(ctx, d.cfg.HostNetns)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	del := func(name, what string) {
		if _, err := run(ctx, d.cfg.HostNetns, "ip", "link", "del", name); err != nil {
			// The peer of a veth whose namespace was just deleted goes
			// by itself, a moment later (the kernel frees namespaces
			// asynchronously). ip says so in two ways: "Cannot find
			// device" when it looks the name up, "No such device" when
			// the kernel lost it in between (TestLifecycle failed so in a
			// clean run).
			if !strings.Contains(err.Error(), "Cannot find device") && !strings.Contains(err.Error(), "No such device") {
				errs = append(errs, err)
			}
			return
		}
		d.log.Info(what+" deleted", "device", name)
	}
	for name, l := range ls {
		ourBridge := strings.HasPrefix(l.Master, bridgePrefix)
		switch {
		case strings.HasPrefix(name, tapPrefix) && (ourBridge || l.LinkInfo.Kind == "tun") && !keep[name]:
			del(name, "tap")
		case ourBridge && !bridges[l.Master] && (l.LinkInfo.Kind == "vxlan" || l.LinkInfo.Kind == "vlan"):
			del(name, l.LinkInfo.Kind+" device")
		case ourBridge && !bridges[l.Master] && !strings.HasPrefix(name, tapPrefix):
			// A flat network's physical interface: the host's, only released.
			if _, err := run(ctx, d.cfg.HostNetns, "ip", "link", "set", "dev", name, "nomaster"); err != nil {
				errs = append(errs, err)
			} else {
				d.log.Info("interface released", "device", name, "bridge", l.Master)
			}
		case strings.HasPrefix(name, vxlanPrefix) && l.LinkInfo.Kind == "vxlan" && !vxlans[name]:
			del(name, "vxlan device")
		}
	}
	for name, l := range ls {
		if strings.HasPrefix(name, bridgePrefix) && l.LinkInfo.Kind == "bridge" && !bridges[name] {
			del(name, "bridge")
		}
	}
	return errors.Join(errs...)
}
