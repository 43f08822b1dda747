package datapath

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

const (
	dhcpNet    = "dddddddd-0000-4000-8000-00000000000d"
	dhcpSecret = "s3cret"
)

// dhcpDoc is one network with DHCP and metadata and a port per lease.
func dhcpDoc(leases ...netspec.Lease) netspec.Host {
	doc := netspec.Host{
		Networks: []netspec.Network{{ID: dhcpNet, Type: netspec.TypeLocal, MTU: 1500, DHCP: &netspec.DHCP{
			PortID: "dhcpport-0001", MAC: "fa:16:3e:00:0d:02", IPs: []string{"10.0.0.2/24"},
			Subnets: []netspec.Subnet{{ID: "sub", CIDR: "10.0.0.0/24", Gateway: "10.0.0.1", DNS: []string{"10.0.0.53"},
				Routes: []netspec.Route{{Destination: "192.168.0.0/16", NextHop: "10.0.0.254"}}}},
			Leases:   leases,
			Metadata: true,
		}}},
		Groups: []netspec.Group{egressAll("default")},
	}
	return doc
}

func dhcpPort(n int, ip string) netspec.Port {
	return netspec.Port{ID: fmt.Sprintf("port%04d-000", n), NetworkID: dhcpNet, Device: fmt.Sprintf("tapport%04d-00", n),
		MAC: fmt.Sprintf("fa:16:3e:00:00:%02x", n), IPs: []string{ip}, PortSecurity: true, Groups: []string{"default"}}
}

// udhcpc asks for a lease from vm and returns what the client was told
// (udhcpc's environment for its script), or nil if no lease came.
func udhcpc(t *testing.T, vm string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "lease")
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && env > "+out+"\nexit 0\n"), 0o755)
	_, err := run(t.Context(), vm, "busybox", "udhcpc", "-i", "eth0", "-f", "-n", "-q", "-t", "3", "-T", "1",
		"-O", "staticroutes", "-s", script)
	if err != nil {
		return nil
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// DHCP: each VM gets exactly its static lease, the router and the
// metadata route; a lease added later is served after re-Apply (dnsmasq
// reloaded, not restarted), a removed one is not. Metadata: a request
// from a leased address reaches the upstream signed; others get 404.
func TestDHCPAndMetadata(t *testing.T) {
	needNet(t)
	t.Parallel()
	var mu sync.Mutex
	var seen []*http.Request
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Clone(r.Context()))
		mu.Unlock()
		fmt.Fprint(w, "hello "+r.Header.Get("X-Instance-ID"))
	}))
	t.Cleanup(upstream.Close)

	p := newPrefix(t)
	h := newTestHost(t, p, "host", func(c *Config) {
		c.Metadata = &MetadataProxy{Upstream: upstream.URL + "/metadata", Secret: dhcpSecret}
	})
	vm1 := h.addVM("vm1", "tapport0001-00", "fa:16:3e:00:00:01", nil, "")
	vm2 := h.addVM("vm2", "tapport0002-00", "fa:16:3e:00:00:02", nil, "")
	// vm3 has a port and an address but no lease.
	vm3 := h.addVM("vm3", "tapport0003-00", "fa:16:3e:00:00:03", []string{"10.0.0.13/24"}, "")
	mustRun(t, vm3, "ip", "route", "add", metadataAddr, "via", "10.0.0.2")

	lease1 := netspec.Lease{MAC: "fa:16:3e:00:00:01", IP: "10.0.0.11", Hostname: "vm1", InstanceID: "inst-1"}
	lease2 := netspec.Lease{MAC: "fa:16:3e:00:00:02", IP: "10.0.0.12", Hostname: "vm2", InstanceID: "inst-2"}
	doc := dhcpDoc(lease1)
	doc.Ports = []netspec.Port{dhcpPort(1, "10.0.0.11"), dhcpPort(3, "10.0.0.13")}
	h.apply(doc)

	env := udhcpc(t, vm1)
	if env == nil {
		t.Fatalf("vm1: no lease\nlog:\n%s", h.logs.take())
	}
	for k, want := range map[string]string{
		"ip": "10.0.0.11", "router": "10.0.0.1", "dns": "10.0.0.53", "hostname": "vm1",
		"staticroutes": "169.254.169.254/32 10.0.0.2 192.168.0.0/16 10.0.0.254 0.0.0.0/0 10.0.0.1",
	} {
		if got := strings.TrimSpace(env[k]); got != want {
			t.Errorf("vm1 lease %s: got %q, want %q", k, got, want)
		}
	}
	pid := dnsmasqPid(h.dp.dhcpDir(dhcpNet))

	// vm2's port and lease come later.
	doc = dhcpDoc(lease1, lease2)
	doc.Ports = []netspec.Port{dhcpPort(1, "10.0.0.11"), dhcpPort(2, "10.0.0.12"), dhcpPort(3, "10.0.0.13")}
	h.apply(doc)
	if env := udhcpc(t, vm2); env["ip"] != "10.0.0.12" {
		t.Errorf("vm2 after its lease was added: got ip %q, want 10.0.0.12", env["ip"])
	}
	if got := dnsmasqPid(h.dp.dhcpDir(dhcpNet)); got != pid {
		t.Errorf("dnsmasq pid: got %d, want %d (reloaded, not restarted)", got, pid)
	}

	t.Run("metadata", func(t *testing.T) {
		mustRun(t, vm2, "ip", "addr", "add", "10.0.0.12/24", "dev", "eth0")
		mustRun(t, vm2, "ip", "route", "add", metadataAddr, "via", "10.0.0.2")
		code, body, err := getFrom(vm2, "http://169.254.169.254/openstack/latest/meta_data.json")
		if err != nil || code != 200 || body != "hello inst-2" {
			t.Fatalf("GET from vm2: got %d %q, %v; want 200 %q", code, body, err, "hello inst-2")
		}
		mu.Lock()
		r := seen[len(seen)-1]
		mu.Unlock()
		mac := hmac.New(sha256.New, []byte(dhcpSecret))
		mac.Write([]byte("inst-2"))
		for k, want := range map[string]string{
			"X-Instance-ID":           "inst-2",
			"X-Instance-ID-Signature": hex.EncodeToString(mac.Sum(nil)),
			"X-Forwarded-For":         "10.0.0.12",
			"X-Neutron-Network-ID":    dhcpNet,
		} {
			if got := r.Header.Get(k); got != want {
				t.Errorf("upstream header %s: got %q, want %q", k, got, want)
			}
		}
		if r.URL.Path != "/metadata/openstack/latest/meta_data.json" {
			t.Errorf("upstream path: got %q, want /metadata/openstack/latest/meta_data.json", r.URL.Path)
		}
		if code, _, err := getFrom(vm3, "http://169.254.169.254/latest/meta-data/"); code != 404 {
			t.Errorf("GET from vm3 (no lease): got %d, %v; want 404", code, err)
		}
	})

	// vm1's lease is removed (its port stays): no answer any more.
	doc = dhcpDoc(lease2)
	doc.Ports = []netspec.Port{dhcpPort(1, "10.0.0.11"), dhcpPort(2, "10.0.0.12"), dhcpPort(3, "10.0.0.13")}
	h.apply(doc)
	if env := udhcpc(t, vm1); env != nil {
		t.Errorf("vm1 after its lease was removed: got ip %q, want no lease", env["ip"])
	}
}
