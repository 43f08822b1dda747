package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// netScript is the user_data of the network guests: once eth0 has its
// lease it reads its own meta_data.json from the metadata service and
// prints the uuid, then (when given a peer) pings the peer and says
// whether it answered. PEER is filled in per guest.
const netScript = `#!/bin/sh
# A NIC hot-plugged later (os-interface) appears as eth1, and goes again.
( while [ ! -e /sys/class/net/eth1 ]; do sleep 1; done
  echo "nic-added: eth1 $(cat /sys/class/net/eth1/address)"
  while [ -e /sys/class/net/eth1 ]; do sleep 1; done
  echo "nic-removed: eth1" ) &
i=0
until ip -4 addr show dev eth0 2>/dev/null | grep -q 'inet '; do
	i=$((i + 1)); [ $i -gt 120 ] && break; sleep 1
done
for try in 1 2 3 4 5 6 7 8 9 10; do
	md="$(timeout 10 wget -q -O - http://169.254.169.254/openstack/latest/meta_data.json 2>/dev/null)"
	[ -n "$md" ] && break
	sleep 2
done
echo "md-uuid: $(echo "$md" | grep -o '"uuid": *"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')"
peer=PEER
if [ -n "$peer" ]; then
	ok=fail
	for try in 1 2 3 4 5 6 7 8 9 10; do
		if ping -c 1 -W 2 "$peer" >/dev/null 2>&1; then ok=ok; break; fi
		sleep 1
	done
	echo "ping-peer $peer: $ok"
fi
`

var leaseRE = regexp.MustCompile(`nimbus-net: eth0 lease ([0-9.]+)/(\d+)`)

