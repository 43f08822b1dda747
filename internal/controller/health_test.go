package controller_test

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

func TestHealthzNeedsDatabaseRedisAndAgent(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_AGENT_LIVENESS": "2s"})
	health := func() (int, map[string]any) {
		r := tc.Do(t, "GET", "/healthz", "", nil)
		return r.Status, r.JSON(t)
	}
	status, body := health()
	checks := body["checks"].(map[string]any)
	if status != 503 || checks["agents"].(map[string]any)["ok"] != false || checks["database"].(map[string]any)["ok"] != true {
		t.Fatalf("without an agent: got %d %v, want 503 naming the agents", status, body)
	}
	agent := exec.Command(controllertest.AgentBinary(t), "--libvirt-uri", "test:///default", "--heartbeat", "300ms", "--host", "sim-1")
	agent.Env = append(os.Environ(), "NIMBUS_REDIS_URL="+tc.Env["NIMBUS_REDIS_URL"], "NIMBUS_REDIS_PREFIX="+tc.Config.RedisPrefix)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	controllertest.WaitFor(t, 10*time.Second, "healthz 200 with a live agent", func() bool { s, _ := health(); return s == 200 })
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
	controllertest.WaitFor(t, 10*time.Second, "healthz 503 after the agent stopped", func() bool { s, _ := health(); return s == 503 })
}

// TestHostLivenessIgnoresAgentClock: an agent whose clock runs a day
// ahead reports once and falls silent; the controller, measuring the
// heartbeat's age on Redis's clock and placing it on its own, counts the
// host down after the liveness window, in /healthz and for scheduling.
// The agent's timestamp used to be stored and compared as it came.
func TestHostLivenessIgnoresAgentClock(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_AGENT_LIVENESS": "2s"})
	ctx := context.Background()
	if err := queue.Heartbeat(ctx, tc.Server.RDB(), tc.Config.RedisPrefix, queue.AgentInfo{Host: "skewed", AZ: "nova",
		Hypervisor: "Test", VCPUs: 4, MemoryMB: 4096, DiskGB: 10, SeenAt: time.Now().Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if s := tc.Do(t, "GET", "/healthz", "", nil).Status; s != 200 {
		t.Fatalf("healthz right after the heartbeat: %d, want 200", s)
	}
	tc.WaitHosts(t, 1) // recorded
	controllertest.WaitFor(t, 10*time.Second, "the silent host to be down", func() bool {
		var up bool
		tc.Server.Pool().QueryRow(ctx, `SELECT last_seen > now() - interval '2 seconds' FROM compute_hosts WHERE host = 'skewed'`).Scan(&up)
		return !up && tc.Do(t, "GET", "/healthz", "", nil).Status == 503
	})
	var lastSeen time.Time
	tc.Server.Pool().QueryRow(ctx, `SELECT last_seen FROM compute_hosts WHERE host = 'skewed'`).Scan(&lastSeen)
	if lastSeen.After(time.Now()) {
		t.Fatalf("last_seen %v is in the future: the agent's clock was stored", lastSeen)
	}
}
