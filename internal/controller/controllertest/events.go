package controllertest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Event is one Server-Sent Event of a page's stream, stamped when read.
type Event struct {
	ID, Type, Data string
	At             time.Time
}

// Events opens the portal's event stream as a page does: from since (the
// page's live-since) or, when lastID is set, resuming after it as a
// reconnecting browser does. Events arrive on the channel until ctx ends
// or the server ends the stream, then it is closed.
func (b *FormClient) Events(ctx context.Context, since, lastID string) (<-chan Event, error) {
	return b.Stream(ctx, "/project/events?since="+url.QueryEscape(since), lastID)
}

// Stream opens any of the portal's event streams at path (lastID as
// Events).
func (b *FormClient) Stream(ctx context.Context, path, lastID string) (<-chan Event, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", b.tc.URL+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := b.Client.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		res.Body.Close()
		return nil, fmt.Errorf("event stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	out := make(chan Event, 1024)
	go func() {
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var ev Event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Type != "" || ev.Data != "" {
					ev.At = time.Now()
					select {
					case out <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev = Event{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Type = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[6:]
			}
		}
	}()
	return out, nil
}

// LiveSince is the live-since meta of a rendered page: where its event
// stream starts.
func LiveSince(p Page) string {
	const tag = `<meta name="live-since" content="`
	i := strings.Index(p.Body, tag)
	if i < 0 {
		return ""
	}
	rest := p.Body[i+len(tag):]
	return rest[:strings.IndexByte(rest, '"')]
}
