package datapath

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

const vlanNet = "7a7a7a7a-0000-4000-8000-0000000000a7"

// lifecycleDoc is everything at once: a network with DHCP, metadata, a
// filtered VM and a router with a floating IP on a flat external
// network, and (if the kernel has 802.1Q) a VLAN network with an
// unfiltered VM.
func lifecycleDoc(vlan bool) netspec.Host {
	doc := routerDoc()
	doc.Ports = doc.Ports[:1] // vm1
	doc.Networks[0].DHCP = &netspec.DHCP{
		PortID: "dhcpport-0001", MAC: "fa:16:3e:00:0d:02", IPs: []string{"10.0.0.2/24"},
		Subnets:  []netspec.Subnet{{ID: "sub", CIDR: "10.0.0.0/24", Gateway: "10.0.0.1"}},
		Leases:   []netspec.Lease{{MAC: "fa:16:3e:00:0a:01", IP: "10.0.0.11", InstanceID: "inst-1"}},
		Metadata: true,
	}
	if !vlan {
		return doc
	}
	doc.Networks = append(doc.Networks, netspec.Network{ID: vlanNet, Type: netspec.TypeVLAN, PhysicalNetwork: "physnet1", SegmentationID: 100, MTU: 1500})
	doc.Ports = append(doc.Ports, netspec.Port{ID: "vlanport-01", NetworkID: vlanNet, Device: "tapvlanport-1", MAC: "fa:16:3e:00:7a:01", IPs: []string{"10.9.0.2"}})
	return doc
}

// state is what the datapath made, as the kernel lists it.
type state struct {
	links, namespaces []string
	filter, nat       string
	dnsmasq           int
}

func (h *testHost) state() state {
	h.t.Helper()
	ctx := context.Background()
	var s state
	ls, err := links(ctx, h.ns)
	if err != nil {
		h.t.Fatal(err)
	}
	for name, l := range ls {
		s.links = append(s.links, fmt.Sprintf("%s master=%s mtu=%d up=%v", name, l.Master, l.MTU, l.up()))
	}
	slices.Sort(s.links)
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), h.dp.cfg.NamePrefix) {
			s.namespaces = append(s.namespaces, e.Name())
		}
	}
	t := h.dp.filterTable()
	s.filter, _ = listTables(ctx, h.ns, []string{"bridge " + t, "inet " + t})
	s.nat, _ = listTables(ctx, h.dp.routerNS("r1"), []string{"ip " + natTable})
	s.dnsmasq = dnsmasqPid(h.dp.dhcpDir(intNet))
	return s
}

// Apply twice changes nothing; a "reboot" (bridges, namespaces, tables
// and dnsmasq gone) is rebuilt by Apply; an empty document leaves nothing
// of ours; an older document is ignored.
func TestLifecycle(t *testing.T) {
	needNet(t)
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("X-Instance-ID"))
	}))
	t.Cleanup(upstream.Close)
	p := newPrefix(t)
	h := newTestHost(t, p, "host", func(c *Config) {
		c.PhysicalInterfaces = map[string]string{"public": "vout0", "physnet1": "vphys0"}
		c.Metadata = &MetadataProxy{Upstream: upstream.URL, Secret: "x"}
	})
	vm1 := h.addVM("vm1", "tapvmport-1", "fa:16:3e:00:0a:01", nil, "")
	outside := h.addVM("out", "vout0", "02:00:00:00:00:01", []string{"203.0.113.1/24"}, "")
	sw := h.addVM("sw", "vphys0", "02:00:00:00:00:02", nil, "")
	_, err := run(context.Background(), sw, "ip", "link", "add", "link", "eth0", "name", "eth0.100", "type", "vlan", "id", "100")
	vlan := err == nil
	var vm2 string
	if vlan {
		mustRun(t, sw, "ip", "addr", "add", "10.9.0.1/24", "dev", "eth0.100")
		mustRun(t, sw, "ip", "link", "set", "eth0.100", "up")
		vm2 = h.addVM("vm2", "tapvlanport-1", "fa:16:3e:00:7a:01", []string{"10.9.0.2/24"}, "")
	} else {
		t.Logf("no VLAN part: this kernel has no 802.1Q (%v)", err)
	}

	traffic := func(when string) {
		t.Helper()
		env := udhcpc(t, vm1)
		if env["ip"] != "10.0.0.11" {
			t.Fatalf("%s: vm1 lease: got %q, want 10.0.0.11\nlog:\n%s", when, env["ip"], h.logs.take())
		}
		// Configure what DHCP said (the test's udhcpc script does not).
		run(context.Background(), vm1, "ip", "addr", "replace", "10.0.0.11/24", "dev", "eth0")
		run(context.Background(), vm1, "ip", "route", "replace", "default", "via", "10.0.0.1")
		run(context.Background(), vm1, "ip", "route", "replace", metadataAddr, "via", "10.0.0.2")
		wantPing(t, vm1, "10.0.0.1")
		wantPing(t, outside, "203.0.113.20")
		if vlan {
			wantPing(t, vm2, "10.9.0.1")
		}
		if code, body, err := getFrom(vm1, "http://169.254.169.254/"); code != 200 || body != "inst-1" {
			t.Errorf("%s: metadata from vm1: got %d %q (%v), want 200 inst-1", when, code, body, err)
		}
	}

	h.apply(lifecycleDoc(vlan))
	traffic("first apply")
	first := h.state()
	h.logs.take()
	h.apply(lifecycleDoc(vlan))
	if again := h.state(); !equalState(first, again) {
		t.Errorf("second apply changed the datapath:\nbefore %+v\nafter  %+v", first, again)
	}
	if logged := h.logs.take(); logged != "" {
		t.Errorf("second apply logged changes, want none:\n%s", logged)
	}

	// "Reboot": everything the datapath made is gone (the VMs' veth ends
	// stay, as a restarted guest's taps would come back).
	stopProcess(first.dnsmasq)
	for _, ns := range first.namespaces {
		mustRun(t, "", "ip", "netns", "delete", ns)
	}
	for _, l := range []string{bridgeName(intNet), bridgeName(extNet), bridgeName(vlanNet), "vphys0.100"} {
		if vlan || !strings.Contains(l, vlanNet[:8]) && l != "vphys0.100" {
			mustRun(t, h.ns, "ip", "link", "del", l)
		}
	}
	mustRun(t, h.ns, "nft", "flush", "ruleset")
	h.apply(lifecycleDoc(vlan))
	traffic("after reboot")
	rebuilt := h.state()
	rebuilt.dnsmasq = first.dnsmasq
	if !equalState(first, rebuilt) {
		t.Errorf("rebuilt datapath differs:\nbefore %+v\nafter  %+v", first, rebuilt)
	}

	// An older document is ignored.
	if err := h.dp.Apply(context.Background(), netspec.Host{Generation: 1}); err != nil {
		t.Fatal(err)
	}
	if s := h.state(); len(s.namespaces) != 2 {
		t.Errorf("an older document was applied: namespaces %v", s.namespaces)
	}

	// Nothing in the document: nothing of ours is left.
	pid := h.state().dnsmasq
	h.apply(netspec.Host{})
	s := h.state()
	for _, l := range s.links {
		name := strings.Fields(l)[0]
		if strings.HasPrefix(name, bridgePrefix) || strings.HasPrefix(name, tapPrefix) || strings.HasPrefix(name, vxlanPrefix) || strings.Contains(name, ".") {
			t.Errorf("link left: %s", l)
		}
		if (name == "vout0" || name == "vphys0") && !strings.Contains(l, "master= ") {
			t.Errorf("physical interface not released: %s", l)
		}
	}
	if !slices.ContainsFunc(s.links, func(l string) bool { return strings.HasPrefix(l, "vout0 ") }) {
		t.Errorf("the physical interface vout0 was deleted, want it kept: %v", s.links)
	}
	if len(s.namespaces) != 0 {
		t.Errorf("namespaces left: %v", s.namespaces)
	}
	if running(pid) {
		t.Errorf("dnsmasq %d still running", pid)
	}
	if out := mustRun(t, h.ns, "nft", "list", "tables"); out != "" {
		t.Errorf("nft tables left:\n%s", out)
	}
	if len(h.dp.metadata) != 0 {
		t.Errorf("metadata listeners left: %d", len(h.dp.metadata))
	}
	if entries, _ := os.ReadDir(h.dp.cfg.StateDir + "/dhcp"); len(entries) != 0 {
		t.Errorf("dhcp state left: %v", entries)
	}
}

