package datapath

import (
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// Two VMs on one network, security groups allowing ICMP from the group's
// members, then without that rule, then one way only; spoofed addresses.
func TestSecurityGroups(t *testing.T) {
	needNet(t)
	t.Parallel()
	p := newPrefix(t)
	h := newTestHost(t, p, "host", nil)
	const netID = "11111111-aaaa-4000-8000-000000000001"
	vm1 := h.addVM("vm1", "tap11111111-a1", "fa:16:3e:00:00:11", []string{"10.0.0.11/24"}, "")
	vm2 := h.addVM("vm2", "tap22222222-a2", "fa:16:3e:00:00:12", []string{"10.0.0.12/24"}, "")
	mustRun(t, vm1, "ip", "addr", "add", "2001:db8::11/64", "dev", "eth0", "nodad")
	mustRun(t, vm2, "ip", "addr", "add", "2001:db8::12/64", "dev", "eth0", "nodad")
	port := func(id, dev, mac string, ips []string, groups ...string) netspec.Port {
		return netspec.Port{ID: id, NetworkID: netID, Device: dev, MAC: mac, IPs: ips, PortSecurity: true, Groups: groups}
	}
	ports := []netspec.Port{
		port("11111111-a1", "tap11111111-a1", "fa:16:3e:00:00:11", []string{"10.0.0.11", "2001:db8::11"}, "g"),
		port("22222222-a2", "tap22222222-a2", "fa:16:3e:00:00:12", []string{"10.0.0.12", "2001:db8::12"}, "g"),
	}
	members := []string{"10.0.0.11", "10.0.0.12", "2001:db8::11", "2001:db8::12"}
	g := egressAll("g")
	g.Rules = append(g.Rules,
		netspec.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: "icmp", RemoteGroup: "g", RemoteIPs: members},
		netspec.Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: "icmp", RemoteGroup: "g", RemoteIPs: members})
	doc := netspec.Host{
		Networks: []netspec.Network{{ID: netID, Type: netspec.TypeLocal, MTU: 1500}},
		Ports:    ports,
		Groups:   []netspec.Group{g},
	}
	h.apply(doc)
	wantPing(t, vm1, "10.0.0.12")
	wantPing(t, vm2, "10.0.0.11")
	wantPing(t, vm1, "2001:db8::12")

	t.Run("spoofed source address", func(t *testing.T) {
		mustRun(t, vm1, "ip", "addr", "add", "10.0.0.99/24", "dev", "eth0")
		wantNoPing(t, vm1, "10.0.0.12", "-I", "10.0.0.99")
		mustRun(t, vm1, "ip", "addr", "del", "10.0.0.99/24", "dev", "eth0")
		wantPing(t, vm1, "10.0.0.12")
	})
	t.Run("spoofed source address, IPv6", func(t *testing.T) {
		mustRun(t, vm1, "ip", "addr", "add", "2001:db8::99/64", "dev", "eth0", "nodad")
		wantNoPing(t, vm1, "2001:db8::12", "-I", "2001:db8::99")
		mustRun(t, vm1, "ip", "addr", "del", "2001:db8::99/64", "dev", "eth0")
	})
	t.Run("changed mac", func(t *testing.T) {
		mustRun(t, vm1, "ip", "link", "set", "eth0", "address", "fa:16:3e:00:00:99")
		mustRun(t, vm1, "ip", "neigh", "flush", "dev", "eth0")
		wantNoPing(t, vm1, "10.0.0.12")
		mustRun(t, vm1, "ip", "link", "set", "eth0", "address", "fa:16:3e:00:00:11")
		wantPing(t, vm1, "10.0.0.12")
	})

	// A remote group's members are a set of their own: when only they
	// change, the quick apply (a new document) updates the set and leaves
	// the tables as loaded — a chain added by hand survives it.
	t.Run("members change, tables stay", func(t *testing.T) {
		table := h.dp.filterTable()
		mustRun(t, h.ns, "nft", "add", "chain", "inet", table, "marker")
		only := func(ips ...string) netspec.Group {
			g := egressAll("g")
			g.Rules = append(g.Rules,
				netspec.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: "icmp", RemoteGroup: "g", RemoteIPs: ips},
				netspec.Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: "icmp", RemoteGroup: "g", RemoteIPs: ips})
			return g
		}
		quick := doc
		quick.Groups = []netspec.Group{only("10.0.0.11", "2001:db8::11")} // vm2 is no member
		h.applyQuick(quick)
		wantNoPing(t, vm2, "10.0.0.11")
		wantPing(t, vm1, "10.0.0.12")
		quick.Groups = []netspec.Group{only(members...)}
		h.applyQuick(quick)
		wantPing(t, vm2, "10.0.0.11")
		wantPing(t, vm2, "2001:db8::11")
		if out := mustRun(t, h.ns, "nft", "list", "chains", "inet"); !contains(out, "chain marker") {
			t.Fatalf("a member change reloaded the tables:\n%s", out)
		}
	})

	// Without the ICMP rule: no new echo passes either way, and the
	// connections the rule let in are forgotten (an established one
	// would otherwise go on): the echoes' conntrack entries are gone.
	wantPing(t, vm1, "10.0.0.12")
	if out := mustRun(t, h.ns, "conntrack", "-L", "-f", "ipv4", "--orig-dst", "10.0.0.12"); !contains(out, "icmp") {
		t.Fatalf("no conntrack entry for the echo to vm2:\n%s", out)
	}
	doc.Groups = []netspec.Group{egressAll("g")}
	h.apply(doc)
	if out := mustRun(t, h.ns, "conntrack", "-L", "-f", "ipv4", "--orig-dst", "10.0.0.12"); contains(out, "icmp") {
		t.Errorf("conntrack entries survived the rule's removal:\n%s", out)
	}
	wantNoPing(t, vm1, "10.0.0.12")
	wantNoPing(t, vm2, "10.0.0.11")
	wantNoPing(t, vm1, "2001:db8::12")

	// ICMP into vm2 from anywhere, nothing into vm1: vm1's echo is
	// answered (the reply is established), vm2's is not.
	web := egressAll("web")
	web.Rules = append(web.Rules, netspec.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: "icmp", RemoteCIDR: "0.0.0.0/0"})
	doc.Ports[1].Groups = []string{"web"}
	doc.Groups = []netspec.Group{egressAll("g"), web}
	h.apply(doc)
	wantPing(t, vm1, "10.0.0.12")
	wantNoPing(t, vm2, "10.0.0.11")

	// Port security off: vm1 unfiltered, reached by anyone.
	doc.Ports[0].PortSecurity = false
	h.apply(doc)
	wantPing(t, vm2, "10.0.0.11")
}

