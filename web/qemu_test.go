package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// needQEMU skips (or under CI fails) when libvirt's QEMU driver or the
// test image is not available. `make test` provides both.
func needQEMU(t *testing.T) string {
	t.Helper()
	img := os.Getenv("NIMBUS_TEST_IMAGE")
	fail := t.Skip
	if os.Getenv("CI") == "true" {
		fail = t.Fatal
	}
	if img == "" {
		fail("NIMBUS_TEST_IMAGE is not set: run `make test`, which builds the tiny image")
	}
	// Bounded: a stuck libvirt fails the test with its reason instead of
	// hanging the suite (scripts/libvirt.sh kills a hung QEMU probe).
	vctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(vctx, "virsh", "-c", "qemu:///system", "version").CombinedOutput(); err != nil {
		fail("libvirt's QEMU driver is not reachable: " + string(out))
	}
	return img
}

// stateDir is an agent state directory QEMU (user libvirt-qemu) can read:
// t.TempDir() is private to root.
func stateDir(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	dir := filepath.Join("/var/lib/nimbus-test", hex.EncodeToString(b))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod("/var/lib/nimbus-test", 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startQEMUAgent runs a nimbus-agent on qemu:///system with its state in
// dir and waits until the controller sees its host. The first libvirt
// capability probe on a machine takes tens of seconds.
func startQEMUAgent(t *testing.T, tc *controllertest.Cloud, host, dir string) {
	t.Helper()
	startQEMUAgentOf(t, tc, host, dir, 1)
}

// startQEMUAgentOf starts one more agent on the same libvirtd (hosts in
// all, once it is up): a second simulated host.
func startQEMUAgentOf(t *testing.T, tc *controllertest.Cloud, host, dir string, hosts int) {
	t.Helper()
	startQEMUAgentEnv(t, tc, host, dir, hosts)
}

// startQEMUAgentEnv is startQEMUAgentOf with more settings (env), and
// returns a function that stops the agent (it is stopped when the test
// ends anyway). Without settings saying otherwise the agent runs no
// datapath: tests never change the machine's own namespace.
func startQEMUAgentEnv(t *testing.T, tc *controllertest.Cloud, host, dir string, hosts int, env ...string) func() {
	t.Helper()
	cmd := exec.Command(controllertest.AgentBinary(t), "--libvirt-uri", "qemu:///system", "--host", host,
		"--heartbeat", "500ms", "--power-sync", "2s", "--state-dir", dir)
	cmd.Env = append(os.Environ(), "NIMBUS_REDIS_URL="+tc.Env["NIMBUS_REDIS_URL"], "NIMBUS_REDIS_PREFIX="+tc.Config.RedisPrefix,
		"NIMBUS_LOG_LEVEL=info", "NIMBUS_AGENT_DATAPATH=false", "NIMBUS_AGENT_STATS_INTERVAL=2s")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }) }
	t.Cleanup(stop)
	tc.WaitHostsFor(t, hosts, 120*time.Second)
	return stop
}

func virsh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("virsh", append([]string{"-c", "qemu:///system"}, args...)...).CombinedOutput()
	if err != nil {
		t.Logf("virsh %v: %v: %s", args, err, out)
	}
	return string(out)
}