func equalState(a, b state) bool {
	return slices.Equal(a.links, b.links) && slices.Equal(a.namespaces, b.namespaces) &&
		a.filter == b.filter && a.nat == b.nat && a.dnsmasq == b.dnsmasq
}

// A quick apply (a new document) trusts the units it made with the same
// spec, and the thorough one repairs them; what a quick apply's document
// no longer has is still removed, and a network that comes back is made
// again.
func TestQuickApplyTrusts(t *testing.T) {
	needNet(t)
	t.Parallel()
	p := newPrefix(t)
	h := newTestHost(t, p, "host", nil)
	const netID = "33333333-aaaa-4000-8000-000000000003"
	port := func(id, dev string) netspec.Port {
		return netspec.Port{ID: id, NetworkID: netID, Device: dev, MAC: "fa:16:3e:00:03:01", IPs: []string{"10.3.0.5"}}
	}
	doc := netspec.Host{
		Networks: []netspec.Network{{ID: netID, Type: netspec.TypeLocal, MTU: 1500}},
		Ports:    []netspec.Port{port("33333333-p1", "tap33333333-p1"), port("33333333-p2", "tap33333333-p2")},
	}
	br := bridgeName(netID)
	exists := func(dev string) bool {
		_, ok, err := linkByName(context.Background(), h.ns, dev)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	h.apply(doc)
	mustRun(t, h.ns, "ip", "link", "del", br)
	// Trusted: the bridge is not read back, so the taps fail to join it;
	// then nothing is trusted, and the next quick apply repairs it.
	h.gen++
	doc.Generation = h.gen
	if err := h.dp.ApplyQuick(context.Background(), doc); err == nil || exists(br) {
		t.Errorf("a quick apply read the trusted bridge back (err %v, bridge %v)", err, exists(br))
	}
	h.applyQuick(doc)
	if !exists(br) {
		t.Fatalf("the quick apply after a failed one did not repair the bridge")
	}

	// A port gone from the document: its tap goes, even on a quick apply.
	doc.Ports = doc.Ports[:1]
	h.applyQuick(doc)
	if exists("tap33333333-p2") || !exists("tap33333333-p1") {
		t.Errorf("after a port left the document: p1 %v, p2 %v", exists("tap33333333-p1"), exists("tap33333333-p2"))
	}
	// The network gone and back: made again, not trusted from before.
	h.applyQuick(netspec.Host{})
	if exists(br) {
		t.Fatalf("the bridge outlived its network")
	}
	h.applyQuick(doc)
	if !exists(br) || !exists("tap33333333-p1") {
		t.Errorf("the network came back without its bridge or tap")
	}
}
