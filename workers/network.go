package workers

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
	"github.com/nimbus-cloud/nimbus/internal/network"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// Network publishes each host's datapath document (netspec) to Redis:
// when the networking service changed something (Kick), when an agent
// asks (it is about to start a domain whose ports its document lacks),
// and every few seconds for what changed elsewhere (an instance placed,
// moved or deleted; another controller's change). Unchanged documents
// are not published again, so agents only work on real changes. It also
// marks instance ports ACTIVE once their host applied a document with
// them, DOWN when no host carries them.
type Network struct {
	Store       *store.Store
	RDB         *redis.Client
	Net         *network.Service
	Prefix      string
	NetworkNode string
	Metadata    *netspec.Metadata
	Log         *slog.Logger
	// Every is the period of the full recomputation (default 5 s).
	Every time.Duration
	kick  Kicker
	once  sync.Once

	mu   sync.Mutex
	last map[string]published // by host: what was published last
}

// published is a host's last document as far as port statuses go.
type published struct {
	gen   int64
	ports []string
}

// publishGap is the least time between two publications.
const publishGap = 100 * time.Millisecond

// Kick asks for a publication now (merged with one pending).
func (w *Network) Kick() {
	w.once.Do(func() { w.kick = NewKicker() })
	w.kick.Kick()
}

// Run publishes until ctx ends.
func (w *Network) Run(ctx context.Context) {
	w.once.Do(func() { w.kick = NewKicker() })
	every := w.Every
	if every == 0 {
		every = 5 * time.Second
	}
	sub := w.RDB.Subscribe(ctx, netspec.WantChannel(w.Prefix), netspec.AppliedChannel(w.Prefix))
	defer sub.Close()
	msgs := sub.Channel()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := w.Publish(ctx); err != nil && ctx.Err() == nil {
			w.Log.Warn("publish datapath documents", "error", err)
		}
		// A burst of changes (a hundred launches) is published in a few
		// documents, not one per change: the agents apply whole documents.
		select {
		case <-ctx.Done():
			return
		case <-time.After(publishGap):
		}
	wait:
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case m := <-msgs:
			if m != nil && m.Channel == netspec.AppliedChannel(w.Prefix) {
				// An agent caught up: its ports turn ACTIVE now, no
				// document changed.
				if err := w.statuses(ctx); err != nil && ctx.Err() == nil {
					w.Log.Warn("port statuses", "error", err)
				}
				goto wait
			}
		case <-t.C:
		}
	}
}

// Publish computes every host's document and publishes those that changed.
func (w *Network) Publish(ctx context.Context) error {
	hosts, err := w.Store.Hosts(ctx)
	if err != nil {
		return err
	}
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Host
	}
	agents, err := netspec.Agents(ctx, w.RDB, w.Prefix)
	if err != nil {
		return err
	}
	docs, err := w.Net.Documents(ctx, network.DocumentInput{Hosts: names, NetworkNode: w.NetworkNode, Agents: agents, Metadata: w.Metadata})
	if err != nil {
		return err
	}
	last := map[string]published{}
	for host, doc := range docs {
		gen, changed, err := netspec.Publish(ctx, w.RDB, w.Prefix, doc)
		if err != nil {
			return err
		}
		if changed {
			w.Log.Debug("datapath document published", "host", host, "generation", gen)
		}
		p := published{gen: gen}
		for _, port := range doc.Ports {
			p.ports = append(p.ports, port.ID)
		}
		last[host] = p
	}
	w.mu.Lock()
	w.last = last
	w.mu.Unlock()
	return w.statuses(ctx)
}

// statuses marks the ports of hosts that applied their last document
// ACTIVE, and the instance ports no host carries DOWN.
func (w *Network) statuses(ctx context.Context) error {
	w.mu.Lock()
	last := w.last
	w.mu.Unlock()
	var active, pending []string
	for host, p := range last {
		applied, err := netspec.Applied(ctx, w.RDB, w.Prefix, host)
		if err != nil {
			return err
		}
		if applied >= p.gen {
			active = append(active, p.ports...)
		} else {
			pending = append(pending, p.ports...)
		}
	}
	return w.Store.SetPortStatuses(ctx, active, pending)
}
