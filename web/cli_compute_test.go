package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestOpenStackCLIServers drives the compute API with the real openstack
// CLI against agents on libvirt's test driver.
func TestOpenStackCLIServers(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "cli-host-1")
	tc.StartAgent(t, "cli-host-2")
	tc.WaitHosts(t, 2)
	admin := openstackCLI(t, tc, "admin", tc.AdminPass, "admin")
	admin("image", "create", "--public", "--file", "cli_test.go", "--disk-format", "raw", "--container-format", "bare", "tiny")
	demo := openstackCLI(t, tc, "demo", tc.DemoPass, "demo")
	demo("keypair", "create", "--private-key", t.TempDir()+"/k.pem", "k")

	s := decodeJSON[map[string]any](t, demo("server", "create", "--flavor", "m1.tiny", "--image", "tiny", "--key-name", "k",
		"--wait", "-f", "json", "vm1"))
	if s["status"] != "ACTIVE" || s["key_name"] != "k" {
		t.Fatalf("server create --wait: %v", s)
	}
	list := decodeJSON[[]map[string]any](t, demo("server", "list", "-f", "json"))
	if len(list) != 1 || list[0]["Name"] != "vm1" || list[0]["Status"] != "ACTIVE" {
		t.Errorf("server list: %v", list)
	}
	status := func() string {
		return strings.TrimSpace(string(demo("server", "show", "-f", "value", "-c", "status", "vm1")))
	}
	waitStatus := func(want string) {
		t.Helper()
		controllertest.WaitFor(t, 20*time.Second, "vm1 "+want, func() bool { return status() == want })
	}
	demo("server", "stop", "vm1")
	waitStatus("SHUTOFF")
	demo("server", "start", "vm1")
	waitStatus("ACTIVE")
	demo("server", "reboot", "--hard", "--wait", "vm1")
	demo("server", "reboot", "--soft", "--wait", "vm1")
	if got := status(); got != "ACTIVE" {
		t.Errorf("after reboots: %s", got)
	}
	events := decodeJSON[[]map[string]any](t, demo("server", "event", "list", "-f", "json", "vm1"))
	if len(events) != 5 {
		t.Errorf("server event list: %d events, want 5 (create, stop, start, 2 reboots): %v", len(events), events)
	}
	lim := string(demo("limits", "show", "--absolute", "-f", "value"))
	if !strings.Contains(lim, "totalInstancesUsed 1") || !strings.Contains(lim, "maxTotalInstances 10") {
		t.Errorf("limits show --absolute:\n%s", lim)
	}
	admin("quota", "set", "--instances", "5", "--cores", "8", "demo")
	q := decodeJSON[map[string]any](t, admin("quota", "show", "-f", "json", "demo"))
	if q["instances"] != 5.0 || q["cores"] != 8.0 {
		t.Errorf("quota show after set: %v", q)
	}
	hv := decodeJSON[[]map[string]any](t, admin("hypervisor", "list", "-f", "json"))
	if len(hv) != 2 {
		t.Errorf("hypervisor list: %v", hv)
	}
	svcs := decodeJSON[[]map[string]any](t, admin("compute", "service", "list", "-f", "json"))
	if len(svcs) != 2 || svcs[0]["State"] != "up" || svcs[0]["Binary"] != "nova-compute" {
		t.Errorf("compute service list: %v", svcs)
	}
	admin("compute", "service", "set", "--disable", "--disable-reason", "maintenance", "cli-host-1", "nova-compute")
	svcs = decodeJSON[[]map[string]any](t, admin("compute", "service", "list", "--long", "-f", "json"))
	disabled := 0
	for _, sv := range svcs {
		if sv["Status"] == "disabled" && sv["Disabled Reason"] == "maintenance" {
			disabled++
		}
	}
	if disabled != 1 {
		t.Errorf("compute service set --disable: %v", svcs)
	}
	demo("server", "delete", "--wait", "vm1")
	if out := string(demo("server", "list", "-f", "value")); strings.TrimSpace(out) != "" {
		t.Errorf("server list after delete: %q", out)
	}
	// os-simple-tenant-usage: the deleted vm1 ran in the last four weeks
	// (the CLI's default period), a flavor of 1 vCPU for some seconds.
	usage := decodeJSON[[]map[string]any](t, admin("usage", "list", "-f", "json"))
	if servers, _ := usage[0]["Servers"].([]any); len(usage) != 1 || len(servers) != 1 || usage[0]["CPU Hours"].(float64) <= 0 {
		t.Errorf("usage list: %v", usage)
	}
	own := decodeJSON[map[string]any](t, demo("usage", "show", "-f", "json"))
	if servers, _ := own["Servers"].([]any); len(servers) != 1 || servers[0].(map[string]any)["name"] != "vm1" {
		t.Errorf("usage show: %v", own)
	}
}

func TestOpenStackCLIFlavorsAndKeyPairs(t *testing.T) {
	tc := controllertest.New(t, nil)
	osc := openstackCLI(t, tc, "admin", tc.AdminPass, "admin")
	fl := decodeJSON[[]map[string]any](t, osc("flavor", "list", "-f", "json"))
	if len(fl) != 5 {
		t.Errorf("flavor list: %v", fl)
	}
	f := decodeJSON[map[string]any](t, osc("flavor", "create", "--ram", "256", "--vcpus", "1", "--disk", "1", "--property", "hw:cpu_policy=shared", "-f", "json", "cli.small"))
	if f["name"] != "cli.small" || f["ram"] != 256.0 {
		t.Errorf("flavor create: %v", f)
	}
	kp := string(osc("keypair", "create", "cli-key"))
	if !strings.Contains(kp, "OPENSSH PRIVATE KEY") {
		t.Errorf("keypair create did not print the private key: %s", kp)
	}
	ks := decodeJSON[[]map[string]any](t, osc("keypair", "list", "-f", "json"))
	if len(ks) != 1 || ks[0]["Name"] != "cli-key" {
		t.Errorf("keypair list: %v", ks)
	}
	img := decodeJSON[map[string]any](t, osc("image", "create", "--file", "cli_test.go", "--disk-format", "raw", "--container-format", "bare", "-f", "json", "cli-image"))
	if img["name"] != "cli-image" {
		t.Errorf("image create: %v", img)
	}
	shown := decodeJSON[map[string]any](t, osc("image", "show", "-f", "json", "cli-image"))
	if shown["status"] != "active" || shown["checksum"] == nil {
		t.Errorf("image show after upload: %v", shown)
	}
	out := t.TempDir() + "/saved"
	osc("image", "save", "--file", out, "cli-image")
	want, _ := os.ReadFile("cli_test.go")
	if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
		t.Errorf("image save: %d bytes back, want the %d uploaded", len(got), len(want))
	}
	osc("image", "delete", "cli-image")
	osc("keypair", "delete", "cli-key")
	osc("flavor", "delete", "cli.small")
}

// TestOpenStackCLIAdminDeleteWait: `openstack server delete --wait` as an
// admin returns once the server is gone (it polled until its timeout
// while admins saw deleted servers as DELETED).
func TestOpenStackCLIAdminDeleteWait(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "compat-3")
	tc.WaitHosts(t, 1)
	admin := openstackCLI(t, tc, "admin", tc.AdminPass, "admin")
	admin("image", "create", "--public", "--file", "cli_compute_test.go", "--disk-format", "raw", "--container-format", "bare", "tiny")
	admin("server", "create", "--flavor", "m1.tiny", "--image", "tiny", "--wait", "vm-admin")
	start := time.Now()
	admin("server", "delete", "--wait", "vm-admin")
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("server delete --wait as admin took %s", d)
	}
}
