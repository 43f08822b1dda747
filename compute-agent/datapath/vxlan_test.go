package datapath

import (
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// Two hosts joined by a veth "underlay", one VM each on the same VXLAN
// network: they reach each other through the tunnel, and peers removed
// from the documents stop the flooding.
func TestVXLAN(t *testing.T) {
	needNet(t)
	t.Parallel()
	p := newPrefix(t)
	a := newTestHost(t, p, "ha", func(c *Config) { c.VTEP = "192.168.77.1" })
	b := newTestHost(t, p, "hb", func(c *Config) { c.VTEP = "192.168.77.2" })
	mustRun(t, a.ns, "ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", b.ns)
	mustRun(t, a.ns, "ip", "addr", "add", "192.168.77.1/24", "dev", "ul0")
	mustRun(t, b.ns, "ip", "addr", "add", "192.168.77.2/24", "dev", "ul0")
	mustRun(t, a.ns, "ip", "link", "set", "ul0", "up")
	mustRun(t, b.ns, "ip", "link", "set", "ul0", "up")
	vmA := a.addVM("vma", "tapvxport-a", "fa:16:3e:00:1a:01", []string{"10.5.0.1/24"}, "")
	b.addVM("vmb", "tapvxport-b", "fa:16:3e:00:1b:01", []string{"10.5.0.2/24"}, "")

	const netID = "0c0c0c0c-0000-4000-8000-0000000000c0"
	doc := func(dev, mac, ip string, peers ...string) netspec.Host {
		return netspec.Host{
			Networks: []netspec.Network{{ID: netID, Type: netspec.TypeVXLAN, SegmentationID: 1001, MTU: 1450, Peers: peers}},
			Ports: []netspec.Port{{ID: dev[3:], NetworkID: netID, Device: dev, MAC: mac, IPs: []string{ip},
				PortSecurity: true, Groups: []string{"g"}}},
			Groups: []netspec.Group{{ID: "g", Rules: []netspec.Rule{
				{Direction: "egress", Ethertype: "IPv4"},
				{Direction: "ingress", Ethertype: "IPv4", Protocol: "icmp", RemoteIPs: []string{"10.5.0.1", "10.5.0.2"}},
			}}},
		}
	}
	a.apply(doc("tapvxport-a", "fa:16:3e:00:1a:01", "10.5.0.1", "192.168.77.2"))
	b.apply(doc("tapvxport-b", "fa:16:3e:00:1b:01", "10.5.0.2", "192.168.77.1"))
	wantPing(t, vmA, "10.5.0.2")
	if l, ok, err := linkByName(t.Context(), a.ns, "vxlan-1001"); !ok || err != nil || l.MTU != 1450 || l.Master != bridgeName(netID) {
		t.Errorf("vxlan-1001 on host a: got %+v (found %v, %v), want mtu 1450 on %s", l, ok, err, bridgeName(netID))
	}

	// The peers removed from both documents: no flooding entry is left,
	// so ARP no longer crosses.
	a.apply(doc("tapvxport-a", "fa:16:3e:00:1a:01", "10.5.0.1"))
	b.apply(doc("tapvxport-b", "fa:16:3e:00:1b:01", "10.5.0.2"))
	if out := mustRun(t, a.ns, "bridge", "fdb", "show", "dev", "vxlan-1001"); contains(out, "00:00:00:00:00:00") {
		t.Errorf("flooding entry to the removed peer still there:\n%s", out)
	}
	mustRun(t, vmA, "ip", "neigh", "flush", "dev", "eth0")
	wantNoPing(t, vmA, "10.5.0.2")
}
