package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// agentBinary returns nimbus-agent, built by make (NIMBUS_TEST_BIN_DIR) or
// here when the test runs alone.
func agentBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("NIMBUS_TEST_BIN_DIR"); dir != "" {
		if p := filepath.Join(dir, "nimbus-agent"); fileExists(p) {
			return p
		}
	}
	out := filepath.Join(t.TempDir(), "nimbus-agent")
	cmd := exec.Command("go", "build", "-o", out, "../compute-agent")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build nimbus-agent: %v\n%s", err, b)
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestHealthzNeedsDatabaseRedisAndAgent(t *testing.T) {
	tc := newTestCloud(t, map[string]string{"NIMBUS_AGENT_LIVENESS": "2s"})
	health := func() (int, map[string]any) {
		r := tc.do(t, "GET", "/healthz", "", nil)
		return r.Status, r.JSON(t)
	}
	status, body := health()
	checks := body["checks"].(map[string]any)
	if status != 503 || checks["agents"].(map[string]any)["ok"] != false || checks["database"].(map[string]any)["ok"] != true {
		t.Fatalf("without an agent: got %d %v, want 503 naming the agents", status, body)
	}
	agent := exec.Command(agentBinary(t), "--libvirt-uri", "test:///default", "--heartbeat", "300ms", "--host", "sim-1")
	agent.Env = append(os.Environ(), "NIMBUS_REDIS_URL="+tc.env["NIMBUS_REDIS_URL"], "NIMBUS_REDIS_PREFIX="+tc.cfg.RedisPrefix)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	waitFor(t, 10*time.Second, "healthz 200 with a live agent", func() bool { s, _ := health(); return s == 200 })
	_, body = health()
	if live := body["checks"].(map[string]any)["agents"].(map[string]any)["live"]; live != 1.0 {
		t.Errorf("live agents: got %v, want 1", live)
	}
	// The agent stops cleanly on SIGTERM; silent past the liveness window,
	// the cloud is unhealthy again.
	agent.Process.Signal(syscall.SIGTERM)
	if err := agent.Wait(); err != nil {
		t.Errorf("agent exit after SIGTERM: %v", err)
	}
	waitFor(t, 10*time.Second, "healthz 503 after the agent stopped", func() bool { s, _ := health(); return s == 503 })
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHostLivenessIgnoresAgentClock: an agent whose clock runs a day
// ahead reports once and falls silent; the controller, measuring the
// heartbeat's age on Redis's clock and placing it on its own, counts the
// host down after the liveness window, in /healthz and for scheduling.
// The agent's timestamp used to be stored and compared as it came.
func TestHostLivenessIgnoresAgentClock(t *testing.T) {
	tc := newTestCloud(t, map[string]string{"NIMBUS_AGENT_LIVENESS": "2s"})
	ctx := context.Background()
	if err := queue.Heartbeat(ctx, tc.srv.rdb, tc.cfg.RedisPrefix, queue.AgentInfo{Host: "skewed", AZ: "nova",
		Hypervisor: "Test", VCPUs: 4, MemoryMB: 4096, DiskGB: 10, SeenAt: time.Now().Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if s := tc.do(t, "GET", "/healthz", "", nil).Status; s != 200 {
		t.Fatalf("healthz right after the heartbeat: %d, want 200", s)
	}
	tc.waitHosts(t, 1) // recorded
	waitFor(t, 10*time.Second, "the silent host to be down", func() bool {
		var up bool
		tc.srv.pool.QueryRow(ctx, `SELECT last_seen > now() - interval '2 seconds' FROM compute_hosts WHERE host = 'skewed'`).Scan(&up)
		return !up && tc.do(t, "GET", "/healthz", "", nil).Status == 503
	})
	var lastSeen time.Time
	tc.srv.pool.QueryRow(ctx, `SELECT last_seen FROM compute_hosts WHERE host = 'skewed'`).Scan(&lastSeen)
	if lastSeen.After(time.Now()) {
		t.Fatalf("last_seen %v is in the future: the agent's clock was stored", lastSeen)
	}
}
