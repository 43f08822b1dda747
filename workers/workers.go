package workers

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/volume"
)

// Deps are what the controller's workers need.
type Deps struct {
	Store   *store.Store
	RDB     *redis.Client
	Compute *compute.Service
	Volumes *volume.Service // nil: no block storage
	// Kicker wakes the relay; the compute service is given its Kick.
	// Nil: the relay only polls.
	Kicker    Kicker
	Prefix    string
	Log       *slog.Logger
	ClaimIdle time.Duration // pending jobs of a dead consumer are reclaimed after this
}

// Kicker wakes the outbox relay after a commit, so a job reaches its
// stream at once rather than at the relay's next poll. It is made before
// the compute service, whose Options.Kick is its Kick, and the workers,
// whose relay it wakes, so that each is built whole with no setter.
type Kicker chan struct{}

// NewKicker returns a Kicker that keeps one pending wake-up.
func NewKicker() Kicker { return make(Kicker, 1) }

// Kick wakes the relay now rather than at its next poll; kicks made
// while one is pending are merged into it.
func (k Kicker) Kick() {
	select {
	case k <- struct{}{}:
	default:
	}
}

// Compute runs the instance-lifecycle workers until ctx ends: the outbox
// relay, the scheduler, the event applier, the host monitor and the build
// reaper. Every controller may run them; they share work through consumer
// groups and row locks.
//
//	outbox (PostgreSQL) ──relay──> nimbus:scheduler ──scheduler──> outbox ──relay──> nimbus:compute:<host> ──> agent
//	agent ──> nimbus:events ──applier──> instances (PostgreSQL)
type Compute struct {
	d  Deps
	wg sync.WaitGroup
}

// NewCompute returns the workers; d.Kicker's Kick after committing outbox
// rows wakes their relay.
func NewCompute(d Deps) *Compute {
	if d.ClaimIdle == 0 {
		d.ClaimIdle = 30 * time.Second
	}
	return &Compute{d: d}
}

// parallel is how many consumers each controller runs per stream. Each
// reads one message at a time: a consumer that took a batch would work
// through it alone while the others waited.
const parallel = 8

