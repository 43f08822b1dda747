package network_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestDatapathFollowsTheAPI: an agent (libvirt's test driver) whose
// datapath lives in a namespace the test made follows the API: a
// server's port gets its tap on its network's bridge and a static DHCP
// lease, and turns ACTIVE once applied; a security group rule reaches the
// host's filter within 2 s; after a "reboot" (agent stopped, bridge, DHCP
// namespace and filter deleted, dnsmasq killed) the agent rebuilds it all
// at start; deleting the server and the network leaves nothing behind.
func TestDatapathFollowsTheAPI(t *testing.T) {
	nh := controllertest.NewNetworkHost(t)
	tc := controllertest.New(t, nil)
	agent := tc.StartAgentOn(t, "dp-a", "test:///default", nh.StateDir, nh.Env()...)
	tc.WaitHosts(t, 1)
	a := api{t, tc}
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	net := a.create("/networks", demo, "network", map[string]any{"name": "dp"})
	nid := net["id"].(string)
	a.create("/subnets", demo, "subnet", map[string]any{"network_id": nid, "cidr": "10.40.0.0/24", "ip_version": 4})
	r := tc.CreateServer(t, demo, map[string]any{"name": "dp-vm", "flavorRef": "1", "imageRef": img,
		"networks": []map[string]any{{"uuid": nid}}})
	if r.Status != 202 {
		t.Fatalf("launch: %d %s", r.Status, r.Body)
	}
	vm := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, vm, "ACTIVE", 30*time.Second)
	port := a.do("GET", "/ports?device_id="+vm, demo, nil).JSON(t)["ports"].([]any)[0].(map[string]any)
	pid, mac := port["id"].(string), port["mac_address"].(string)
	ip := port["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
	controllertest.WaitFor(t, 10*time.Second, "the port ACTIVE", func() bool {
		return a.do("GET", "/ports/"+pid, demo, nil).JSON(t)["port"].(map[string]any)["status"] == "ACTIVE"
	})

	bridge, tap, dhcpNS := "brq"+nid[:11], "tap"+pid[:11], nh.Prefix+"qdhcp-"+nid
	leases := filepath.Join(nh.StateDir, "network", "dhcp", nid, "hosts")
	built := func() string {
		if out, err := nh.Try(nh.NS, "ip", "link", "show", "dev", tap); err != nil || !strings.Contains(out, "master "+bridge) {
			return "tap " + tap + " not on " + bridge + ": " + out
		}
		if _, err := nh.Try(dhcpNS, "ip", "link"); err != nil {
			return "no DHCP namespace " + dhcpNS
		}
		if b, err := os.ReadFile(leases); err != nil || !strings.Contains(string(b), mac) || !strings.Contains(string(b), ip) {
			return fmt.Sprintf("no lease for %s %s in %q (%v)", mac, ip, b, err)
		}
		if out, _ := nh.Try("", "pgrep", "-f", "pid-file="+filepath.Join(nh.StateDir, "network", "dhcp", nid)); strings.TrimSpace(out) == "" {
			return "dnsmasq not running"
		}
		return ""
	}
	if why := built(); why != "" {
		t.Fatalf("after launch: %s", why)
	}

	// A rule change reaches the filter within 2 s.
	groups := a.do("GET", "/security-groups", demo, nil).JSON(t)["security_groups"].([]any)
	gid := groups[0].(map[string]any)["id"].(string)
	table := nh.Prefix + "nimbus"
	t0 := time.Now()
	a.create("/security-group-rules", demo, "security_group_rule", map[string]any{"security_group_id": gid,
		"direction": "ingress", "protocol": "tcp", "port_range_min": 2222, "port_range_max": 2222})
	controllertest.WaitFor(t, 2*time.Second, "the rule in the host's filter", func() bool {
		out, _ := nh.Try(nh.NS, "nft", "list", "table", "inet", table)
		return strings.Contains(out, "2222")
	})
	t.Logf("rule change to filter: %v", time.Since(t0).Round(time.Millisecond))

	// "Reboot": the agent stops, the host loses its datapath; the agent
	// rebuilds it at start.
	agent.Stop()
	nh.Run(t, nh.NS, "ip", "link", "del", bridge)
	nh.Run(t, "", "ip", "netns", "del", dhcpNS)
	nh.Run(t, nh.NS, "nft", "delete", "table", "inet", table)
	nh.Try("", "pkill", "-f", "pid-file="+filepath.Join(nh.StateDir, "network", "dhcp", nid))
	t0 = time.Now()
	agent = tc.StartAgentOn(t, "dp-a", "test:///default", nh.StateDir, nh.Env()...)
	controllertest.WaitFor(t, 60*time.Second, "the datapath rebuilt", func() bool { return built() == "" })
	if out, _ := nh.Try(nh.NS, "nft", "list", "table", "inet", table); !strings.Contains(out, "2222") {
		t.Errorf("the rebuilt filter lacks the rule: %s", out)
	}
	t.Logf("rebuilt %v after the agent's start", time.Since(t0).Round(time.Millisecond))

	// Deleting the server takes its tap and lease; deleting the network
	// everything of it.
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+vm, demo, nil); r.Status != 204 {
		t.Fatalf("delete server: %d", r.Status)
	}
	controllertest.WaitFor(t, 15*time.Second, "the tap removed", func() bool {
		_, err := nh.Try(nh.NS, "ip", "link", "show", "dev", tap)
		return err != nil
	})
	if r := a.do("DELETE", "/networks/"+nid, demo, nil); r.Status != 204 {
		t.Fatalf("delete network: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, 15*time.Second, "nothing of the network left", func() bool {
		_, brErr := nh.Try(nh.NS, "ip", "link", "show", "dev", bridge)
		_, nsErr := nh.Try(dhcpNS, "true")
		out, _ := nh.Try("", "pgrep", "-f", "pid-file="+filepath.Join(nh.StateDir, "network", "dhcp", nid))
		return brErr != nil && nsErr != nil && strings.TrimSpace(out) == ""
	})
}

