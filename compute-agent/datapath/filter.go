package datapath

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// The security groups are nftables rules in two tables of the same name,
// replaced together in one transaction.
//
// This kernel, like many, is built without nf_conntrack_bridge, so the
// bridge family cannot use `ct`: loading `ct state` there fails with
// EPROTO. Bridged IPv4 and IPv6 frames still pass the inet hooks, with
// conntrack, through br_netfilter (net.bridge.bridge-nf-call-iptables),
// but there the input and output devices are the bridge, not its ports.
// So the work is split, as Neutron's iptables firewall does with physdev:
//
//	bridge table, prerouting (-300)  frames from a filtered tap: mark the
//	                                 port's number in the low 16 bits of
//	                                 the packet mark, anti-spoofing (MAC,
//	                                 IP, ARP sender; stateless)
//	bridge table, forward (-200)     frames to a filtered tap: its number
//	                                 in the high 16 bits
//	inet table, prerouting (-300)    a conntrack zone per bridge, so equal
//	                                 addresses on two networks never share
//	                                 a connection
//	inet table, forward (0)          stateful: established passes, invalid
//	                                 drops, then the sender's egress chain
//	                                 (return = allowed) and the receiver's
//	                                 ingress chain (accept = allowed), both
//	                                 ending in drop
//
// The mark's two halves are private to our bridges' traffic: frames from
// or to an unfiltered port (DHCP, router, uplink) keep mark 0 and pass.

const (
	egressMask  = 0x0000ffff
	ingressMask = 0xffff0000
	maxPorts    = 0xffff
)

// filterPort is one filtered port's addresses, checked and ready to print.
type filterPort struct {
	dev   string
	index int
	macs  []string
	ip4   []netip.Prefix
	ip6   []netip.Prefix
	rules []netspec.Rule
}

// FilterRuleset returns the nft script that replaces our two filter
// tables named table with what the ports and groups say. Bad input in one
// port or rule is skipped and reported; the rest is still filtered (a port
// whose own addresses cannot be read gets no egress at all).
func FilterRuleset(table string, networks []netspec.Network, ports []netspec.Port, groups []netspec.Group) (string, error) {
	r, err := filterRuleset(table, networks, ports, groups)
	return r.Tables + r.Elements, err
}

// filterScript is the filter in two parts. Tables replaces both tables,
// with the remote groups' member sets declared empty; Elements fills
// those sets (flushing them first), and alone updates the members of a
// loaded filter. A launch anywhere adds a member to its project's default
// group on every host: only the sets change, not the tables — Neutron's
// ipset optimisation, in nftables.
type filterScript struct {
	Tables, Elements string
}

// memberSet names the set of a remote group's members of one family.
func memberSet(group string, v6 bool) string {
	h := fnv.New64a()
	h.Write([]byte(group))
	if v6 {
		return fmt.Sprintf("rg6_%016x", h.Sum64())
	}
	return fmt.Sprintf("rg4_%016x", h.Sum64())
}

