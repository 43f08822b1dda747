package network

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"net/netip"
	"sort"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

// IP address management: the rules of a subnet's addresses, as pure
// functions of the subnet and the addresses already taken.

// parseCIDR reads a subnet's CIDR, refusing one with host bits set (Neutron
// answers with the network it meant) and the wrong IP version.
func parseCIDR(cidr string, version int) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return p, invalidInput("'%s' is not a valid IP subnet.", cidr)
	}
	if p.Masked() != p {
		return p, invalidInput("'%s' isn't a recognized IP subnet cidr, '%s' is recommended.", cidr, p.Masked())
	}
	if ipVersion(p.Addr()) != version {
		return p, invalidInput("Cidr %s does not match the ip_version %d.", cidr, version)
	}
	if (version == 4 && p.Bits() > 30) || (version == 6 && p.Bits() > 126) {
		return p, invalidInput("Cidr %s is too small: a subnet needs room for a gateway and ports.", cidr)
	}
	return p, nil
}

func ipVersion(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// lastAddr is the subnet's last address (IPv4's broadcast).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	host := len(b)*8 - p.Bits()
	for i := len(b) - 1; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// usable reports whether a is an address a port may hold on p: inside
// it, not the network address and not IPv4's broadcast.
func usable(p netip.Prefix, a netip.Addr) bool {
	if !p.Contains(a) || a == p.Addr() {
		return false
	}
	return !(a.Is4() && a == lastAddr(p))
}

// defaultPools are the subnet's usable addresses without the gateway, in
// one or two ranges (Neutron's default allocation pools).
func defaultPools(p netip.Prefix, gw netip.Addr) []model.AllocationPool {
	first, last := p.Addr().Next(), lastAddr(p)
	if p.Addr().Is4() {
		last = last.Prev()
	}
	return subtract(model.AllocationPool{Start: first.String(), End: last.String()}, gw)
}

// subtract removes one address from a range.
func subtract(r model.AllocationPool, a netip.Addr) []model.AllocationPool {
	s, e := netip.MustParseAddr(r.Start), netip.MustParseAddr(r.End)
	if !a.IsValid() || a.Less(s) || e.Less(a) {
		return []model.AllocationPool{r}
	}
	var out []model.AllocationPool
	if s.Less(a) {
		out = append(out, model.AllocationPool{Start: s.String(), End: a.Prev().String()})
	}
	if a.Less(e) {
		out = append(out, model.AllocationPool{Start: a.Next().String(), End: e.String()})
	}
	return out
}

// checkPools validates asked allocation pools on p with gateway gw:
// well-formed, inside the subnet, not overlapping, not holding the gateway.
func checkPools(p netip.Prefix, gw netip.Addr, pools []model.AllocationPool) error {
	type rng struct{ s, e netip.Addr }
	rs := make([]rng, 0, len(pools))
	for _, pl := range pools {
		s, err1 := netip.ParseAddr(pl.Start)
		e, err2 := netip.ParseAddr(pl.End)
		if err1 != nil || err2 != nil || ipVersion(s) != ipVersion(p.Addr()) || ipVersion(e) != ipVersion(p.Addr()) {
			return badRequest("Invalid input for allocation_pools. Reason: '%s-%s' is not a valid IP range.", pl.Start, pl.End)
		}
		if e.Less(s) {
			return badRequest("The allocation pool %s-%s spans beyond the subnet cidr %s.", pl.Start, pl.End, p)
		}
		if !usable(p, s) || !usable(p, e) {
			return badRequest("The allocation pool %s-%s spans beyond the subnet cidr %s.", pl.Start, pl.End, p)
		}
		if gw.IsValid() && !gw.Less(s) && !e.Less(gw) {
			return conflict("GatewayConflictWithAllocationPools",
				"Gateway ip %s conflicts with allocation pool %s-%s.", gw, pl.Start, pl.End)
		}
		rs = append(rs, rng{s, e})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].s.Less(rs[j].s) })
	for i := 1; i < len(rs); i++ {
		if !rs[i-1].e.Less(rs[i].s) {
			return badRequest("Found overlapping allocation pools: %s-%s and %s-%s for subnet %s.",
				rs[i-1].s, rs[i-1].e, rs[i].s, rs[i].e, p)
		}
	}
	return nil
}

// inPools reports whether a lies in one of the pools.
func inPools(pools []model.AllocationPool, a netip.Addr) bool {
	for _, pl := range pools {
		s, e := netip.MustParseAddr(pl.Start), netip.MustParseAddr(pl.End)
		if !a.Less(s) && !e.Less(a) {
			return true
		}
	}
	return false
}

// freeWindow is how many of the lowest free addresses a port's address is
// drawn from (Neutron's IPAM draws from a window too): concurrent
// requests rarely want the same one, so they rarely wait for each other.
const freeWindow = 256

// randomFree returns one of the lowest freeWindow free addresses, at
// random; false when the pools are exhausted.
func randomFree(pools []model.AllocationPool, used []netip.Addr, gw netip.Addr) (netip.Addr, bool) {
	window := freeAddrs(pools, used, gw, freeWindow)
	if len(window) == 0 {
		return netip.Addr{}, false
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(window))))
	if err != nil {
		return window[0], true
	}
	return window[n.Int64()], true
}

// firstFree returns the lowest address of the pools not in used and not
// the gateway; false when the pools are exhausted.
func firstFree(pools []model.AllocationPool, used []netip.Addr, gw netip.Addr) (netip.Addr, bool) {
	free := freeAddrs(pools, used, gw, 1)
	if len(free) == 0 {
		return netip.Addr{}, false
	}
	return free[0], true
}

// freeAddrs returns up to n of the lowest free addresses of the pools, in
// one walk (a big subnet with few ports costs little).
func freeAddrs(pools []model.AllocationPool, used []netip.Addr, gw netip.Addr, n int) []netip.Addr {
	taken := make(map[netip.Addr]bool, len(used)+1)
	for _, u := range used {
		taken[u] = true
	}
	if gw.IsValid() {
		taken[gw] = true
	}
	sorted := make([]model.AllocationPool, len(pools))
	copy(sorted, pools)
	sort.Slice(sorted, func(i, j int) bool {
		return netip.MustParseAddr(sorted[i].Start).Less(netip.MustParseAddr(sorted[j].Start))
	})
	var out []netip.Addr
	for _, pl := range sorted {
		e := netip.MustParseAddr(pl.End)
		for a := netip.MustParseAddr(pl.Start); a.IsValid() && !e.Less(a); a = a.Next() {
			if !taken[a] {
				out = append(out, a)
				if len(out) == n {
					return out
				}
			}
		}
	}
	return out
}

// overlaps reports whether two prefixes share an address.
func overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// randomMAC is a MAC with Neutron's base fa:16:3e (locally administered,
// unicast); the store refuses one a network already has, and the caller
// draws again.
func randomMAC() string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		n, _ := rand.Int(rand.Reader, big.NewInt(1<<24))
		v := n.Int64()
		b = [3]byte{byte(v >> 16), byte(v >> 8), byte(v)}
	}
	return fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}