// TestDatapathVXLANPeers: two agents, each with its datapath in a host
// namespace of its own and a VTEP on an underlay veth between them; two
// servers of one VXLAN network placed apart (anti-affinity). Each host
// gets the network's VXLAN device with the other host's VTEP as its
// flooding peer, from the controller's documents.
func TestDatapathVXLANPeers(t *testing.T) {
	a1, a2 := controllertest.NewNetworkHost(t), controllertest.NewNetworkHost(t)
	a1.Run(t, a1.NS, "ip", "link", "add", "u0", "type", "veth", "peer", "name", "u0", "netns", a2.NS)
	for i, h := range []*controllertest.NetworkHost{a1, a2} {
		h.Run(t, h.NS, "ip", "addr", "add", fmt.Sprintf("10.99.99.%d/24", i+1), "dev", "u0")
		h.Run(t, h.NS, "ip", "link", "set", "u0", "up")
	}
	tc := controllertest.New(t, nil)
	tc.StartAgentOn(t, "vx-1", "test:///default", a1.StateDir, append(a1.Env(), "NIMBUS_AGENT_VTEP=10.99.99.1")...)
	tc.StartAgentOn(t, "vx-2", "test:///default", a2.StateDir, append(a2.Env(), "NIMBUS_AGENT_VTEP=10.99.99.2")...)
	tc.WaitHosts(t, 2)
	a := api{t, tc}
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	net := a.create("/networks", demo, "network", map[string]any{"name": "vx"})
	a.create("/subnets", demo, "subnet", map[string]any{"network_id": net["id"], "cidr": "10.70.0.0/24", "ip_version": 4})
	vni := int(a.do("GET", "/networks/"+net["id"].(string), tc.AdminToken(t), nil).JSON(t)["network"].(map[string]any)["provider:segmentation_id"].(float64))
	g := tc.Do(t, "POST", "/compute/v2.1/os-server-groups", demo, map[string]any{"server_group": map[string]any{
		"name": "apart", "policies": []string{"anti-affinity"}}}).JSON(t)["server_group"].(map[string]any)["id"].(string)
	for _, name := range []string{"vx-a", "vx-b"} {
		r := tc.Do(t, "POST", "/compute/v2.1/servers", demo, map[string]any{"server": map[string]any{"name": name, "flavorRef": "1",
			"imageRef": img, "networks": []map[string]any{{"uuid": net["id"]}}}, "os:scheduler_hints": map[string]any{"group": g}})
		if r.Status != 202 {
			t.Fatalf("launch %s: %d %s", name, r.Status, r.Body)
		}
		tc.WaitStatus(t, demo, r.JSON(t)["server"].(map[string]any)["id"].(string), "ACTIVE", time.Minute)
	}
	dev := fmt.Sprintf("vxlan-%d", vni)
	for i, h := range []*controllertest.NetworkHost{a1, a2} {
		peer := fmt.Sprintf("10.99.99.%d", 2-i)
		controllertest.WaitFor(t, 15*time.Second, h.NS+": "+dev+" flooding to "+peer, func() bool {
			out, err := h.Try(h.NS, "bridge", "fdb", "show", "dev", dev)
			return err == nil && strings.Contains(out, "dst "+peer)
		})
		if out, _ := h.Try(h.NS, "ip", "-d", "link", "show", "dev", dev); !strings.Contains(out, fmt.Sprintf("vxlan id %d", vni)) ||
			!strings.Contains(out, "master brq"+net["id"].(string)[:11]) {
			t.Errorf("%s: %s", h.NS, out)
		}
	}
}