// TestQEMUEndToEnd boots the tiny image on real QEMU through the whole
// path: openstack CLI -> API -> outbox -> scheduler -> agent -> libvirt,
// and back through events.
func TestQEMUEndToEnd(t *testing.T) {
	img := needQEMU(t)
	tc := controllertest.New(t, nil)
	// A state directory that does not exist yet: the agent makes it before
	// measuring its disk (a missing one once reported 0 GB).
	dir := filepath.Join(stateDir(t), "agent")
	startQEMUAgent(t, tc, "qemu-e2e", dir)
	admin := openstackCLI(t, tc, "admin", tc.AdminPass, "admin")
	admin("image", "create", "--public", "--file", img, "--disk-format", "qcow2", "--container-format", "bare", "tiny")
	demo := openstackCLI(t, tc, "demo", tc.DemoPass, "demo")
	s := decodeJSON[map[string]any](t, demo("server", "create", "--flavor", "m1.tiny", "--image", "tiny", "--wait", "-f", "json", "vm1"))
	id, _ := s["id"].(string)
	t.Cleanup(func() { // never leave a domain behind, whatever failed
		virsh(t, "destroy", "nimbus-"+id)
		virsh(t, "undefine", "nimbus-"+id)
	})
	if s["status"] != "ACTIVE" || (s["OS-EXT-STS:power_state"] != "Running" && s["OS-EXT-STS:power_state"] != 1.0) {
		t.Fatalf("server create --wait: %v", s)
	}
	if list := virsh(t, "list", "--name"); !strings.Contains(list, "nimbus-"+id) {
		t.Fatalf("virsh list does not show the domain:\n%s", list)
	}
	// The guest really boots: its banner reaches the serial log.
	logPath := filepath.Join(dir, "instances", id, "console.log")
	controllertest.WaitFor(t, 180*time.Second, "the guest's banner on the serial console", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "Nimbus tiny image")
	})
	// What the guest used, as libvirt counted it, through os-diagnostics
	// (openstack server show --diagnostics, admins): it read its disk to
	// boot, and ran.
	adminTok := tc.AdminToken(t)
	controllertest.WaitFor(t, 30*time.Second, "the host's first sample of the guest", func() bool {
		return tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/diagnostics", adminTok, nil).Status == 200
	})
	diag := decodeJSON[map[string]any](t, admin("server", "show", "--diagnostics", "-f", "json", id))
	if cpu, _ := diag["cpu0_time"].(float64); cpu <= 0 {
		t.Errorf("diagnostics: no CPU time: %v", diag)
	}
	if read, _ := diag["vda_read"].(float64); read <= 0 {
		t.Errorf("diagnostics: no reads from the root disk: %v", diag)
	}
	// The serial log through the API and the CLI.
	if out := string(demo("console", "log", "show", "vm1")); !strings.Contains(out, "Nimbus tiny image") {
		t.Errorf("openstack console log show: no banner in %d bytes", len(out))
	}
	if out := strings.TrimSpace(string(demo("console", "log", "show", "--lines", "3", "vm1"))); strings.Count(out, "\n") > 2 {
		t.Errorf("openstack console log show --lines 3: %d lines", strings.Count(out, "\n")+1)
	}
	// The console URL opens the real VNC server through the proxy.
	consoleOf := func() *websocket.Conn {
		cu := decodeJSON[map[string]any](t, demo("console", "url", "show", "-f", "json", "vm1"))
		u, _ := cu["url"].(string)
		if cu["type"] != "novnc" || !strings.HasPrefix(u, tc.ConsoleURL+"/vnc_lite.html?path=") {
			t.Fatalf("openstack console url show: %v", cu)
		}
		ws, _, err := tc.DialConsole(controllertest.TokenOf(t, u), tc.URL)
		if err != nil {
			t.Fatalf("console websocket: %v", err)
		}
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, m, err := ws.ReadMessage(); err != nil || string(m) != testenv.RFBBanner {
			t.Fatalf("QEMU's VNC banner through the proxy: %q %v", m, err)
		}
		return ws
	}
	ws := consoleOf()
	ws.Close()
	status := func() string {
		return strings.TrimSpace(string(demo("server", "show", "-f", "value", "-c", "status", "vm1")))
	}
	demo("server", "stop", "vm1")
	controllertest.WaitFor(t, 90*time.Second, "SHUTOFF", func() bool { return status() == "SHUTOFF" })
	if st := virsh(t, "domstate", "nimbus-"+id); !strings.Contains(st, "shut off") {
		t.Errorf("domstate after stop: %s", st)
	}
	demo("server", "start", "vm1")
	controllertest.WaitFor(t, 60*time.Second, "ACTIVE", func() bool { return status() == "ACTIVE" })
	// Powered off behind Nimbus's back (as a guest's own shutdown would):
	// the agent's power sync turns the instance SHUTOFF.
	// Its open console closes (QEMU's VNC server goes away), and a console
	// URL handed out before is refused: power sync revoked its token (an
	// unrevoked one would reach the dead VNC port and get 502, not 403).
	offConsole := consoleOf()
	defer offConsole.Close()
	unused := decodeJSON[map[string]any](t, demo("console", "url", "show", "-f", "json", "vm1"))["url"].(string)
	virsh(t, "destroy", "nimbus-"+id)
	controllertest.WaitFor(t, 60*time.Second, "SHUTOFF after a power-off outside Nimbus", func() bool { return status() == "SHUTOFF" })
	offConsole.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := offConsole.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Errorf("console of a domain powered off outside Nimbus: %v, want closed by the proxy", err)
			}
			break
		}
	}
	controllertest.WaitFor(t, 10*time.Second, "the earlier console URL refused after the power-off", func() bool {
		_, resp, err := tc.DialConsole(controllertest.TokenOf(t, unused), tc.URL)
		return err != nil && resp != nil && resp.StatusCode == 403
	})
	demo("server", "start", "vm1")
	controllertest.WaitFor(t, 60*time.Second, "ACTIVE", func() bool { return status() == "ACTIVE" })
	demo("server", "reboot", "--hard", "--wait", "vm1")
	demo("server", "reboot", "--soft", "--wait", "vm1")
	if got := status(); got != "ACTIVE" {
		t.Errorf("after reboots: %s", got)
	}
	// Deleting the instance closes its open console within seconds.
	ws = consoleOf()
	defer ws.Close()
	demo("server", "delete", "--wait", "vm1")
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("open console after delete: %v, want closed by the proxy", err)
	}
	if all := virsh(t, "list", "--all", "--name"); strings.Contains(all, "nimbus-"+id) {
		t.Errorf("domain still defined after delete:\n%s", all)
	}
	if _, err := os.Stat(filepath.Join(dir, "instances", id)); !os.IsNotExist(err) {
		t.Errorf("instance disks left after delete: %v", err)
	}
}
