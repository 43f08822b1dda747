package datapath

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// These tests build whole simulated hosts out of network namespaces. They
// never touch the machine's own namespace: the datapath's "host" is a
// namespace the test makes (Config.HostNetns), "VMs" and the "outside"
// are further namespaces joined to it by veth pairs, and every packet is
// sent from inside one of them.

// needNet skips unless the test can build namespaces.
func needNet(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, bridges, nftables)")
	}
	for _, tool := range []string{"ip", "bridge", "nft", "dnsmasq", "busybox", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (scripts/deps.sh installs it): %v", tool, err)
		}
	}
}

// logBuffer is an io.Writer safe for the logger's and the test's use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// take returns what was logged since the last take.
func (l *logBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// testHost is one simulated hypervisor host.
type testHost struct {
	t      *testing.T
	prefix string // every namespace of the test starts with it
	ns     string // the host's namespace
	dp     *Datapath
	logs   *logBuffer
	gen    int64
}

func newPrefix(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "nbt" + hex.EncodeToString(b) + "-"
}

// newTestHost makes a host namespace and a Datapath for it. Everything
// with the prefix is removed when the test ends, pass or fail.
func newTestHost(t *testing.T, prefix, name string, edit func(*Config)) *testHost {
	t.Helper()
	h := &testHost{t: t, prefix: prefix, ns: prefix + name, logs: &logBuffer{}}
	stateDir, err := os.MkdirTemp("", "nbtest-")
	if err != nil {
		t.Fatal(err)
	}
	// dnsmasq rereads its files as nobody.
	if err := os.Chmod(stateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupPrefix(t, prefix, stateDir) })
	mustRun(t, "", "ip", "netns", "add", h.ns)
	mustRun(t, h.ns, "ip", "link", "set", "lo", "up")
	cfg := Config{
		StateDir:   stateDir,
		HostNetns:  h.ns,
		NamePrefix: prefix + name + "-",
		Log:        slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if edit != nil {
		edit(&cfg)
	}
	h.dp, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.dp.Close()
		if t.Failed() {
			t.Logf("datapath log of %s:\n%s", h.ns, h.logs.take())
		}
	})
	return h
}

// cleanupPrefix stops every dnsmasq of the state dir and deletes every
// namespace with the prefix.
func cleanupPrefix(t *testing.T, prefix, stateDir string) {
	dirs, _ := filepath.Glob(filepath.Join(stateDir, "dhcp", "*"))
	for _, d := range dirs {
		if pid := dnsmasqPid(d); pid != 0 {
			stopProcess(pid)
		}
	}
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			if out, err := exec.Command("ip", "netns", "delete", e.Name()).CombinedOutput(); err != nil {
				t.Logf("cleanup: ip netns delete %s: %v: %s", e.Name(), err, out)
			}
		}
	}
	os.RemoveAll(stateDir)
}

// apply applies doc with the next generation and fails the test on error.
func (h *testHost) apply(doc netspec.Host) { h.t.Helper(); h.applyWith(h.dp.Apply, doc) }

// applyQuick is apply through ApplyQuick (the agent's path for a new
// document: what it loaded last is trusted).
func (h *testHost) applyQuick(doc netspec.Host) { h.t.Helper(); h.applyWith(h.dp.ApplyQuick, doc) }

func (h *testHost) applyWith(apply func(context.Context, netspec.Host) error, doc netspec.Host) {
	h.t.Helper()
	h.gen++
	doc.Generation = h.gen
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := apply(ctx, doc); err != nil {
		h.t.Fatalf("apply generation %d: %v\nlog:\n%s", h.gen, err, h.logs.take())
	}
}

// addVM makes a "VM": a namespace whose eth0 (with mac and addrs) is the
// peer of device in the host's namespace, as a guest's NIC is of its tap.
func (h *testHost) addVM(name, device, mac string, addrs []string, gateway string) string {
	h.t.Helper()
	vm := h.prefix + name
	mustRun(h.t, "", "ip", "netns", "add", vm)
	mustRun(h.t, vm, "ip", "link", "set", "lo", "up")
	mustRun(h.t, h.ns, "ip", "link", "add", device, "type", "veth", "peer", "name", "eth0", "netns", vm)
	mustRun(h.t, vm, "ip", "link", "set", "eth0", "address", mac, "up")
	for _, a := range addrs {
		mustRun(h.t, vm, "ip", "addr", "add", a, "dev", "eth0")
	}
	if gateway != "" {
		mustRun(h.t, vm, "ip", "route", "add", "default", "via", gateway)
	}
	return vm
}

func mustRun(t *testing.T, ns string, argv ...string) string {
	t.Helper()
	out, err := run(context.Background(), ns, argv...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ping reports whether one echo from ns to addr is answered in time.
func ping(ns, addr string, wait string, extra ...string) bool {
	args := append([]string{"ping", "-n", "-c1", "-W" + wait}, extra...)
	_, err := run(context.Background(), ns, append(args, addr)...)
	return err == nil
}

// wantPing fails unless ns reaches addr (three tries, for ARP and
// bridge learning on a loaded machine).
func wantPing(t *testing.T, ns, addr string, extra ...string) {
	t.Helper()
	for i := 0; i < 3; i++ {
		if ping(ns, addr, "2", extra...) {
			return
		}
	}
	t.Errorf("ping %s from %s: got no answer, want one", addr, ns)
}

// wantNoPing fails if ns reaches addr.
func wantNoPing(t *testing.T, ns, addr string, extra ...string) {
	t.Helper()
	if ping(ns, addr, "1", extra...) {
		t.Errorf("ping %s from %s: got an answer, want none", addr, ns)
	}
}

// listen opens a TCP listener inside ns; each connection is answered
// with the source address it came from, then closed.
func listen(t *testing.T, ns, addr string) {
	t.Helper()
	var ln net.Listener
	err := inNetns(ns, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintln(c, host)
			c.Close()
		}
	}()
}

// dialFrom connects from inside ns and returns the source address the
// listener saw ("" and the error if no connection).
func dialFrom(ns, addr string) (string, error) {
	var c net.Conn
	err := inNetns(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	var b [64]byte
	n, err := c.Read(b[:])
	if n == 0 {
		return "", fmt.Errorf("read from %s: %v", addr, err)
	}
	return strings.TrimSpace(string(b[:n])), nil
}

func intp(i int) *int { return &i }

// defaultGroup is Neutron's default group's egress half (all egress).
func egressAll(id string) netspec.Group {
	return netspec.Group{ID: id, Rules: []netspec.Rule{
		{Direction: "egress", Ethertype: "IPv4"},
		{Direction: "egress", Ethertype: "IPv6"},
	}}
}

// getFrom makes an HTTP GET from inside ns (busybox wget -T crashes on
// this machine's busybox 1.35).
func getFrom(ns, url string) (int, string, error) {
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := inNetns(ns, func() (err error) {
				c, err = (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}},
	}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