func filterRuleset(table string, networks []netspec.Network, ports []netspec.Port, groups []netspec.Group) (filterScript, error) {
	var errs []error
	byGroup := make(map[string]netspec.Group, len(groups))
	for _, g := range groups {
		byGroup[g.ID] = g
	}
	bridges := make([]string, 0, len(networks))
	known := make(map[string]bool, len(networks))
	for _, n := range networks {
		bridges = append(bridges, bridgeName(n.ID))
		known[n.ID] = true
	}
	slices.Sort(bridges)

	sorted := slices.Clone(ports)
	slices.SortFunc(sorted, func(a, b netspec.Port) int { return strings.Compare(a.Device, b.Device) })
	var fps []filterPort
	for _, p := range sorted {
		if !p.PortSecurity || !known[p.NetworkID] {
			continue
		}
		if len(fps) == maxPorts {
			errs = append(errs, fmt.Errorf("port %s: more than %d filtered ports", p.ID, maxPorts))
			break
		}
		fp, err := newFilterPort(p, byGroup)
		if err != nil {
			errs = append(errs, err)
		}
		fp.index = len(fps) + 1
		fps = append(fps, fp)
	}

	// The member sets the filtered ports' rules name, by set name.
	sets := map[string][]netip.Prefix{}
	for _, p := range fps {
		for _, r := range p.rules {
			if r.RemoteGroup == "" || r.RemoteCIDR != "" {
				continue
			}
			v6 := r.Ethertype == "IPv6"
			name := memberSet(r.RemoteGroup, v6)
			if _, done := sets[name]; done {
				continue
			}
			var members []netip.Prefix
			for _, ip := range r.RemoteIPs {
				pf, err := parseAddrOrPrefix(ip)
				if err != nil {
					errs = append(errs, fmt.Errorf("group %s: %w", r.RemoteGroup, err))
					continue
				}
				if pf.Addr().Is6() == v6 {
					members = append(members, pf)
				}
			}
			sets[name] = mergePrefixes(members)
		}
	}
	setNames := slices.Sorted(maps.Keys(sets))

	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	// Creating then deleting makes the delete safe when the table is
	// missing; the whole file is one transaction.
	for _, fam := range []string{"bridge", "inet"} {
		w("table %s %s {}", fam, table)
		w("delete table %s %s", fam, table)
	}

	w("table bridge %s {", table)
	w("\tchain prerouting {")
	w("\t\ttype filter hook prerouting priority -300; policy accept;")
	if len(fps) > 0 {
		w("\t\tiifname vmap { %s }", joinMap(fps, func(p filterPort) string { return fmt.Sprintf("%q : jump from_%s", p.dev, chainID(p.dev)) }))
	}
	w("\t}")
	w("\tchain forward {")
	w("\t\ttype filter hook forward priority -200; policy accept;")
	if len(fps) > 0 {
		w("\t\toifname vmap { %s }", joinMap(fps, func(p filterPort) string { return fmt.Sprintf("%q : jump to_%s", p.dev, chainID(p.dev)) }))
	}
	w("\t}")
	for _, p := range fps {
		writeAntiSpoof(w, p)
		w("\tchain to_%s {", chainID(p.dev))
		w("\t\tmeta mark set meta mark & 0x%08x | 0x%08x", egressMask, p.index<<16)
		w("\t}")
	}
	w("}")

	w("table inet %s {", table)
	for _, name := range setNames {
		typ := "ipv4_addr"
		if strings.HasPrefix(name, "rg6_") {
			typ = "ipv6_addr"
		}
		w("\tset %s {", name)
		w("\t\ttype %s; flags interval;", typ)
		w("\t}")
	}
	w("\tchain zone {")
	w("\t\ttype filter hook prerouting priority -300; policy accept;")
	if len(bridges) > 0 {
		var zs []string
		for _, br := range bridges {
			zs = append(zs, fmt.Sprintf("%q : %d", br, zoneOf(strings.TrimPrefix(br, bridgePrefix))))
		}
		w("\t\tiifname { %s } ct zone set iifname map { %s }", quoteAll(bridges), strings.Join(zs, ", "))
	}
	w("\t}")
	w("\tchain forward {")
	w("\t\ttype filter hook forward priority 0; policy accept;")
	if len(fps) > 0 {
		w("\t\tmeta mark 0x00000000 accept")
		// Neighbour discovery is not tracked by conntrack (invalid); the
		// bridge table already checked its sender.
		w("\t\ticmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report } accept")
		w("\t\tct state established,related accept")
		w("\t\tct state invalid drop")
		w("\t\tmeta mark & 0x%08x vmap { %s }", egressMask, joinMap(fps, func(p filterPort) string { return fmt.Sprintf("0x%08x : jump egress_%s", p.index, chainID(p.dev)) }))
		w("\t\tmeta mark & 0x%08x vmap { %s }", uint32(ingressMask), joinMap(fps, func(p filterPort) string { return fmt.Sprintf("0x%08x : jump ingress_%s", p.index<<16, chainID(p.dev)) }))
	}
	w("\t}")
	for _, p := range fps {
		w("\tchain egress_%s {", chainID(p.dev))
		w("\t\tmeta nfproto ipv4 udp sport 68 udp dport 67 return")
		w("\t\tmeta nfproto ipv6 udp sport 546 udp dport 547 return")
		for _, r := range p.rules {
			if r.Direction != "egress" {
				continue
			}
			m, err := ruleMatch(r)
			if err != nil {
				errs = append(errs, fmt.Errorf("port %s: %w", p.dev, err))
				continue
			}
			if m != "" {
				w("\t\t%s return", m)
			}
		}
		w("\t\tdrop")
		w("\t}")
		w("\tchain ingress_%s {", chainID(p.dev))
		w("\t\tmeta nfproto ipv4 udp sport 67 udp dport 68 accept")
		w("\t\tmeta nfproto ipv6 udp sport 547 udp dport 546 accept")
		for _, r := range p.rules {
			if r.Direction != "ingress" {
				continue
			}
			m, err := ruleMatch(r)
			if err != nil {
				errs = append(errs, fmt.Errorf("port %s: %w", p.dev, err))
				continue
			}
			if m != "" {
				w("\t\t%s accept", m)
			}
		}
		w("\t\tdrop")
		w("\t}")
	}
	w("}")
	var e strings.Builder
	for _, name := range setNames {
		fmt.Fprintf(&e, "flush set inet %s %s\n", table, name)
		if len(sets[name]) > 0 {
			fmt.Fprintf(&e, "add element inet %s %s { %s }\n", table, name, prefixList(sets[name]))
		}
	}
	return filterScript{Tables: b.String(), Elements: e.String()}, errors.Join(errs...)
}

