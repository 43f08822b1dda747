// Package live carries the change feed to the portal's open pages. The
// feed is a Redis stream (queue.ChangeStream) the outbox relay fills from
// the nimbus_change trigger (store migration 016); each controller runs
// one Hub that reads it and hands every change to the event streams of
// the browsers that may see it.
//
// A stream rather than pub/sub because a browser that was away (a tab in
// the background, a network blip, a controller restart) comes back with
// the id of the last change it saw and is sent everything after it.
package live

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/stats"
)

// Change is one entry of the feed. It says what changed, not what it now
// is: the page asks for what it may see through the usual handlers.
type Change struct {
	ID      string `json:"-"`      // the stream entry's id, the browser's Last-Event-ID
	Kind    string `json:"change"` // instance, image, network, port, router, floating_ip
	Object  string `json:"id"`
	Project string `json:"-"`
	Op      string `json:"op"` // insert, update, delete
}

// subBuffer is how many changes a browser may be behind before its
// stream is ended; it reconnects and replays what it missed from Redis.
const subBuffer = 256

// Sub is one browser's subscription.
type Sub struct {
	C      chan Change
	Done   chan struct{} // closed when the hub drops the subscription
	filter func(Change) bool
	once   sync.Once
}

func (s *Sub) end() { s.once.Do(func() { close(s.Done) }) }

// Hub reads the feed and fans it out.
type Hub struct {
	rdb    *redis.Client
	stream string
	stats  string // the channel new statistics are announced on
	log    *slog.Logger

	mu   sync.Mutex
	subs map[*Sub]struct{}
	last string // id of the newest change read; "" before the first read
	up   chan struct{}
	// stopped is closed when Run returns: the controller is stopping, and
	// every stream of the pages ends.
	stopped chan struct{}
}

// NewHub returns a hub for the feed of prefix on rdb's server.
func NewHub(rdb *redis.Client, prefix string, log *slog.Logger) *Hub {
	// Its own small client: a blocked XREAD does not return when its
	// context ends, but it does when its client is closed, which Run
	// does at once when it stops.
	opt := *rdb.Options()
	opt.PoolSize, opt.MinIdleConns, opt.MaxIdleConns = 4, 0, 4
	return &Hub{rdb: redis.NewClient(&opt), stream: queue.ChangeStream(prefix), stats: stats.Channel(prefix),
		log:  log.With("component", "live"),
		subs: map[*Sub]struct{}{}, up: make(chan struct{}), stopped: make(chan struct{})}
}

// Subscribe returns a subscription to the changes filter accepts.
func (h *Hub) Subscribe(filter func(Change) bool) *Sub {
	s := &Sub{C: make(chan Change, subBuffer), Done: make(chan struct{}), filter: filter}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Unsubscribe drops s.
func (h *Hub) Unsubscribe(s *Sub) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
	s.end()
}

// Subscribers is how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Last is the id of the newest change the hub has read: a page rendered
// now shows everything up to it, so its stream starts after it.
func (h *Hub) Last() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// Stopped is closed when the hub stops, with the controller.
func (h *Hub) Stopped() <-chan struct{} { return h.stopped }

// Ready is closed once the hub knows where the feed ends.
func (h *Hub) Ready() <-chan struct{} { return h.up }

// Run reads the feed until ctx ends, then ends every subscription.
func (h *Hub) Run(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { h.rdb.Close() })
	defer stop()
	defer close(h.stopped)
	defer func() {
		h.mu.Lock()
		for s := range h.subs {
			s.end()
		}
		h.mu.Unlock()
	}()
	go h.followStats(ctx)
	from := ""
	for ctx.Err() == nil {
		if from == "" {
			// Start at the feed's end: older changes are replayed only
			// to a browser that asks for them.
			xs, err := h.rdb.XRevRangeN(ctx, h.stream, "+", "-", 1).Result()
			if err != nil {
				h.pause(ctx, "read the feed's end", err)
				continue
			}
			from = "0-0"
			if len(xs) == 1 {
				from = xs[0].ID
			}
			h.mu.Lock()
			h.last = from
			h.mu.Unlock()
			close(h.up)
		}
		res, err := h.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{h.stream, from}, Count: 1000, Block: 5 * time.Second}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			h.pause(ctx, "read the feed", err)
			continue
		}
		for _, st := range res {
			for _, m := range st.Messages {
				h.deliver(decode(m))
				from = m.ID
			}
		}
	}
}

