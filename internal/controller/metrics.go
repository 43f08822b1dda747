package controller

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/metrics"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// requestDuration is every answer's latency by method, route pattern
// (bounded: never the path itself) and status code.
var requestDuration = metrics.NewHistogram("nimbus_http_request_duration_seconds",
	"Time to answer an API or portal request, by method, route and status code.", metrics.LatencyBounds)

// measure records each request's latency. It hands an error to the
// app's error handler itself, so the status code recorded is the one the
// client gets.
func measure(c *fiber.Ctx) error {
	t0 := time.Now()
	err := c.Next()
	if err != nil {
		if herr := c.App().Config().ErrorHandler(c, err); herr != nil {
			return herr
		}
	}
	route := c.Route().Path
	if c.Route().Method == "USE" || route == "" {
		route = "other" // no route of its own: an unknown path, static files
	}
	// (fasthttp reuses the method's bytes: it is copied.)
	requestDuration.ObserveSince(metrics.Labels{"method", strings.Clone(c.Method()), "route", route,
		"code", strconv.Itoa(c.Response().StatusCode())}, t0)
	return nil
}

// metricsHandler is GET /metrics: Prometheus's text format, answered
// without a token to loopback and NIMBUS_METRICS_ALLOW's addresses (as a
// Prometheus server scrapes), 403 to anyone else.
func (s *Server) metricsHandler(c *fiber.Ctx) error {
	ip := net.ParseIP(api.ClientAddr(c, s.cfg.TrustedProxies))
	allowed := ip != nil && ip.IsLoopback()
	for _, n := range s.cfg.MetricsAllow {
		allowed = allowed || ip != nil && n.Contains(ip)
	}
	if !allowed {
		return c.Status(fiber.StatusForbidden).SendString("metrics are answered to loopback and NIMBUS_METRICS_ALLOW only\n")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	var b bytes.Buffer
	requestDuration.Write(&b)
	if err := s.writeState(ctx, &b); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	return c.Send(b.Bytes())
}

// writeState writes what the database and Redis say now.
func (s *Server) writeState(ctx context.Context, b *bytes.Buffer) error {
	snap, err := store.New(s.pool).Metrics(ctx)
	if err != nil {
		return err
	}
	var inst []metrics.Sample
	for _, st := range []string{"building", "active", "stopped", "paused", "suspended", "rescued", "resized", "shelved", "shelved_offloaded", "soft-delete", "error"} {
		inst = append(inst, metrics.Sample{Labels: metrics.Labels{"vm_state", st}, Value: float64(snap.InstancesByState[st])})
		delete(snap.InstancesByState, st)
	}
	for st, n := range snap.InstancesByState {
		inst = append(inst, metrics.Sample{Labels: metrics.Labels{"vm_state", st}, Value: float64(n)})
	}
	metrics.Gauge(b, "nimbus_instances", "Instances not deleted, by VM state.", inst...)
	var cap []metrics.Sample
	var used []metrics.Sample
	for _, h := range snap.Hosts {
		for _, r := range []struct {
			res         string
			total, used int
		}{{"vcpus", h.VCPUs, h.VCPUsUsed}, {"memory_mb", h.MemoryMB, h.MemoryMBUsed}, {"disk_gb", h.DiskGB, h.DiskGBUsed}} {
			cap = append(cap, metrics.Sample{Labels: metrics.Labels{"host", h.Host, "resource", r.res}, Value: float64(r.total)})
			used = append(used, metrics.Sample{Labels: metrics.Labels{"host", h.Host, "resource", r.res}, Value: float64(r.used)})
		}
	}
	metrics.Gauge(b, "nimbus_host_capacity", "A compute host's size, by resource.", cap...)
	metrics.Gauge(b, "nimbus_host_claimed", "What the scheduler has claimed on a compute host, by resource.", used...)
	var vms []metrics.Sample
	for _, h := range snap.Hosts {
		vms = append(vms, metrics.Sample{Labels: metrics.Labels{"host", h.Host}, Value: float64(h.RunningVMs)})
	}
	metrics.Gauge(b, "nimbus_host_instances", "Instances placed on a compute host.", vms...)
	metrics.Gauge(b, "nimbus_outbox_unsent", "Jobs and changes written but not yet on their Redis streams.",
		metrics.Sample{Value: float64(snap.OutboxUnsent)})

	// Queues: each stream's length, and what its consumers hold unacked.
	p := s.cfg.RedisPrefix
	streams := []struct{ name, stream, group string }{
		{"scheduler", queue.SchedulerStream(p), "scheduler"},
		{"events", queue.EventStream(p), "applier"},
		{"deadletter", queue.DeadLetterStream(p), ""},
		{"changes", queue.ChangeStream(p), ""},
	}
	for _, h := range snap.Hosts {
		streams = append(streams, struct{ name, stream, group string }{"compute:" + h.Host, queue.HostStream(p, h.Host), "agent"})
	}
	pipe := s.rdb.Pipeline()
	lens := make([]*redis.IntCmd, len(streams))
	pend := make([]*redis.XPendingCmd, len(streams))
	for i, st := range streams {
		lens[i] = pipe.XLen(ctx, st.stream)
		if st.group != "" {
			pend[i] = pipe.XPending(ctx, st.stream, st.group)
		}
	}
	_, _ = pipe.Exec(ctx) // a stream or group not made yet answers an error: 0
	var lenS, pendS []metrics.Sample
	for i, st := range streams {
		lenS = append(lenS, metrics.Sample{Labels: metrics.Labels{"queue", st.name}, Value: float64(lens[i].Val())})
		if pend[i] != nil && pend[i].Err() == nil {
			pendS = append(pendS, metrics.Sample{Labels: metrics.Labels{"queue", st.name}, Value: float64(pend[i].Val().Count)})
		}
	}
	metrics.Gauge(b, "nimbus_queue_length", "Entries on a Redis stream (trimmed streams keep their recent ones).", lenS...)
	metrics.Gauge(b, "nimbus_queue_pending", "Jobs delivered to a consumer and not yet acknowledged.", pendS...)
	live, err := queue.LiveAgents(ctx, s.rdb, p, s.cfg.AgentLiveness)
	if err == nil {
		metrics.Gauge(b, "nimbus_agents_live", "Compute agents heard from within the liveness period.", metrics.Sample{Value: float64(live)})
	}
	metrics.Gauge(b, "nimbus_live_streams", "Portal pages following the change feed on this controller.",
		metrics.Sample{Value: float64(s.live.Subscribers())})
	return nil
}
