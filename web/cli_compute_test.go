package main

import (
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
}