// writeAntiSpoof writes the chain for frames the port's tap sends:
// its MACs and addresses only, DHCP discovery, no DHCP or router
// advertisements of its own, nothing but ARP, IPv4 and IPv6.
func writeAntiSpoof(w func(string, ...any), p filterPort) {
	w("\tchain from_%s {", chainID(p.dev))
	w("\t\tmeta mark set 0x%08x", p.index)
	if len(p.macs) == 0 {
		w("\t\tdrop")
		w("\t}")
		return
	}
	w("\t\tether saddr != { %s } drop", strings.Join(p.macs, ", "))
	w("\t\tarp saddr ether != { %s } drop", strings.Join(p.macs, ", "))
	arpIPs := append([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/32")}, p.ip4...) // 0.0.0.0: address probes
	w("\t\tarp saddr ip != { %s } drop", prefixList(arpIPs))
	w("\t\tether type arp accept")
	w("\t\tip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept")
	w("\t\tip protocol udp udp sport 67 drop")
	if len(p.ip4) > 0 {
		w("\t\tip saddr { %s } accept", prefixList(p.ip4))
	}
	w("\t\tip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld-listener-report, mld2-listener-report } accept")
	w("\t\ticmpv6 type { nd-router-advert, nd-redirect } drop")
	w("\t\tip6 nexthdr udp udp sport 547 drop")
	w("\t\tip6 saddr { %s } accept", prefixList(p.ip6))
	w("\t\tdrop")
	w("\t}")
}

func newFilterPort(p netspec.Port, groups map[string]netspec.Group) (filterPort, error) {
	fp := filterPort{dev: p.Device}
	var errs []error
	macs := map[string]bool{}
	addMAC := func(s string) {
		hw, err := net.ParseMAC(s)
		if err != nil || len(hw) != 6 {
			errs = append(errs, fmt.Errorf("port %s: bad mac %q", p.ID, s))
			return
		}
		macs[hw.String()] = true
	}
	addMAC(p.MAC)
	var ips []netip.Prefix
	addIP := func(s string) {
		pf, err := parseAddrOrPrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("port %s: %w", p.ID, err))
			return
		}
		ips = append(ips, pf)
	}
	for _, ip := range p.IPs {
		addIP(ip)
	}
	for _, ap := range p.AddressPairs {
		addIP(ap.IP)
		if ap.MAC != "" {
			addMAC(ap.MAC)
		}
	}
	for m := range macs {
		fp.macs = append(fp.macs, m)
		if hw, err := net.ParseMAC(m); err == nil {
			ips = append(ips, netip.PrefixFrom(linkLocal(hw), 128))
		}
	}
	slices.Sort(fp.macs)
	for _, pf := range mergePrefixes(ips) {
		if pf.Addr().Is4() {
			fp.ip4 = append(fp.ip4, pf)
		} else {
			fp.ip6 = append(fp.ip6, pf)
		}
	}
	for _, gid := range p.Groups {
		g, ok := groups[gid]
		if !ok {
			errs = append(errs, fmt.Errorf("port %s: security group %s not in the document", p.ID, gid))
			continue
		}
		fp.rules = append(fp.rules, g.Rules...)
	}
	return fp, errors.Join(errs...)
}