// TestQEMUNetworking carries real guests through the networking issue's
// path with the openstack CLI: an external network on the host's "public"
// uplink (a veth into an "outside" namespace the test made), a project
// network behind a router, two guests that get their fixed addresses by
// DHCP (the serial log shows the lease), read their own meta_data.json
// from 169.254.169.254 and ping each other within the default group; a
// guest of another project on the same addresses cannot reach them at
// L2; from the outside namespace, ssh with the key pair's private key
// reaches the first guest through its floating IP only while a rule
// allows TCP 22; after the agent is stopped and the host's datapath wiped
// (bridges, DHCP and router namespaces, filter) the agent rebuilds it and
// ssh works again. No packet is sent from the machine's own namespace.
func TestQEMUNetworking(t *testing.T) {
	start := time.Now()
	step := func(name string) { t.Logf("%6.1fs  %s", time.Since(start).Seconds(), name) }
	step("the cloud's external network and a project network behind a router")
	c := newQEMUNet(t)
	nh, tc, dir, demo := c.nh, c.tc, c.dir, c.demo
	launch := func(cli func(...string) []byte, name, nic, peer string) (string, guestLog) {
		t.Helper()
		return c.launch(cli, name, nic, strings.Replace(netScript, "PEER", peer, 1))
	}
	fixedIP, lease, waitLine := c.fixedIP, c.lease, c.waitLine

	step("vm1 and vm2: DHCP, their own metadata, a ping within the default group")
	vm1, log1 := launch(demo, "vm1", "net-id=net1", "")
	ip1 := fixedIP(demo, "vm1")
	vm2, log2 := launch(demo, "vm2", "net-id=net1", ip1)
	ip2 := fixedIP(demo, "vm2")
	lease(log1, "vm1", ip1)
	lease(log2, "vm2", ip2)
	waitLine(log1, "vm1", "md-uuid: "+vm1)
	waitLine(log2, "vm2", "md-uuid: "+vm2)
	if strings.Contains(log1.read(), vm2) || strings.Contains(log2.read(), "md-uuid: "+vm1) {
		t.Errorf("a guest read another's meta_data.json")
	}
	waitLine(log2, "vm2", "ping-peer "+ip1+": ok")

	step("another project's guest on the same addresses cannot reach them")
	other := otherProjectCLI(t, tc, "net-iso")
	other("network", "create", "isolated")
	other("subnet", "create", "--network", "isolated", "--subnet-range", "10.0.0.0/24", "iso-sub")
	other("keypair", "create", "k1")
	_, log3 := launch(other, "vm3", "net-id=isolated,v4-fixed-ip=10.0.0.50", ip1)
	lease(log3, "vm3", "10.0.0.50")
	waitLine(log3, "vm3", "ping-peer "+ip1+": fail")

	step("a floating IP on vm1; ssh from outside only while TCP 22 is allowed")
	fip := strings.TrimSpace(string(demo("floating", "ip", "create", "public", "-f", "value", "-c", "floating_ip_address")))
	demo("server", "add", "floating", "ip", "vm1", fip)
	ssh := func() (string, error) { return c.ssh(fip, "echo nimbus-ssh-ok $(hostname)") }
	waitLine(log1, "vm1", "nimbus-net: ssh keys from")
	if out, err := ssh(); err == nil {
		t.Fatalf("ssh answered before any rule allowed TCP 22: %s", out)
	}
	rule := strings.TrimSpace(string(demo("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
		"default", "-f", "value", "-c", "id")))
	var out string
	controllertest.WaitFor(t, 60*time.Second, "ssh through the floating IP", func() bool {
		o, err := ssh()
		out = o
		return err == nil && strings.Contains(o, "nimbus-ssh-ok")
	})
	t.Logf("ssh: %s", strings.TrimSpace(out))
	demo("security", "group", "rule", "delete", rule)
	controllertest.WaitFor(t, 10*time.Second, "ssh refused once the rule is gone", func() bool {
		_, err := ssh()
		return err != nil
	})

	step("a NIC hot-plugged into the running vm1 and taken away again")
	demo("network", "create", "net2")
	demo("subnet", "create", "--network", "net2", "--subnet-range", "10.2.0.0/24", "sub2")
	demo("server", "add", "network", "vm1", "net2")
	var mac2 string
	for _, p := range decodeJSON[[]map[string]any](t, demo("port", "list", "--server", "vm1", "--network", "net2", "-f", "json")) {
		mac2, _ = p["MAC Address"].(string)
	}
	if mac2 == "" {
		t.Fatalf("no port of vm1 on net2 after server add network")
	}
	waitLine(log1, "vm1", "nic-added: eth1 "+mac2)
	demo("server", "remove", "network", "vm1", "net2")
	waitLine(log1, "vm1", "nic-removed: eth1")
	if ports := decodeJSON[[]map[string]any](t, demo("port", "list", "--network", "net2", "--device-owner", "compute:nova", "-f", "json")); len(ports) != 0 {
		t.Errorf("the port Nova made for the hot-plugged NIC remains: %v", ports)
	}

	step("agent stopped, the host's datapath wiped, agent started: reachable again")
	demo("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "default")
	controllertest.WaitFor(t, 60*time.Second, "ssh with the rule back", func() bool { _, err := ssh(); return err == nil })
	c.stopAgent()
	links := nh.Run(t, nh.NS, "ip", "-o", "link", "show", "type", "bridge")
	for _, l := range strings.Split(links, "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], "brq") {
			nh.Run(t, nh.NS, "ip", "link", "del", strings.TrimSuffix(f[1], ":"))
		}
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), nh.Prefix+"q") {
			nh.Run(t, "", "ip", "netns", "del", e.Name())
		}
	}
	nh.Try("", "pkill", "-f", "pid-file="+filepath.Join(dir, "network"))
	nh.Try(nh.NS, "nft", "delete", "table", "inet", nh.Prefix+"nimbus")
	nh.Try(nh.NS, "nft", "delete", "table", "bridge", nh.Prefix+"nimbus")
	if _, err := ssh(); err == nil {
		t.Fatalf("ssh still answers with the datapath wiped")
	}
	t0 := time.Now()
	startQEMUAgentEnv(t, tc, "qemu-net", dir, 1, c.agentEnv...)
	controllertest.WaitFor(t, 60*time.Second, "ssh after the datapath was rebuilt", func() bool { _, err := ssh(); return err == nil })
	t.Logf("reachable again %.1fs after the agent started", time.Since(t0).Seconds())
	step("done")
}

// otherProjectCLI makes a project with a member user and returns the
// openstack CLI as that user.
func otherProjectCLI(t *testing.T, tc *controllertest.Cloud, name string) func(args ...string) []byte {
	t.Helper()
	admin := openstackCLI(t, tc, "admin", tc.AdminPass, "admin")
	admin("project", "create", "--domain", "default", name)
	admin("user", "create", "--domain", "default", "--project", name, "--password", "other-pass-1", name+"-user")
	admin("role", "add", "--project", name, "--user", name+"-user", "member")
	return openstackCLI(t, tc, name+"-user", "other-pass-1", name)
}
