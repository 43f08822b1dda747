package agent

import (
	"context"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// maxLogPush is the most of a log's new output sent in one push; a guest
// writing faster than that is followed with a lag, not all at once.
const maxLogPush = 64 << 10

// logWatches are where each watch on this host has been sent up to, by
// watch set member. Only the run loop's goroutine touches it.
type logWatches map[string]int64

// pushLogs sends each watched serial log's new output to its watcher
// (queue.LogWatch): the Log tab of an instance page shows a running
// guest's output as it comes, without asking for it.
func (a *Agent) pushLogs(ctx context.Context) error {
	key := queue.LogWatchKey(a.cfg.Prefix, a.cfg.Host)
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	members, err := a.rdb.ZRangeByScore(ctx, key, &redis.ZRangeBy{Min: "(" + now, Max: "+inf"}).Result()
	if err != nil {
		return err
	}
	live := make(map[string]bool, len(members))
	for _, m := range members {
		live[m] = true
		w, ok := queue.ParseLogWatch(m)
		if !ok || !a.owns(w.InstanceID) {
			continue
		}
		pos, seen := a.watches[m]
		if !seen {
			pos = w.Offset
		}
		text, next, err := readFrom(a.serialLog(w.InstanceID), pos)
		if err != nil || next == pos {
			a.watches[m] = next
			continue
		}
		if err := a.rdb.Publish(ctx, queue.LogChannel(a.cfg.Prefix, w.Viewer), text).Err(); err != nil {
			return err // sent again next time from the same place
		}
		a.watches[m] = next
	}
	for m := range a.watches {
		if !live[m] {
			delete(a.watches, m)
		}
	}
	return nil
}

// readFrom returns the log's bytes from pos (at most maxLogPush) and
// where they end. A log shorter than pos was started anew (the guest's
// domain defined again): it is read from its start.
func readFrom(path string, pos int64) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", pos, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", pos, err
	}
	if st.Size() < pos {
		pos = 0
	}
	n := min(st.Size()-pos, maxLogPush)
	b, err := io.ReadAll(io.NewSectionReader(f, pos, n))
	if err != nil {
		return "", pos, err
	}
	return validText(b), pos + int64(len(b)), nil
}
