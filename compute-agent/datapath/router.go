package datapath

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// applyRouter makes a router's namespace: forwarding on (there only), a
// qr- interface on each internal network's bridge, the qg- gateway on the
// external one with the floating IPs, the routes and the NAT table.
func (d *Datapath) applyRouter(ctx context.Context, r netspec.Router, networks map[string]netspec.Network) error {
	if err := d.applyRouterNS(ctx, r, networks); err != nil {
		return fmt.Errorf("router %s: %w", r.ID, err)
	}
	return nil
}

func (d *Datapath) applyRouterNS(ctx context.Context, r netspec.Router, networks map[string]netspec.Network) error {
	if r.ID == "" {
		return errors.New("router without id")
	}
	ns := d.routerNS(r.ID)
	if err := d.ensureNamespace(ctx, ns); err != nil {
		return err
	}
	if changed, err := setSysctl(ns, "net/ipv4/ip_forward", "1"); err != nil {
		return err
	} else if changed {
		d.log.Info("forwarding on", "netns", ns)
	}
	var errs []error
	want := map[string]bool{}
	plug := func(portID, networkID, mac, dev string, addrs []string) {
		want[dev] = true
		n, ok := networks[networkID]
		if !ok {
			errs = append(errs, fmt.Errorf("port %s: network %s not in the document", portID, networkID))
			return
		}
		if err := d.ensureVeth(ctx, ns, tapName(portID), dev, mac, bridgeName(n.ID), n.MTU); err != nil {
			errs = append(errs, err)
			return
		}
		errs = append(errs, d.ensureAddrs(ctx, ns, dev, addrs))
	}
	for _, ri := range r.Interfaces {
		plug(ri.PortID, ri.NetworkID, ri.MAC, routerIfName(ri.PortID), []string{ri.IP})
	}
	if g := r.Gateway; g != nil {
		addrs := []string{g.IP}
		for _, f := range r.Floating {
			if a, err := netip.ParseAddr(f.IP); err == nil {
				addrs = append(addrs, netip.PrefixFrom(a, a.BitLen()).String())
			}
		}
		plug(g.PortID, g.NetworkID, g.MAC, gwIfName(g.PortID), addrs)
	}
	// Interfaces of ports the router no longer has.
	ls, err := links(ctx, ns)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for name := range ls {
		if (strings.HasPrefix(name, routerIfPrefix) || strings.HasPrefix(name, gwIfPrefix)) && !want[name] {
			if _, err := run(ctx, ns, "ip", "link", "del", name); err != nil {
				errs = append(errs, err)
				continue
			}
			d.log.Info("router interface removed", "device", name, "netns", ns)
		}
	}
	errs = append(errs, d.ensureRoutes(ctx, ns, r))
	script, err := NATRuleset(r)
	errs = append(errs, err, d.loadTable(ctx, ns, script, "ip "+natTable))
	return errors.Join(errs...)
}

// ensureRoutes makes the namespace's static routes the gateway's default
// route and the router's routes. Ours are "proto static"; the kernel's own
// (the connected subnets) are left alone.
func (d *Datapath) ensureRoutes(ctx context.Context, ns string, r netspec.Router) error {
	want := map[string]string{} // destination -> next hop
	if r.Gateway != nil && r.Gateway.NextHop != "" {
		want["default"] = r.Gateway.NextHop
	}
	var errs []error
	for _, rt := range r.Routes {
		dst, err1 := netip.ParsePrefix(rt.Destination)
		hop, err2 := netip.ParseAddr(rt.NextHop)
		if err1 != nil || err2 != nil || !dst.Addr().Is4() {
			errs = append(errs, fmt.Errorf("bad route %s via %s", rt.Destination, rt.NextHop))
			continue
		}
		key := dst.Masked().String()
		if dst.Bits() == 0 {
			key = "default"
		}
		want[key] = hop.String()
	}
	var cur []struct {
		Dst     string `json:"dst"`
		Gateway string `json:"gateway"`
	}
	if err := ipJSON(ctx, ns, &cur, "route", "show", "proto", "static"); err != nil {
		return errors.Join(append(errs, err)...)
	}
	have := map[string]string{}
	for _, c := range cur {
		have[c.Dst] = c.Gateway
		if want[c.Dst] == "" {
			if _, err := run(ctx, ns, "ip", "route", "del", c.Dst); err != nil {
				errs = append(errs, err)
				continue
			}
			d.log.Info("route removed", "destination", c.Dst, "netns", ns)
		}
	}
	for _, dst := range slices.Sorted(maps.Keys(want)) {
		if have[dst] == want[dst] {
			continue
		}
		if _, err := run(ctx, ns, "ip", "route", "replace", dst, "via", want[dst], "proto", "static"); err != nil {
			errs = append(errs, err)
			continue
		}
		d.log.Info("route set", "destination", dst, "nexthop", want[dst], "netns", ns)
	}
	return errors.Join(errs...)
}

// loadTable loads an nft script into ns unless the kernel holds what we
// loaded last time: tables ("family name") are the script's tables, and
// their listing right after loading is kept to compare with.
func (d *Datapath) loadTable(ctx context.Context, ns, script string, tables ...string) error {
	key := ns + "\x00" + strings.Join(tables, ",")
	if d.quick {
		// A document-driven apply trusts what it loaded last; the kernel
		// is read back only by a thorough apply (the agent's repair).
		if last, ok := d.tables[key]; ok && last[0] == script {
			return nil
		}
		if _, err := runInput(ctx, ns, script, "nft", "-f", "-"); err != nil {
			return fmt.Errorf("nft: %w", err)
		}
		d.tables[key] = [2]string{script, ""}
		d.log.Info("nft loaded", "tables", strings.Join(tables, ", "), "netns", ns)
		return nil
	}
	listing, err := listTables(ctx, ns, tables)
	if last, ok := d.tables[key]; ok && err == nil && last[0] == script && last[1] == listing {
		return nil
	}
	if _, err := runInput(ctx, ns, script, "nft", "-f", "-"); err != nil {
		return fmt.Errorf("nft: %w", err)
	}
	listing, err = listTables(ctx, ns, tables)
	if err != nil {
		return err
	}
	d.tables[key] = [2]string{script, listing}
	d.log.Info("nft loaded", "tables", strings.Join(tables, ", "), "netns", ns)
	return nil
}

// listTables is nft's listing of the tables, one after the other (nft
// 1.0.6 fails "list table a; list table b" in one call).
func listTables(ctx context.Context, ns string, tables []string) (string, error) {
	var b strings.Builder
	for _, t := range tables {
		out, err := run(ctx, ns, append([]string{"nft", "list", "table"}, strings.Fields(t)...)...)
		if err != nil {
			return "", err
		}
		b.WriteString(out)
	}
	return b.String(), nil
}
