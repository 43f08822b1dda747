package datapath

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// NATRuleset returns the nft script that replaces a router namespace's
// NAT table: each floating IP is DNATed to its fixed IP coming in and the
// fixed IP SNATed to it going out through the gateway (before the general
// SNAT); with Gateway.SNAT, the internal subnets leave as the gateway's
// address. Traffic between two internal ports through a floating IP is
// masqueraded to the router's own address, so replies come back through
// the router. A bad floating IP is left out and reported.
func NATRuleset(r netspec.Router) (string, error) {
	var errs []error
	var internal []netip.Prefix
	var qr []string
	for _, ri := range r.Interfaces {
		qr = append(qr, routerIfName(ri.PortID))
		p, err := netip.ParsePrefix(ri.IP)
		if err != nil || !p.Addr().Is4() {
			continue // IPv6 is routed, not NATed
		}
		internal = append(internal, p.Masked())
	}
	internal = mergePrefixes(internal)
	slices.Sort(qr)

	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("table ip %s {}", natTable)
	w("delete table ip %s", natTable)
	w("table ip %s {", natTable)

	type fip struct{ pub, fixed netip.Addr }
	var fips []fip
	for _, f := range r.Floating {
		pub, err1 := netip.ParseAddr(f.IP)
		fixed, err2 := netip.ParseAddr(f.FixedIP)
		if err1 != nil || err2 != nil || !pub.Is4() || !fixed.Is4() {
			errs = append(errs, fmt.Errorf("router %s: bad floating ip %s -> %s", r.ID, f.IP, f.FixedIP))
			continue
		}
		fips = append(fips, fip{pub, fixed})
	}
	slices.SortFunc(fips, func(a, b fip) int { return a.pub.Compare(b.pub) })

	for _, hook := range []string{"prerouting", "output"} {
		w("\tchain %s {", hook)
		w("\t\ttype nat hook %s priority -100; policy accept;", hook)
		if r.Gateway != nil {
			for _, f := range fips {
				w("\t\tip daddr %s dnat to %s", f.pub, f.fixed)
			}
		}
		w("\t}")
	}
	w("\tchain postrouting {")
	w("\t\ttype nat hook postrouting priority 100; policy accept;")
	if len(qr) > 0 {
		w("\t\tiifname { %[1]s } oifname { %[1]s } ct status dnat masquerade", quoteAll(qr))
	}
	if r.Gateway != nil {
		qg := gwIfName(r.Gateway.PortID)
		for _, f := range fips {
			w("\t\toifname %q ip saddr %s snat to %s", qg, f.fixed, f.pub)
		}
		gw, err := netip.ParsePrefix(r.Gateway.IP)
		switch {
		case err != nil || !gw.Addr().Is4():
			errs = append(errs, fmt.Errorf("router %s: bad gateway address %q", r.ID, r.Gateway.IP))
		case r.Gateway.SNAT && len(internal) > 0:
			w("\t\toifname %q ip saddr { %s } snat to %s", qg, prefixList(internal), gw.Addr())
		}
	}
	w("\t}")
	w("}")
	return b.String(), errors.Join(errs...)
}
