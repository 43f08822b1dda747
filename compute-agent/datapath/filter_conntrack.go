package datapath

import (
	"context"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// A rule taken away must also stop the connections it let in: the filter
// accepts established traffic before any rule (the stateful half), so
// without this an ssh session opened while TCP 22 was allowed would go on
// after the rule is deleted. As Neutron's firewall does, the connection
// tracking entries are deleted when a port loses a rule (its own flows, in
// its network's zone), and when a remote group loses a member (the
// member's flows). Only losses flush: a launch that adds a member or a
// rule keeps everyone's connections.

var (
	chainHead   = regexp.MustCompile(`^\tchain ((?:ingress|egress)_\S+) \{$`)
	elementLine = regexp.MustCompile(`^add element inet \S+ (\S+) \{ (.*) \}$`)
)

// chainLines reads a Tables script's per-port rule chains: their lines by
// chain name.
func chainLines(tables string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	var cur map[string]bool
	for _, line := range strings.Split(tables, "\n") {
		if m := chainHead.FindStringSubmatch(line); m != nil {
			cur = map[string]bool{}
			out[m[1]] = cur
			continue
		}
		if line == "\t}" {
			cur = nil
			continue
		}
		if cur != nil {
			cur[strings.TrimSpace(line)] = true
		}
	}
	return out
}

// setMembers reads an Elements script's members by set name.
func setMembers(elements string) map[string][]string {
	out := map[string][]string{}
	for _, line := range strings.Split(elements, "\n") {
		if m := elementLine.FindStringSubmatch(line); m != nil {
			out[m[1]] = strings.Split(m[2], ", ")
		}
	}
	return out
}

// lostFlows compares the filter loaded before with the one loaded now and
// returns the ports (by device) that lost a rule and the remote group
// members that left a set. A port that is new, or gone, lost nothing.
func lostFlows(before, now filterScript) (ports map[string]bool, members []string) {
	ports = map[string]bool{}
	old, cur := chainLines(before.Tables), chainLines(now.Tables)
	for chain, lines := range old {
		kept, ok := cur[chain]
		if !ok {
			continue
		}
		for l := range lines {
			if !kept[l] {
				_, id, _ := strings.Cut(chain, "_")
				ports[id] = true
				break
			}
		}
	}
	oldSets, curSets := setMembers(before.Elements), setMembers(now.Elements)
	for name, ms := range oldSets {
		keep := map[string]bool{}
		for _, m := range curSets[name] {
			keep[m] = true
		}
		for _, m := range ms {
			if !keep[m] {
				members = append(members, m)
			}
		}
	}
	return ports, members
}

// flushLost deletes the conntrack entries of what lostFlows found, in the
// host's namespace. Failures are logged, not returned: the filter itself
// is in place, and an entry left only lets an old flow finish.
func (d *Datapath) flushLost(ctx context.Context, before, now filterScript, ports []netspec.Port, networks []netspec.Network) {
	if before.Tables == "" {
		return // nothing known of what was loaded (an agent restart)
	}
	lost, members := lostFlows(before, now)
	if len(lost) == 0 && len(members) == 0 {
		return
	}
	known := map[string]bool{}
	for _, n := range networks {
		known[n.ID] = true
	}
	for _, p := range ports {
		if !lost[chainID(p.Device)] || !known[p.NetworkID] {
			continue
		}
		zone := strconv.Itoa(zoneOf(p.NetworkID))
		for _, ip := range p.IPs {
			for _, dir := range []string{"--orig-src", "--orig-dst"} {
				d.conntrackDelete(ctx, ip, "--zone", zone, dir, ip)
			}
		}
	}
	for _, m := range members {
		d.conntrackDelete(ctx, m, "--orig-src", m)
	}
}

// conntrackDelete runs conntrack -D with args for addr's family. It
// exits 1 when nothing matched, which is no failure.
func (d *Datapath) conntrackDelete(ctx context.Context, addr string, args ...string) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return // a prefix (an address pair's CIDR): conntrack -D takes addresses
	}
	family := "ipv4"
	if a.Is6() {
		family = "ipv6"
	}
	argv := append([]string{"conntrack", "-D", "-f", family}, args...)
	if _, err := run(ctx, d.cfg.HostNetns, argv...); err != nil && !strings.Contains(err.Error(), "0 flow entries") {
		d.log.Warn("conntrack flush", "error", err)
		return
	}
	d.log.Info("conntrack flushed", "args", strings.Join(args, " "))
}
