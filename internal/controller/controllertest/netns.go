package controllertest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// NetworkHost is a simulated host's network: a namespace the test made,
// where an agent's datapath keeps its bridges, taps and filters, and a
// prefix every namespace of the test starts with (the DHCP and router
// namespaces the agent makes, the test's "VMs" and "outside"). Nothing
// of it is in the machine's own namespace; all of it goes when the test
// ends, pass or fail.
type NetworkHost struct {
	NS       string // the host's namespace
	Prefix   string // of every namespace the test and its agent make
	StateDir string // the agent's state directory (world-readable: dnsmasq reads its files as nobody)
}

// NeedNetwork skips a test that builds namespaces when it cannot.
func NeedNetwork(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, bridges, nftables)")
	}
	for _, tool := range []string{"ip", "bridge", "nft", "dnsmasq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed (scripts/deps.sh installs it)", tool)
			}
			t.Skipf("needs %s (scripts/deps.sh installs it)", tool)
		}
	}
}

// NewNetworkHost makes a host namespace for an agent's datapath.
func NewNetworkHost(t *testing.T) *NetworkHost {
	t.Helper()
	NeedNetwork(t)
	b := make([]byte, 3)
	rand.Read(b)
	prefix := "nbh" + hex.EncodeToString(b) + "-"
	dir, err := os.MkdirTemp("", "nimbus-nethost-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := &NetworkHost{NS: prefix + "host", Prefix: prefix, StateDir: dir}
	t.Cleanup(h.cleanup)
	h.Run(t, "", "ip", "netns", "add", h.NS)
	h.Run(t, h.NS, "ip", "link", "set", "lo", "up")
	return h
}

// Run runs a command in namespace ns ("" the test's own) and returns its
// output, failing the test when it fails.
func (h *NetworkHost) Run(t *testing.T, ns string, argv ...string) string {
	t.Helper()
	out, err := h.Try(ns, argv...)
	if err != nil {
		t.Fatalf("%s (in %q): %v: %s", strings.Join(argv, " "), ns, err, out)
	}
	return out
}

// Try runs a command in namespace ns and returns its output and error.
func (h *NetworkHost) Try(ns string, argv ...string) (string, error) {
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// Env is what an agent needs to run its datapath on this host.
func (h *NetworkHost) Env() []string {
	return []string{"NIMBUS_AGENT_DATAPATH=true", "NIMBUS_AGENT_NETNS=" + h.NS, "NIMBUS_AGENT_NETNS_PREFIX=" + h.Prefix}
}

// AgentDir is for an agent on this host whose state directory is dir
// rather than StateDir (a QEMU agent's, which QEMU must read): its DHCP
// servers are stopped when the test ends too.
func (h *NetworkHost) AgentDir(t *testing.T, dir string) {
	t.Cleanup(func() { stopDnsmasq(dir) })
}

// cleanup stops the dnsmasq processes under the state directory and
// deletes every namespace with the prefix.
func (h *NetworkHost) cleanup() {
	stopDnsmasq(h.StateDir)
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), h.Prefix) {
			exec.Command("ip", "netns", "delete", e.Name()).Run()
		}
	}
	os.RemoveAll(h.StateDir)
}

// stopDnsmasq stops the DHCP servers of an agent's state directory.
func stopDnsmasq(stateDir string) {
	pids, _ := filepath.Glob(filepath.Join(stateDir, "network", "dhcp", "*", "pid"))
	for _, p := range pids {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && bytes.Contains(cmd, []byte(p)) {
			syscall.Kill(pid, syscall.SIGTERM)
		}
	}
}
