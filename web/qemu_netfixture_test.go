package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// qemuNet is a cloud for real guests with networking, as the QEMU
// networking test and bench use it: an agent on qemu:///system whose
// datapath lives in a namespace of the test's (controllertest.NetworkHost),
// an "outside" namespace on the host's physical "public" network (a veth;
// its router is 172.24.4.1), the external network public on it, and the
// demo project's net1 (10.0.0.0/24) behind router r1, with key pair k1.
// Guests are reached from the outside namespace only.
type qemuNet struct {
	t           *testing.T
	nh          *controllertest.NetworkHost
	outside     string
	tc          *controllertest.Cloud
	dir         string // the agent's state directory
	admin, demo func(args ...string) []byte
	key         string // k1's private key
	agentEnv    []string
	stopAgent   func()
}

func newQEMUNet(t *testing.T) *qemuNet {
	img := needQEMU(t)
	for _, tool := range []string{"ssh", "ip", "nft", "dnsmasq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/deps.sh installs it)", tool)
		}
	}
	c := &qemuNet{t: t, nh: controllertest.NewNetworkHost(t)}
	nh := c.nh
	c.outside = nh.Prefix + "outside"
	nh.Run(t, "", "ip", "netns", "add", c.outside)
	nh.Run(t, nh.NS, "ip", "link", "add", "pub0", "type", "veth", "peer", "name", "eth0", "netns", c.outside)
	nh.Run(t, nh.NS, "ip", "link", "set", "pub0", "up")
	nh.Run(t, c.outside, "ip", "link", "set", "lo", "up")
	nh.Run(t, c.outside, "ip", "addr", "add", "172.24.4.1/24", "dev", "eth0")
	nh.Run(t, c.outside, "ip", "link", "set", "eth0", "up")

	c.tc = controllertest.New(t, nil)
	c.dir = stateDir(t)
	nh.AgentDir(t, c.dir)
	c.agentEnv = append(nh.Env(), "NIMBUS_AGENT_PHYSICAL_INTERFACES=public:pub0")
	c.stopAgent = startQEMUAgentEnv(t, c.tc, "qemu-net", c.dir, 1, c.agentEnv...)
	c.admin = openstackCLI(t, c.tc, "admin", c.tc.AdminPass, "admin")
	c.demo = openstackCLI(t, c.tc, "demo", c.tc.DemoPass, "demo")
	t.Cleanup(func() {
		all := virsh(t, "list", "--all", "--name")
		for _, name := range strings.Fields(all) {
			if strings.HasPrefix(name, "nimbus-") && c.owns(strings.TrimPrefix(name, "nimbus-")) {
				virsh(t, "destroy", name)
				virsh(t, "undefine", "--managed-save", name)
			}
		}
	})

	c.admin("image", "create", "--public", "--file", img, "--disk-format", "qcow2", "--container-format", "bare", "tiny")
	c.admin("network", "create", "--external", "--provider-network-type", "flat", "--provider-physical-network", "public", "public")
	c.admin("subnet", "create", "--network", "public", "--subnet-range", "172.24.4.0/24", "--gateway", "172.24.4.1",
		"--allocation-pool", "start=172.24.4.10,end=172.24.4.99", "--no-dhcp", "public-subnet")
	c.key = filepath.Join(t.TempDir(), "k1.pem")
	if err := os.WriteFile(c.key, c.demo("keypair", "create", "k1"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.demo("network", "create", "net1")
	c.demo("subnet", "create", "--network", "net1", "--subnet-range", "10.0.0.0/24", "sub1")
	c.demo("router", "create", "r1")
	c.demo("router", "set", "--external-gateway", "public", "r1")
	c.demo("router", "add", "subnet", "r1", "sub1")
	return c
}

// owns reports whether an instance is this cloud's (its directory is in
// the agent's state).
func (c *qemuNet) owns(id string) bool {
	_, err := os.Stat(filepath.Join(c.dir, "instances", id))
	return err == nil
}

// launch creates a server with the tiny image, key pair k1 and userData,
// waits until it is ACTIVE and returns its id and serial log.
func (c *qemuNet) launch(cli func(...string) []byte, name, nic, userData string) (string, guestLog) {
	c.t.Helper()
	ud := filepath.Join(c.t.TempDir(), name+".sh")
	if err := os.WriteFile(ud, []byte(userData), 0o644); err != nil {
		c.t.Fatal(err)
	}
	s := decodeJSON[map[string]any](c.t, cli("server", "create", "--flavor", "m1.tiny", "--image", "tiny", "--nic", nic,
		"--key-name", "k1", "--user-data", ud, "--wait", "-f", "json", name))
	if s["status"] != "ACTIVE" {
		c.t.Fatalf("server create %s: %v", name, s)
	}
	id := s["id"].(string)
	return id, guestLog{c.t, filepath.Join(c.dir, "instances", id, "console.log")}
}

// fixedIP is a server's first IPv4 address.
func (c *qemuNet) fixedIP(cli func(...string) []byte, name string) string {
	c.t.Helper()
	s := decodeJSON[map[string]any](c.t, cli("server", "show", "-f", "json", name))
	m := regexp.MustCompile(`([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)`).FindString(fmt.Sprint(s["addresses"]))
	if m == "" {
		c.t.Fatalf("%s has no address: %v", name, s["addresses"])
	}
	return m
}

// lease waits for the guest's DHCP lease and checks it is its port's address.
func (c *qemuNet) lease(g guestLog, name, want string) {
	c.t.Helper()
	controllertest.WaitFor(c.t, 180*time.Second, name+": a DHCP lease in the serial log", func() bool {
		return leaseRE.MatchString(g.read())
	})
	if m := leaseRE.FindStringSubmatch(g.read()); m[1] != want || m[2] != "24" {
		c.t.Errorf("%s leased %s/%s, its port has %s/24", name, m[1], m[2], want)
	}
}

// waitLine waits for a line in a guest's serial log.
func (c *qemuNet) waitLine(g guestLog, name, line string) {
	c.t.Helper()
	controllertest.WaitFor(c.t, 120*time.Second, name+": "+line, func() bool { return strings.Contains(g.read(), line) })
}

// ssh runs a command as root on the guest at addr, from the outside
// namespace, with k1's private key.
func (c *qemuNet) ssh(addr, command string) (string, error) {
	return c.nh.Try(c.outside, "ssh", "-i", c.key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=3", "-o", "BatchMode=yes", "root@"+addr, command)
}