// Start runs every worker in its own goroutine; Wait waits for them.
func (w *Compute) Start(ctx context.Context) {
	name := consumerName()
	w.run(func() { w.relay(ctx) })
	if w.d.Kicker != nil {
		w.run(func() { w.listenOutbox(ctx) })
	}
	// Several consumers per stream: scheduling and applying events are
	// row-locked and guarded, so they may run side by side.
	for i := 0; i < parallel; i++ {
		name := name + "-" + strconv.Itoa(i)
		w.run(func() {
			c := &queue.Consumer{RDB: w.d.RDB, Stream: queue.SchedulerStream(w.d.Prefix), Group: "scheduler", Name: name, Batch: 1,
				DeadLetter: queue.DeadLetterStream(w.d.Prefix), ClaimIdle: w.d.ClaimIdle, Log: w.d.Log,
				OnDead: w.deadJob}
			c.Run(ctx, func(ctx context.Context, b []byte) error {
				var j queue.Job
				if err := queue.Decode(b, &j); err != nil {
					return err
				}
				return w.d.Compute.Schedule(ctx, j)
			})
		})
		w.run(func() {
			c := &queue.Consumer{RDB: w.d.RDB, Stream: queue.EventStream(w.d.Prefix), Group: "applier", Name: name, Batch: 1,
				DeadLetter: queue.DeadLetterStream(w.d.Prefix), ClaimIdle: w.d.ClaimIdle, Log: w.d.Log}
			c.Run(ctx, func(ctx context.Context, b []byte) error {
				var ev queue.Event
				if err := queue.Decode(b, &ev); err != nil {
					return err
				}
				return w.d.Compute.ApplyEvent(ctx, ev)
			})
		})
	}
	w.run(func() { w.every(ctx, 2*time.Second, "record hosts", w.recordHosts) })
	w.run(func() {
		w.every(ctx, 5*time.Second, "reap builds", func(ctx context.Context) error {
			_, err := w.d.Compute.ReapBuilds(ctx, time.Now())
			return err
		})
	})
	w.run(func() {
		w.every(ctx, 5*time.Second, "reconcile tasks", func(ctx context.Context) error {
			_, err := w.d.Compute.Reconcile(ctx, time.Now())
			return err
		})
	})
	w.run(func() {
		w.every(ctx, 10*time.Second, "offload shelved, reclaim deleted and confirm resized instances", func(ctx context.Context) error {
			for _, due := range []func(context.Context, time.Time) (int, error){w.d.Compute.OffloadShelved,
				w.d.Compute.ReclaimDeleted, w.d.Compute.ConfirmResized} {
				if _, err := due(ctx, time.Now()); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if w.d.Volumes != nil {
		w.run(func() {
			w.every(ctx, 5*time.Second, "reap volume operations", func(ctx context.Context) error {
				_, err := w.d.Volumes.Reap(ctx, time.Now())
				return err
			})
		})
	}
	w.run(func() { w.every(ctx, 10*time.Minute, "purge outbox", w.d.Store.PurgeSentOutbox) })
	w.run(func() { w.every(ctx, time.Minute, "trim streams", w.trimStreams) })
}

// Wait blocks until every worker has stopped.
func (w *Compute) Wait() { w.wg.Wait() }

func (w *Compute) run(fn func()) {
	w.wg.Add(1)
	go func() { defer w.wg.Done(); fn() }()
}

func (w *Compute) every(ctx context.Context, d time.Duration, what string, fn func(context.Context) error) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			w.d.Log.Warn(what, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// listenOutbox kicks the relay when a transaction that wrote the change
// feed commits (the nimbus_change trigger's NOTIFY), so a change written
// by a path that does not kick, such as the networking service's, still
// reaches the pages at once. The relay's poll covers a broken listener
// until it is back.
func (w *Compute) listenOutbox(ctx context.Context) {
	for ctx.Err() == nil {
		err := w.d.Store.ListenOutbox(ctx, w.d.Kicker.Kick)
		if ctx.Err() != nil {
			return
		}
		w.d.Log.Warn("listen for the change feed", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// relay copies outbox rows to their streams: at once when kicked, and
// every 250 ms for rows other controllers wrote.
func (w *Compute) relay(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		for {
			n, err := w.d.Store.RelayOutbox(ctx, 200, func(es []store.OutboxEntry) (int, error) {
				pipe := w.d.RDB.Pipeline()
				for _, e := range es {
					a := &redis.XAddArgs{Stream: e.Stream, Values: map[string]any{queue.Field: e.Payload}}
					if e.Stream == store.ChangeStream {
						a.Stream, a.MaxLen, a.Approx = queue.ChangeStream(w.d.Prefix), queue.ChangeStreamLen, true
					}
					pipe.XAdd(ctx, a)
				}
				cmds, err := pipe.Exec(ctx)
				sent := 0
				for _, c := range cmds {
					if c.Err() != nil {
						break
					}
					sent++
				}
				return sent, err
			})
			if err != nil && ctx.Err() == nil {
				w.d.Log.Warn("outbox relay", "error", err)
				break
			}
			if n < 200 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-w.d.Kicker:
		case <-t.C:
		}
	}
}

// recordHosts copies the agents' heartbeats from Redis into compute_hosts.
func (w *Compute) recordHosts(ctx context.Context) error {
	as, err := queue.Agents(ctx, w.d.RDB, w.d.Prefix)
	if err != nil {
		return err
	}
	ages, err := queue.HeartbeatAges(ctx, w.d.RDB, w.d.Prefix)
	if err != nil {
		return err
	}
	// Liveness is placed on this controller's clock, from the age Redis
	// measured: never the agent's own idea of the time.
	now := time.Now()
	hs := make([]model.ComputeHost, 0, len(as))
	for _, a := range as {
		age, ok := ages[a.Host]
		if !ok {
			continue
		}
		hs = append(hs, model.ComputeHost{Host: a.Host, AZ: a.AZ, HypervisorType: a.Hypervisor, Arch: a.Arch,
			VCPUs: a.VCPUs, MemoryMB: a.MemoryMB, DiskGB: a.DiskGB, LastSeen: now.Add(-age)})
	}
	return w.d.Compute.RecordHosts(ctx, hs)
}

// deadJob puts the instance of a job given up on into ERROR.
func (w *Compute) deadJob(ctx context.Context, b []byte, reason string) {
	var j queue.Job
	if err := queue.Decode(b, &j); err != nil || j.InstanceID == "" {
		return
	}
	if err := w.d.Compute.ErrorInstance(ctx, j.InstanceID, "The request could not be processed.", "dead-lettered: "+reason); err != nil {
		w.d.Log.Warn("error instance of dead job", "instance_id", j.InstanceID, "error", err)
	}
}

// trimStreams keeps every stream to what some consumer group still needs
// (queue.Trim) and the dead letters bounded.
func (w *Compute) trimStreams(ctx context.Context) error {
	streams, err := queue.JobStreams(ctx, w.d.RDB, w.d.Prefix)
	if err != nil {
		return err
	}
	for _, s := range streams {
		if _, err := queue.Trim(ctx, w.d.RDB, s); err != nil {
			return err
		}
	}
	return queue.TrimDeadLetters(ctx, w.d.RDB, w.d.Prefix)
}

func consumerName() string {
	h, _ := os.Hostname()
	return h + "-" + strconv.Itoa(os.Getpid())
}