// protoName is what a rule's protocol may be when it is not a number.
var protoName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,15}$`)

// ruleMatch is the nft match of one rule, seen from the port: an ingress
// rule's remote is the source, an egress rule's the destination. A remote
// group is its member set (memberSet), which may be empty: the rule then
// matches nothing until a member comes, without the tables changing. It
// is "" when the rule can match nothing (remote addresses, none of the
// rule's family).
func ruleMatch(r netspec.Rule) (string, error) {
	v6 := r.Ethertype == "IPv6"
	if !v6 && r.Ethertype != "IPv4" && r.Ethertype != "" {
		return "", fmt.Errorf("rule: bad ethertype %q", r.Ethertype)
	}
	var parts []string
	ipk := "ip"
	if v6 {
		ipk = "ip6"
		parts = append(parts, "meta nfproto ipv6")
	} else {
		parts = append(parts, "meta nfproto ipv4")
	}
	dir := "saddr"
	if r.Direction == "egress" {
		dir = "daddr"
	}
	var remote []netip.Prefix
	switch {
	case r.RemoteCIDR != "":
		pf, err := parseAddrOrPrefix(r.RemoteCIDR)
		if err != nil {
			return "", fmt.Errorf("rule: %w", err)
		}
		remote = append(remote, pf)
	case r.RemoteGroup != "":
		parts = append(parts, fmt.Sprintf("%s %s @%s", ipk, dir, memberSet(r.RemoteGroup, v6)))
	case len(r.RemoteIPs) > 0:
		for _, s := range r.RemoteIPs {
			pf, err := parseAddrOrPrefix(s)
			if err != nil {
				return "", fmt.Errorf("rule: %w", err)
			}
			remote = append(remote, pf)
		}
		remote = slices.DeleteFunc(remote, func(p netip.Prefix) bool { return p.Addr().Is6() != v6 })
		if len(remote) == 0 {
			return "", nil
		}
	}
	remote = mergePrefixes(remote)
	if len(remote) > 0 {
		if remote[0].Addr().Is6() != v6 {
			return "", nil // a remote CIDR of the other family matches nothing here
		}
		if len(remote) == 1 && remote[0].Bits() == 0 {
			// any address
		} else {
			parts = append(parts, fmt.Sprintf("%s %s { %s }", ipk, dir, prefixList(remote)))
		}
	}

	proto := strings.ToLower(r.Protocol)
	if n, err := strconv.Atoi(proto); err == nil {
		if n < 0 || n > 255 {
			return "", fmt.Errorf("rule: bad protocol %q", r.Protocol)
		}
		proto = map[int]string{1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp"}[n]
		if proto == "" {
			return strings.Join(append(parts, fmt.Sprintf("meta l4proto %d", n)), " "), nil
		}
	}
	switch proto {
	case "", "any":
	case "tcp", "udp", "sctp", "udplite", "dccp":
		parts = append(parts, "meta l4proto "+proto)
		if r.PortMin != nil {
			lo, hi := *r.PortMin, *r.PortMin
			if r.PortMax != nil {
				hi = *r.PortMax
			}
			if lo < 0 || hi > 65535 || lo > hi {
				return "", fmt.Errorf("rule: bad port range %d-%d", lo, hi)
			}
			if lo == hi {
				parts = append(parts, fmt.Sprintf("th dport %d", lo))
			} else if lo > 0 || hi < 65535 {
				parts = append(parts, fmt.Sprintf("th dport %d-%d", lo, hi))
			}
		}
	case "icmp", "icmpv6", "ipv6-icmp":
		kw := "icmp"
		if v6 {
			kw = "icmpv6"
			parts = append(parts, "meta l4proto ipv6-icmp")
		} else {
			parts = append(parts, "meta l4proto icmp")
		}
		if r.PortMin != nil && *r.PortMin >= 0 {
			if *r.PortMin > 255 {
				return "", fmt.Errorf("rule: bad icmp type %d", *r.PortMin)
			}
			parts = append(parts, fmt.Sprintf("%s type %d", kw, *r.PortMin))
			if r.PortMax != nil && *r.PortMax >= 0 {
				if *r.PortMax > 255 {
					return "", fmt.Errorf("rule: bad icmp code %d", *r.PortMax)
				}
				parts = append(parts, fmt.Sprintf("%s code %d", kw, *r.PortMax))
			}
		}
	default:
		if !protoName.MatchString(proto) {
			return "", fmt.Errorf("rule: bad protocol %q", r.Protocol)
		}
		parts = append(parts, "meta l4proto "+proto)
	}
	return strings.Join(parts, " "), nil
}

// parseAddrOrPrefix reads "10.0.0.5", "10.0.0.5/24" (the address) or
// "10.0.0.0/8" (a network), all as a masked prefix.
func parseAddrOrPrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q", s)
	}
	return netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()).Masked(), nil
}

// mergePrefixes sorts prefixes and drops those inside another: nft
// refuses overlapping intervals in one set.
func mergePrefixes(ps []netip.Prefix) []netip.Prefix {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	var out []netip.Prefix
	for _, p := range ps {
		covered := false
		for _, o := range out {
			if o.Bits() <= p.Bits() && o.Contains(p.Addr()) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}

// prefixList prints prefixes for an nft set, hosts without their length.
func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			s[i] = p.Addr().String()
		} else {
			s[i] = p.String()
		}
	}
	return strings.Join(s, ", ")
}

// linkLocal is the EUI-64 IPv6 link-local address of a MAC.
func linkLocal(hw net.HardwareAddr) netip.Addr {
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	a[8], a[9], a[10] = hw[0]^0x02, hw[1], hw[2]
	a[11], a[12] = 0xff, 0xfe
	a[13], a[14], a[15] = hw[3], hw[4], hw[5]
	return netip.AddrFrom16(a)
}

// zoneOf is the conntrack zone of a network: stable across applies (a
// zone that changed would turn live connections into new ones).
func zoneOf(networkID string) int {
	h := fnv.New32a()
	h.Write([]byte(networkID))
	return int(h.Sum32()%65534) + 1
}

// chainID is a device name usable in a chain name.
func chainID(dev string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, dev)
}

func joinMap(fps []filterPort, f func(filterPort) string) string {
	s := make([]string, len(fps))
	for i, p := range fps {
		s[i] = f(p)
	}
	return strings.Join(s, ", ")
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
