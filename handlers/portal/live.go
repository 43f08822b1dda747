package portal

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/live"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

// Intervals of a page's event stream: a comment keeps proxies from
// closing a quiet stream, and the session is checked again so a revoked
// one stops hearing of changes.
const (
	livePing     = 20 * time.Second
	liveRecheck  = time.Minute
	liveRetryMs  = 2000
	liveLastID   = "Last-Event-ID"
	liveSinceArg = "since"
)

// events is a page's Server-Sent Events stream: the changes its user may
// see (their project's; every project's for admins), from the id the page
// was rendered at (?since=, the page's live-since meta) or, when the
// browser reconnects, after the last one it heard (Last-Event-ID). When
// the feed no longer holds everything after that id, a "reset" event
// tells the page to reload what it shows.
func (h *Handler) events(c *fiber.Ctx) error {
	hub := h.cfg.Live
	if hub == nil {
		return fiber.ErrNotFound
	}
	tok := api.Token(c)
	all := policy.Allowed(tok, policy.ViewAdmin, policy.Target{})
	project := tok.ProjectID
	watch := liveWatch(c.Query("watch"))
	filter := func(ch live.Change) bool {
		switch ch.Kind {
		case "stats": // a chart's: only to pages that show it
			return watch["stats:"+ch.Object] && (all || ch.Project == project)
		case "host": // the Hypervisors page's
			return all && watch["host"]
		}
		return all || ch.Project == project
	}
	after := c.Get(liveLastID)
	if after == "" {
		after = c.Query(liveSinceArg)
	}
	after = string([]byte(after)) // fasthttp reuses the request's buffers
	sessToken := sess(c).Token
	if eventStreamHead(c) {
		return nil
	}
	// Subscribe before replaying, so nothing falls between the two; the
	// writer skips what both hand it.
	sub := hub.Subscribe(filter)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer hub.Unsubscribe(sub)
		ctx := context.Background()
		fmt.Fprintf(w, "retry: %d\n\n", liveRetryMs)
		last := after
		if after != "" {
			past, complete, err := hub.Replay(ctx, after, filter)
			if err != nil || !complete {
				last = hub.Last()
				fmt.Fprintf(w, "id: %s\nevent: reset\ndata: {}\n\n", last)
			}
			for _, ch := range past {
				writeChange(w, ch)
				last = ch.ID
			}
		}
		if w.Flush() != nil {
			return
		}
		// send writes a change the browser has not had; a passing notice
		// (no id: new statistics) is never replayed and always sent.
		send := func(ch live.Change) bool {
			if ch.ID == "" {
				writeChange(w, ch)
				return true
			}
			if last != "" && !live.Before(last, ch.ID) {
				return false
			}
			writeChange(w, ch)
			last = ch.ID
			return true
		}
		ping := time.NewTicker(livePing)
		defer ping.Stop()
		recheck := time.NewTicker(liveRecheck)
		defer recheck.Stop()
		for {
			select {
			case ch := <-sub.C:
				if !send(ch) {
					continue // already replayed
				}
				// Send what else is waiting in the same write.
				for n := len(sub.C); n > 0; n-- {
					send(<-sub.C)
				}
			case <-sub.Done:
				// Dropped (too far behind) or the controller is stopping:
				// the browser reconnects and replays from its last id.
				return
			case <-ping.C:
				fmt.Fprint(w, ": ping\n\n")
			case <-recheck.C:
				if _, err := h.svc.Validate(ctx, sessToken); err != nil {
					return
				}
				continue
			}
			if w.Flush() != nil {
				return // the browser went away
			}
		}
	})
	return nil
}

// liveWatch reads the statistics a page shows (?watch=, space-separated
// "stats:<instance>" and "host"); at most a few dozen.
func liveWatch(q string) map[string]bool {
	w := map[string]bool{}
	for i, k := range strings.Fields(q) {
		if i == 32 {
			break
		}
		w[k] = true
	}
	return w
}

// eventStreamHead sets the headers of an event stream and reports
// whether the request is a HEAD, which gets them alone (and opens
// nothing that its absent body would have to close).
func eventStreamHead(c *fiber.Ctx) bool {
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no") // a proxy in front must not buffer it
	return c.Method() == fiber.MethodHead
}

// writeChange writes one event; without an id line the browser keeps the
// last id it had, so a passing notice does not move where it resumes.
func writeChange(w *bufio.Writer, ch live.Change) {
	b, _ := json.Marshal(ch)
	if ch.ID != "" {
		fmt.Fprintf(w, "id: %s\n", ch.ID)
	}
	fmt.Fprintf(w, "event: change\ndata: %s\n\n", b)
}

// liveSince is where a page rendered now starts its event stream. Just
// after the controller started, the hub may not yet know where the feed
// ends; a page is worth a short wait for it rather than not being live.
func (h *Handler) liveSince() string {
	if h.cfg.Live == nil {
		return ""
	}
	select {
	case <-h.cfg.Live.Ready():
	case <-time.After(2 * time.Second):
	}
	return h.cfg.Live.Last()
}