// Two networks with the same subnet on one host: each VM reaches its own
// network's neighbour only.
func TestNetworksIsolated(t *testing.T) {
	needNet(t)
	t.Parallel()
	p := newPrefix(t)
	h := newTestHost(t, p, "host", nil)
	const netA, netB = "aaaaaaaa-0000-4000-8000-00000000000a", "bbbbbbbb-0000-4000-8000-00000000000b"
	a1 := h.addVM("a1", "tapaaaaaaaa-01", "fa:16:3e:0a:00:01", []string{"10.0.0.1/24"}, "")
	h.addVM("a2", "tapaaaaaaaa-02", "fa:16:3e:0a:00:02", []string{"10.0.0.2/24"}, "")
	h.addVM("b3", "tapbbbbbbbb-03", "fa:16:3e:0b:00:03", []string{"10.0.0.3/24"}, "")
	open := func(id, net, dev, mac string) netspec.Port {
		return netspec.Port{ID: id, NetworkID: net, Device: dev, MAC: mac}
	}
	h.apply(netspec.Host{
		Networks: []netspec.Network{{ID: netA, Type: netspec.TypeLocal, MTU: 1500}, {ID: netB, Type: netspec.TypeLocal, MTU: 1500}},
		Ports: []netspec.Port{
			open("aaaaaaaa-01", netA, "tapaaaaaaaa-01", "fa:16:3e:0a:00:01"),
			open("aaaaaaaa-02", netA, "tapaaaaaaaa-02", "fa:16:3e:0a:00:02"),
			open("bbbbbbbb-03", netB, "tapbbbbbbbb-03", "fa:16:3e:0b:00:03"),
		},
	})
	wantPing(t, a1, "10.0.0.2")
	wantNoPing(t, a1, "10.0.0.3")
}

// A network that cannot be built (its physical interface is missing)
// fails Apply with its id, and the other networks still work.
func TestBrokenNetworkDoesNotStopOthers(t *testing.T) {
	needNet(t)
	t.Parallel()
	p := newPrefix(t)
	h := newTestHost(t, p, "host", func(c *Config) { c.PhysicalInterfaces = map[string]string{"physnet1": "nosuch0"} })
	const good, bad = "9a9a9a9a-0000-4000-8000-00000000009a", "bdbdbdbd-0000-4000-8000-0000000000bd"
	a := h.addVM("a", "tapgood-1", "fa:16:3e:09:00:01", []string{"10.0.0.1/24"}, "")
	h.addVM("b", "tapgood-2", "fa:16:3e:09:00:02", []string{"10.0.0.2/24"}, "")
	err := h.dp.Apply(t.Context(), netspec.Host{
		Generation: 1,
		Networks: []netspec.Network{
			{ID: bad, Type: netspec.TypeFlat, PhysicalNetwork: "physnet1", MTU: 1500},
			{ID: good, Type: netspec.TypeLocal, MTU: 1500},
		},
		Ports: []netspec.Port{
			{ID: "good-1", NetworkID: good, Device: "tapgood-1", MAC: "fa:16:3e:09:00:01"},
			{ID: "good-2", NetworkID: good, Device: "tapgood-2", MAC: "fa:16:3e:09:00:02"},
		},
	})
	if err == nil || !contains(err.Error(), bad) || contains(err.Error(), good) {
		t.Errorf("apply: got %v, want an error naming network %s only", err, bad)
	}
	wantPing(t, a, "10.0.0.2")
}
