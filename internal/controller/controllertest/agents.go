package controllertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Agent is a nimbus-agent process: on libvirt's test driver, its own
// simulated host, as every process opening test:///default gets.
type Agent struct {
	Cmd  *exec.Cmd
	Host string
	Dir  string // its state directory
}

// AgentBinary returns nimbus-agent, built by make (NIMBUS_TEST_BIN_DIR) or
// here when the test runs alone.
func AgentBinary(t *testing.T) string {
	t.Helper()
	return Binary(t, "nimbus-agent", "github.com/nimbus-cloud/nimbus/compute-agent")
}

// Binary returns the program name from $NIMBUS_TEST_BIN_DIR (make test
// and make bench set it after make build), else one built from package
// pkg of this checkout for the test.
func Binary(t *testing.T, name, pkg string) string {
	t.Helper()
	if dir := os.Getenv("NIMBUS_TEST_BIN_DIR"); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		t.Logf("%s is missing; building %s for the test", p, name)
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	return out
}

// StartAgent starts an agent for host on libvirt's test driver; it is
// stopped when the test ends.
func (tc *Cloud) StartAgent(t *testing.T, host string) *Agent {
	t.Helper()
	return tc.StartAgentOn(t, host, "test:///default", t.TempDir())
}

// StartAgentOn starts an agent on libvirt at uri with state directory
// dir; env adds settings (NIMBUS_FAILPOINTS, say).
func (tc *Cloud) StartAgentOn(t *testing.T, host, uri, dir string, env ...string) *Agent {
	t.Helper()
	cmd := exec.Command(AgentBinary(t), "--libvirt-uri", uri, "--host", host,
		"--heartbeat", "200ms", "--power-sync", "1s", "--state-dir", dir)
	cmd.Env = append(os.Environ(), "NIMBUS_REDIS_URL="+tc.Env["NIMBUS_REDIS_URL"],
		"NIMBUS_REDIS_PREFIX="+tc.Config.RedisPrefix, "NIMBUS_CLAIM_IDLE=2s", "NIMBUS_LOG_LEVEL=warn",
		// No datapath unless a test asks (with a namespace of its own):
		// tests never change the machine's own namespace.
		"NIMBUS_AGENT_DATAPATH=false")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &Agent{Cmd: cmd, Host: host, Dir: dir}
	t.Cleanup(a.Stop)
	return a
}

// Stop ends the agent with SIGTERM (a clean stop) and waits for it.
func (a *Agent) Stop() {
	if a.Cmd.ProcessState == nil {
		a.Cmd.Process.Signal(syscall.SIGTERM)
		a.Cmd.Wait()
	}
}

// Kill ends the agent with SIGKILL, as a crash would.
func (a *Agent) Kill() {
	a.Cmd.Process.Kill()
	a.Cmd.Wait()
}

// WaitHosts waits until n hosts are recorded as up.
func (tc *Cloud) WaitHosts(t *testing.T, n int) {
	t.Helper()
	tc.WaitHostsFor(t, n, 15*time.Second)
}

// WaitHostsFor is WaitHosts with a deadline: a QEMU agent's first
// libvirt capabilities probe takes tens of seconds on these machines.
func (tc *Cloud) WaitHostsFor(t *testing.T, n int, d time.Duration) {
	t.Helper()
	WaitFor(t, d, fmt.Sprintf("%d live hosts", n), func() bool {
		var c int
		tc.Server.Pool().QueryRow(context.Background(), `SELECT count(*) FROM compute_hosts WHERE last_seen > now() - interval '10 seconds'`).Scan(&c)
		return c >= n
	})
}
