package datapath

import (
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

const (
	intNet = "1a1a1a1a-0000-4000-8000-0000000000a1"
	extNet = "e0e0e0e0-0000-4000-8000-0000000000e0"
)

// routerDoc: an internal network with two VMs and a router whose gateway
// is on a flat external network; vm1 has a floating IP.
func routerDoc() netspec.Host {
	open := netspec.Group{ID: "open", Rules: []netspec.Rule{
		{Direction: "egress", Ethertype: "IPv4"},
		{Direction: "ingress", Ethertype: "IPv4", Protocol: "icmp", RemoteCIDR: "0.0.0.0/0"},
		{Direction: "ingress", Ethertype: "IPv4", Protocol: "tcp", PortMin: intp(8000), PortMax: intp(8000), RemoteCIDR: "0.0.0.0/0"},
	}}
	port := func(n int, ip string) netspec.Port {
		return netspec.Port{ID: "vmport-" + string(rune('0'+n)), NetworkID: intNet, Device: "tapvmport-" + string(rune('0'+n)),
			MAC: "fa:16:3e:00:0a:0" + string(rune('0'+n)), IPs: []string{ip}, PortSecurity: true, Groups: []string{"open"}}
	}
	return netspec.Host{
		Networks: []netspec.Network{
			{ID: intNet, Type: netspec.TypeLocal, MTU: 1500},
			{ID: extNet, Type: netspec.TypeFlat, PhysicalNetwork: "public", MTU: 1500},
		},
		Ports:  []netspec.Port{port(1, "10.0.0.11"), port(2, "10.0.0.12")},
		Groups: []netspec.Group{open},
		Routers: []netspec.Router{{
			ID:         "r1",
			Interfaces: []netspec.RouterInterface{{PortID: "rtrport-int1", NetworkID: intNet, MAC: "fa:16:3e:00:0b:01", IP: "10.0.0.1/24"}},
			Gateway:    &netspec.Gateway{PortID: "rtrport-gw01", NetworkID: extNet, MAC: "fa:16:3e:00:0e:01", IP: "203.0.113.10/24", NextHop: "203.0.113.1", SNAT: true},
			Floating:   []netspec.FloatingIP{{IP: "203.0.113.20", FixedIP: "10.0.0.11"}},
		}},
	}
}

// newRouterHost builds the host, the two VMs and the "outside": a
// namespace at 203.0.113.1 whose veth peer in the host namespace is the
// external network's physical interface.
func newRouterHost(t *testing.T) (h *testHost, vm1, vm2, outside string) {
	p := newPrefix(t)
	h = newTestHost(t, p, "host", func(c *Config) { c.PhysicalInterfaces = map[string]string{"public": "vout0"} })
	vm1 = h.addVM("vm1", "tapvmport-1", "fa:16:3e:00:0a:01", []string{"10.0.0.11/24"}, "10.0.0.1")
	vm2 = h.addVM("vm2", "tapvmport-2", "fa:16:3e:00:0a:02", []string{"10.0.0.12/24"}, "10.0.0.1")
	outside = h.addVM("out", "vout0", "02:00:00:00:00:01", []string{"203.0.113.1/24"}, "")
	return h, vm1, vm2, outside
}

// The outside reaches vm1 through its floating IP (ping and TCP, seen
// with its own address); vm2 reaches the outside through SNAT (seen as
// the router's gateway address), vm1 as its floating IP.
func TestRouter(t *testing.T) {
	needNet(t)
	t.Parallel()
	h, vm1, vm2, outside := newRouterHost(t)
	h.apply(routerDoc())

	wantPing(t, vm1, "10.0.0.1")
	wantPing(t, outside, "203.0.113.20")
	listen(t, vm1, "10.0.0.11:8000")
	if got, err := dialFrom(outside, "203.0.113.20:8000"); got != "203.0.113.1" {
		t.Errorf("outside to floating IP: vm1 saw %q (%v), want 203.0.113.1", got, err)
	}
	listen(t, outside, "203.0.113.1:9000")
	if got, err := dialFrom(vm2, "203.0.113.1:9000"); got != "203.0.113.10" {
		t.Errorf("vm2 to outside: outside saw %q (%v), want the gateway 203.0.113.10", got, err)
	}
	if got, err := dialFrom(vm1, "203.0.113.1:9000"); got != "203.0.113.20" {
		t.Errorf("vm1 to outside: outside saw %q (%v), want its floating IP 203.0.113.20", got, err)
	}
	// vm2 through vm1's floating IP: answered through the router.
	if got, err := dialFrom(vm2, "203.0.113.20:8000"); got != "10.0.0.1" {
		t.Errorf("vm2 to vm1's floating IP: vm1 saw %q (%v), want the router 10.0.0.1", got, err)
	}
	if out := mustRun(t, "", "ip", "netns", "exec", h.ns, "cat", "/proc/sys/net/ipv4/ip_forward"); out != "0\n" {
		t.Errorf("host namespace ip_forward: got %q, want 0", out)
	}

	// The floating IP goes: the outside no longer reaches vm1.
	doc := routerDoc()
	doc.Routers[0].Floating = nil
	h.apply(doc)
	wantNoPing(t, outside, "203.0.113.20")
	if got, err := dialFrom(vm1, "203.0.113.1:9000"); got != "203.0.113.10" {
		t.Errorf("vm1 without floating IP: outside saw %q (%v), want 203.0.113.10", got, err)
	}
}
