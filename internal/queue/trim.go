package queue

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// DeadLetterMax bounds the dead-letter stream (approximately: Redis trims
// whole nodes).
const DeadLetterMax = 10000

// Trim removes from stream the entries that every consumer group has been
// given and has acknowledged, and never one still pending or not yet
// read: the first entry kept is the oldest a group still needs (its
// oldest pending entry, or the one after the last it was given). A stream
// no group reads yet is left whole: its first reader starts at its
// beginning. It returns how many entries went.
func Trim(ctx context.Context, rdb redis.Cmdable, stream string) (int64, error) {
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return 0, nil
		}
		return 0, fmt.Errorf("trim %s: %w", stream, err)
	}
	if len(groups) == 0 {
		return 0, nil
	}
	var keep streamID
	for i, g := range groups {
		need := parseID(g.LastDeliveredID).next()
		if g.Pending > 0 {
			p, err := rdb.XPending(ctx, stream, g.Name).Result()
			if err != nil {
				return 0, fmt.Errorf("trim %s: pending of %s: %w", stream, g.Name, err)
			}
			if low := parseID(p.Lower); p.Count > 0 && low.less(need) {
				need = low
			}
		}
		if i == 0 || need.less(keep) {
			keep = need
		}
	}
	n, err := rdb.XTrimMinID(ctx, stream, keep.String()).Result()
	if err != nil {
		return 0, fmt.Errorf("trim %s: %w", stream, err)
	}
	return n, nil
}

// TrimDeadLetters bounds the dead-letter stream to about DeadLetterMax
// entries, the oldest going first.
func TrimDeadLetters(ctx context.Context, rdb redis.Cmdable, prefix string) error {
	return rdb.XTrimMaxLenApprox(ctx, DeadLetterStream(prefix), DeadLetterMax, 0).Err()
}

// JobStreams returns the names of every stream under prefix that consumer
// groups read: the scheduler's, the events' and each host's.
func JobStreams(ctx context.Context, rdb *redis.Client, prefix string) ([]string, error) {
	out := []string{SchedulerStream(prefix), EventStream(prefix)}
	it := rdb.ScanType(ctx, 0, HostStream(prefix, "*"), 200, "stream").Iterator()
	for it.Next(ctx) {
		out = append(out, it.Val())
	}
	return out, it.Err()
}

// streamID is a stream entry id, milliseconds and sequence.
type streamID struct{ ms, seq uint64 }

func parseID(s string) streamID {
	ms, seq, _ := strings.Cut(s, "-")
	a, _ := strconv.ParseUint(ms, 10, 64)
	b, _ := strconv.ParseUint(seq, 10, 64)
	return streamID{a, b}
}

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || (id.ms == o.ms && id.seq < o.seq)
}

func (id streamID) next() streamID {
	if id.seq == ^uint64(0) {
		return streamID{id.ms + 1, 0}
	}
	return streamID{id.ms, id.seq + 1}
}

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

// DeadLetter is a message given up on: where it came from, why, and the
// message itself.
type DeadLetter struct {
	ID      string // the dead-letter entry's id; its time is the ms part
	Stream  string
	Reason  string
	Payload []byte
}

// DeadLetters returns the newest n dead letters, newest first, and how
// many the stream holds.
func DeadLetters(ctx context.Context, rdb redis.Cmdable, prefix string, n int64) ([]DeadLetter, int64, error) {
	key := DeadLetterStream(prefix)
	ms, err := rdb.XRevRangeN(ctx, key, "+", "-", n).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("dead letters: %w", err)
	}
	total, err := rdb.XLen(ctx, key).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("dead letters: %w", err)
	}
	out := make([]DeadLetter, 0, len(ms))
	for _, m := range ms {
		d := DeadLetter{ID: m.ID}
		d.Stream, _ = m.Values["stream"].(string)
		d.Reason, _ = m.Values["reason"].(string)
		if p, ok := m.Values[Field].(string); ok {
			d.Payload = []byte(p)
		}
		out = append(out, d)
	}
	return out, total, nil
}
