package controller_test

import (
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestMetrics: /metrics answers Prometheus's text to loopback and the
// configured addresses without a token, 403 to others (here: addresses
// named by a trusted proxy), and reports the request latencies by route,
// instances by state, each host's capacity and claims, the queues and the
// live agents.
func TestMetrics(t *testing.T) {
	tc := controllertest.New(t, map[string]string{
		"NIMBUS_TRUSTED_PROXIES": "127.0.0.1",
		"NIMBUS_METRICS_ALLOW":   "198.51.100.0/24",
	})
	tc.StartAgent(t, "m1")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	id := tc.ActiveServer(t, demo, "counted", tc.ActiveImage(t))
	tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil)
	tc.Do(t, "GET", "/compute/v2.1/servers/no-such-server", demo, nil)

	for from, want := range map[string]int{"": 200, "198.51.100.9": 200, "203.0.113.7": 403} {
		var hdr []string
		if from != "" {
			hdr = []string{"X-Forwarded-For", from}
		}
		if got := tc.Do(t, "GET", "/metrics", "", nil, hdr...).Status; got != want {
			t.Errorf("/metrics from %q: %d, want %d", from, got, want)
		}
	}
	m := tc.Do(t, "GET", "/metrics", "", nil)
	if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	body := string(m.Body)
	for _, want := range []string{
		`# TYPE nimbus_http_request_duration_seconds histogram`,
		`nimbus_http_request_duration_seconds_count{method="GET",route="/compute/v2.1/servers/:id",code="200"} `,
		`nimbus_http_request_duration_seconds_count{method="GET",route="/compute/v2.1/servers/:id",code="404"} 1`,
		`nimbus_instances{vm_state="active"} 1`,
		`nimbus_host_capacity{host="m1",resource="vcpus"} `,
		`nimbus_host_claimed{host="m1",resource="vcpus"} 1`,
		`nimbus_host_instances{host="m1"} 1`,
		`nimbus_queue_length{queue="scheduler"} `,
		`nimbus_queue_pending{queue="compute:m1"} 0`,
		`nimbus_agents_live 1`,
		`nimbus_outbox_unsent `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}
