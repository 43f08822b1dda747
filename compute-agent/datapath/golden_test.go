package datapath

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func goldenHost() netspec.Host {
	return netspec.Host{
		Networks: []netspec.Network{
			{ID: "net-a-0000-0000", Type: netspec.TypeLocal, MTU: 1500},
			{ID: "net-b-0000-0000", Type: netspec.TypeVXLAN, SegmentationID: 100, MTU: 1450},
		},
		Ports: []netspec.Port{
			{ID: "port-1-00000", NetworkID: "net-a-0000-0000", Device: "tapport-1-000", MAC: "FA:16:3E:00:00:01",
				IPs: []string{"10.0.0.5", "2001:db8::5"}, PortSecurity: true, Groups: []string{"default", "web"},
				AddressPairs: []netspec.AddressPair{{IP: "10.0.9.0/24", MAC: "fa:16:3e:00:00:aa"}, {IP: "10.0.9.7"}}},
			{ID: "port-2-00000", NetworkID: "net-b-0000-0000", Device: "tapport-2-000", MAC: "fa:16:3e:00:00:02",
				IPs: []string{"10.1.0.5"}, PortSecurity: true, Groups: []string{"default"}},
			{ID: "port-3-00000", NetworkID: "net-a-0000-0000", Device: "tapport-3-000", MAC: "fa:16:3e:00:00:03",
				IPs: []string{"10.0.0.6"}, PortSecurity: false},
		},
		Groups: []netspec.Group{
			{ID: "default", Rules: []netspec.Rule{
				{Direction: "egress", Ethertype: "IPv4"},
				{Direction: "egress", Ethertype: "IPv6"},
				{Direction: "ingress", Ethertype: "IPv4", RemoteGroup: "default", RemoteIPs: []string{"10.0.0.5", "10.1.0.5", "2001:db8::5"}},
				{Direction: "ingress", Ethertype: "IPv6", RemoteGroup: "default", RemoteIPs: []string{"10.0.0.5", "10.1.0.5", "2001:db8::5"}},
			}},
			{ID: "web", Rules: []netspec.Rule{
				{Direction: "ingress", Ethertype: "IPv4", Protocol: "tcp", PortMin: intp(80), PortMax: intp(80)},
				{Direction: "ingress", Ethertype: "IPv4", Protocol: "tcp", PortMin: intp(8000), PortMax: intp(8100), RemoteCIDR: "192.0.2.0/24"},
				{Direction: "ingress", Ethertype: "IPv4", Protocol: "icmp", PortMin: intp(8), PortMax: intp(0)},
				{Direction: "ingress", Ethertype: "IPv6", Protocol: "icmp"},
				{Direction: "ingress", Ethertype: "IPv4", Protocol: "udp", RemoteGroup: "empty"}, // no members: nothing
				{Direction: "ingress", Ethertype: "IPv4", Protocol: "47"},
				{Direction: "egress", Ethertype: "IPv4", Protocol: "udp", PortMin: intp(53), PortMax: intp(53), RemoteCIDR: "10.0.0.0/8"},
			}},
		},
	}
}

func TestFilterRulesetGolden(t *testing.T) {
	h := goldenHost()
	got, err := FilterRuleset("nimbus", h.Networks, h.Ports, h.Groups)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "filter.nft", got)
}

func TestFilterRulesetBadInput(t *testing.T) {
	h := goldenHost()
	h.Ports[0].MAC = "not-a-mac"
	h.Ports[1].Groups = []string{"missing"}
	h.Groups[1].Rules = append(h.Groups[1].Rules, netspec.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: "tcp; drop"})
	got, err := FilterRuleset("nimbus", h.Networks, h.Ports, h.Groups)
	for _, want := range []string{"bad mac", "security group missing", "bad protocol"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error: got %v, want one saying %q", err, want)
		}
	}
	if strings.Contains(got, "tcp; drop") {
		t.Errorf("ruleset holds the bad protocol:\n%s", got)
	}
	if !strings.Contains(got, "chain from_tapport_2_000") {
		t.Errorf("port 2 lost its filter with port 1's error:\n%s", got)
	}
}

func TestNATRulesetGolden(t *testing.T) {
	r := netspec.Router{
		ID: "router-1",
		Interfaces: []netspec.RouterInterface{
			{PortID: "rport-a-0000", NetworkID: "net-a-0000-0000", MAC: "fa:16:3e:00:01:01", IP: "10.0.0.1/24"},
			{PortID: "rport-b-0000", NetworkID: "net-b-0000-0000", MAC: "fa:16:3e:00:01:02", IP: "10.1.0.1/24"},
		},
		Gateway:  &netspec.Gateway{PortID: "gport-0000000", NetworkID: "ext", MAC: "fa:16:3e:00:01:03", IP: "203.0.113.10/24", NextHop: "203.0.113.1", SNAT: true},
		Floating: []netspec.FloatingIP{{IP: "203.0.113.21", FixedIP: "10.1.0.5"}, {IP: "203.0.113.20", FixedIP: "10.0.0.5"}},
	}
	got, err := NATRuleset(r)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "nat.nft", got)
}

func TestDnsmasqConfigGolden(t *testing.T) {
	dh := netspec.DHCP{
		PortID: "dport-000000", MAC: "fa:16:3e:00:02:01",
		IPs: []string{"10.0.0.2/24", "10.1.0.2/24"},
		Subnets: []netspec.Subnet{
			{ID: "sub-a", CIDR: "10.0.0.0/24", Gateway: "10.0.0.1", DNS: []string{"192.0.2.53", "192.0.2.54"},
				Routes: []netspec.Route{{Destination: "192.168.0.0/16", NextHop: "10.0.0.254"}}},
			{ID: "sub-b", CIDR: "10.1.0.0/24"}, // no gateway
			{ID: "sub-v6", CIDR: "2001:db8::/64", Gateway: "2001:db8::1"},
		},
		Leases: []netspec.Lease{
			{MAC: "FA:16:3E:00:00:05", IP: "10.0.0.5", Hostname: "vm-5", InstanceID: "i-5"},
			{MAC: "fa:16:3e:00:00:06", IP: "10.1.0.6", Hostname: "bad name"},
			{MAC: "fa:16:3e:00:00:07", IP: "172.16.0.7"}, // in no subnet served
		},
		Metadata: true,
	}
	c, err := dnsmasqConfig("/state/dhcp/net-a", "ns-dport-0000", dh, true, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "dnsmasq.args", strings.Join(c.Args, "\n")+"\n")
	golden(t, "dnsmasq.hosts", c.Hosts)
	golden(t, "dnsmasq.opts", c.Opts)
}

// The golden rulesets are valid for this kernel and nft: loaded into a
// namespace of the test's own.
func TestGoldenRulesetsLoad(t *testing.T) {
	needNet(t)
	t.Parallel()
	ns := newPrefix(t) + "nft"
	mustRun(t, "", "ip", "netns", "add", ns)
	t.Cleanup(func() { run(context.Background(), "", "ip", "netns", "delete", ns) })
	for _, name := range []string{"filter.nft", "nat.nft"} {
		script, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := runInput(context.Background(), ns, string(script), "nft", "-f", "-"); err != nil {
			t.Errorf("load %s: %v", name, err)
		}
	}
}