// followStats hands each announcement of new statistics (internal/stats)
// to the pages as passing notices: a "stats" change for each instance
// (to its project) and a "host" change (to admins). They have no id and
// are not in the feed: a page that missed one simply draws the next.
func (h *Hub) followStats(ctx context.Context) {
	ps := h.rdb.Subscribe(ctx, h.stats)
	defer ps.Close()
	for m := range ps.Channel() {
		var n stats.Notice
		if json.Unmarshal([]byte(m.Payload), &n) != nil {
			continue
		}
		for _, in := range n.Instances {
			h.deliver(Change{Kind: "stats", Object: in.ID, Project: in.Project, Op: "update"})
		}
		if n.Host != "" {
			h.deliver(Change{Kind: "host", Object: n.Host, Op: "update"})
		}
	}
}

func (h *Hub) pause(ctx context.Context, what string, err error) {
	if ctx.Err() != nil {
		return
	}
	h.log.Warn(what, "error", err)
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}

// deliver hands c to every subscriber that may see it. One too far
// behind is dropped rather than waited for: its browser reconnects and
// replays. A change without an id is a passing notice and leaves the
// feed's position alone.
func (h *Hub) deliver(c Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.ID != "" {
		h.last = c.ID
	}
	for s := range h.subs {
		if c.Kind == "" || !s.filter(c) {
			continue
		}
		if c.ID == "" { // a passing notice is not worth a reconnect
			select {
			case s.C <- c:
			default:
			}
			continue
		}
		select {
		case s.C <- c:
		default:
			delete(h.subs, s)
			s.end()
		}
	}
}

// Replay returns the changes after id that filter accepts, to the feed's
// end: that may be past the hub's Last, and the caller's stream then
// hears some of them again from the hub (it skips ids it has sent, see
// handlers/portal's events). complete is false when the feed no longer holds everything
// after id (trimmed, or id is not one of its ids): the page must reload
// what it shows.
func (h *Hub) Replay(ctx context.Context, after string, filter func(Change) bool) (out []Change, complete bool, err error) {
	if _, ok := parseID(after); !ok {
		return nil, false, nil
	}
	// Trimming removes the oldest entries: if after is still in the
	// feed, so is everything after it. A page rendered while the feed was
	// empty (0-0) missed nothing as long as nothing was ever trimmed.
	if after == "0-0" {
		info, err := h.rdb.XInfoStream(ctx, h.stream).Result()
		if err != nil && !strings.HasPrefix(err.Error(), "ERR no such key") {
			return nil, false, err
		}
		if err == nil && info.EntriesAdded != info.Length {
			return nil, false, nil
		}
	} else {
		xs, err := h.rdb.XRange(ctx, h.stream, after, after).Result()
		if err != nil {
			return nil, false, err
		}
		if len(xs) == 0 {
			return nil, false, nil
		}
	}
	start := "(" + after
	for {
		xs, err := h.rdb.XRangeN(ctx, h.stream, start, "+", 1000).Result()
		if err != nil {
			return nil, false, err
		}
		for _, m := range xs {
			if c := decode(m); c.Kind != "" && filter(c) {
				out = append(out, c)
			}
		}
		if len(xs) < 1000 {
			return out, true, nil
		}
		start = "(" + xs[len(xs)-1].ID
	}
}

func decode(m redis.XMessage) Change {
	c := Change{ID: m.ID}
	raw, _ := m.Values[queue.Field].(string)
	var p struct {
		Kind    string `json:"change"`
		Object  string `json:"id"`
		Project string `json:"project"`
		Op      string `json:"op"`
	}
	if json.Unmarshal([]byte(raw), &p) == nil {
		c.Kind, c.Object, c.Project, c.Op = p.Kind, p.Object, p.Project, p.Op
	}
	return c
}

// parseID splits a stream id "ms-seq".
func parseID(id string) ([2]uint64, bool) {
	ms, seq, ok := strings.Cut(id, "-")
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	return [2]uint64{a, b}, ok && err1 == nil && err2 == nil
}

// Before reports whether stream id a is older than b.
func Before(a, b string) bool {
	x, _ := parseID(a)
	y, _ := parseID(b)
	return x[0] < y[0] || (x[0] == y[0] && x[1] < y[1])
}
