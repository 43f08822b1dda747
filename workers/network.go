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
}

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
	sub := w.RDB.Subscribe(ctx, netspec.WantChannel(w.Prefix))
	defer sub.Close()
	want := sub.Channel()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := w.Publish(ctx); err != nil && ctx.Err() == nil {
			w.Log.Warn("publish datapath documents", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-want:
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
	var active, pending []string
	for host, doc := range docs {
		gen, changed, err := netspec.Publish(ctx, w.RDB, w.Prefix, doc)
		if err != nil {
			return err
		}
		if changed {
			w.Log.Debug("datapath document published", "host", host, "generation", gen)
		}
		applied, err := netspec.Applied(ctx, w.RDB, w.Prefix, host)
		if err != nil {
			return err
		}
		for _, p := range doc.Ports {
			if applied >= gen {
				active = append(active, p.ID)
			} else {
				pending = append(pending, p.ID)
			}
		}
	}
	return w.Store.SetPortStatuses(ctx, active, pending)
}
