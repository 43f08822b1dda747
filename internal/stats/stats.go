// Package stats keeps what the compute agents sample: every running
// domain's counters and every host's load, in Redis, for the instance
// page's charts, the admin Hypervisors page and os-diagnostics.
//
// Why Redis and not PostgreSQL: the samples are many small writes that
// nobody needs after a day and nothing joins against. 1,000 VMs are 100
// samples a second; in PostgreSQL that is 100 row inserts a second plus
// as many deletes (WAL, vacuum, index churn) on the database every other
// part of Nimbus waits on. In Redis each VM is two capped lists that a
// script appends to and trims, and a key's whole history goes when it
// expires. Losing them with Redis loses charts, never data. What they
// cost is measured by TestBenchStats (make bench) and noted in the README.
//
// Each VM (and host) has two rings: Fine, one sample every agent interval
// (10 s) for the last hour, and Coarse, the first sample of each minute
// for the last 24 hours. Counters are totals since the domain started,
// so a coarse ring's rates are exact averages over its minutes, not
// samples of a 10 s moment.
package stats

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

// The rings' sizes and what they cover.
const (
	FineLen     = 360  // an hour at 10 s
	CoarseLen   = 1440 // a day at a minute
	CoarseStep  = 60   // seconds between coarse samples
	keep        = 25 * time.Hour
	latestTTL   = 10 * time.Minute // os-diagnostics answers from a sample this recent at most
	maxBatchIDs = 10000
)

// Range is which ring a chart reads.
type Range string

const (
	Hour Range = "1h"  // the fine ring
	Day  Range = "24h" // the coarse ring
)

// ParseRange reads a chart's range; anything else is Hour.
func ParseRange(s string) Range {
	if s == string(Day) {
		return Day
	}
	return Hour
}

// Store reads and writes the samples under a deployment's prefix.
type Store struct {
	rdb    *redis.Client
	prefix string
}

// New returns the store of prefix on rdb.
func New(rdb *redis.Client, prefix string) *Store { return &Store{rdb: rdb, prefix: prefix} }

func (s *Store) ring(kind, id string, r Range) string {
	return s.prefix + "stats:" + kind + ":" + string(r) + ":" + id
}
func (s *Store) latestKey(id string) string { return s.prefix + "stats:last:" + id }

// Channel is where each recorded report is announced (a Notice), for the
// pages that show it live.
func Channel(prefix string) string { return prefix + "stats" }

// Notice says whose samples just arrived: the host's and these
// instances' (with their projects, so each page hears only of its own).
type Notice struct {
	Host      string  `json:"host"`
	Instances []Owned `json:"instances"`
}

// Owned is an instance and its project.
type Owned struct {
	ID      string `json:"id"`
	Project string `json:"project"`
}

// appendScript appends a sample to a fine ring (unless it is not newer
// than the ring's last: a report delivered twice, or late, is a no-op)
// and, when it starts a new minute, to the coarse ring; both are trimmed
// and kept for a day from their last write. Entries begin with their
// unix time. With a third key, the sample's every detail (ARGV[7]) is
// kept there as the newest, for ARGV[8] seconds.
var appendScript = redis.NewScript(`
local at = tonumber(ARGV[1])
local last = redis.call('LINDEX', KEYS[1], -1)
if last and tonumber(string.match(last, '^%d+')) >= at then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[5])
if #KEYS >= 3 then redis.call('SET', KEYS[3], ARGV[7], 'EX', ARGV[8]) end
local step = tonumber(ARGV[6])
local c = redis.call('LINDEX', KEYS[2], -1)
if (not c) or math.floor(tonumber(string.match(c, '^%d+')) / step) < math.floor(at / step) then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
return 1`)

// Record stores one host's report. owners maps the instances the
// controller knows to their projects; samples of other domains (not
// Nimbus's, or already deleted) are dropped. The whole report is one
// pipeline, and its Notice is published after it.
func (s *Store) Record(ctx context.Context, host string, r model.StatsReport, owners map[string]string) error {
	if len(r.Domains) > maxBatchIDs {
		return fmt.Errorf("stats report of %d domains: too many", len(r.Domains))
	}
	n, err := s.record(ctx, host, r, owners)
	if err != nil && strings.Contains(err.Error(), "NOSCRIPT") {
		// The server lost the script (restarted, SCRIPT FLUSH): in a
		// pipeline go-redis cannot fall back to EVAL by itself. Load it
		// and go again; every write is idempotent.
		if err := appendScript.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("record stats: load script: %w", err)
		}
		n, err = s.record(ctx, host, r, owners)
	}
	if err != nil {
		return fmt.Errorf("record stats: %w", err)
	}
	b, _ := json.Marshal(n)
	return s.rdb.Publish(ctx, Channel(s.prefix), b).Err()
}

func (s *Store) record(ctx context.Context, host string, r model.StatsReport, owners map[string]string) (Notice, error) {
	n := Notice{Host: host, Instances: []Owned{}}
	pipe := s.rdb.Pipeline()
	for _, d := range r.Domains {
		project, ok := owners[d.InstanceID]
		if !ok || d.At <= 0 {
			continue
		}
		full, err := json.Marshal(d)
		if err != nil {
			return n, err
		}
		appendScript.EvalSha(ctx, pipe, s.Keys(d.InstanceID),
			d.At, encodeDomain(d), FineLen, CoarseLen, int(keep.Seconds()), CoarseStep, full, int(latestTTL.Seconds()))
		n.Instances = append(n.Instances, Owned{ID: d.InstanceID, Project: project})
	}
	if h := r.Host; h.At > 0 && host != "" {
		appendScript.EvalSha(ctx, pipe, []string{s.ring("host", host, Hour), s.ring("host", host, Day)},
			h.At, encodeHost(h), FineLen, CoarseLen, int(keep.Seconds()), CoarseStep)
	}
	_, err := pipe.Exec(ctx)
	return n, err
}

// Series is an instance's samples over r, oldest first.
func (s *Store) Series(ctx context.Context, id string, r Range) ([]model.DomainSample, error) {
	raw, err := s.rdb.LRange(ctx, s.ring("vm", id, r), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("stats series: %w", err)
	}
	out := make([]model.DomainSample, 0, len(raw))
	for _, e := range raw {
		if d, ok := decodeDomain(e); ok {
			d.InstanceID = id
			out = append(out, d)
		}
	}
	return out, nil
}

// Latest is an instance's newest sample with every detail, if one came
// in the last ten minutes.
func (s *Store) Latest(ctx context.Context, id string) (model.DomainSample, bool, error) {
	b, err := s.rdb.Get(ctx, s.latestKey(id)).Bytes()
	if err == redis.Nil {
		return model.DomainSample{}, false, nil
	}
	if err != nil {
		return model.DomainSample{}, false, fmt.Errorf("stats latest: %w", err)
	}
	var d model.DomainSample
	if err := json.Unmarshal(b, &d); err != nil {
		return model.DomainSample{}, false, nil
	}
	return d, true, nil
}

// HostSeries is a host's samples over r, oldest first.
func (s *Store) HostSeries(ctx context.Context, host string, r Range) ([]model.HostSample, error) {
	raw, err := s.rdb.LRange(ctx, s.ring("host", host, r), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("host stats: %w", err)
	}
	out := make([]model.HostSample, 0, len(raw))
	for _, e := range raw {
		if h, ok := decodeHost(e); ok {
			out = append(out, h)
		}
	}
	return out, nil
}

// Keys are the Redis keys an instance's samples live in (for measuring
// what they cost).
func (s *Store) Keys(id string) []string {
	return []string{s.ring("vm", id, Hour), s.ring("vm", id, Day), s.latestKey(id)}
}

// encodeDomain writes what a chart needs, the time first (the append
// script reads it, in decimal), the rest in base 36: about 70 bytes, half
// of all the counters in decimal. What the charts do not draw (request
// and packet counts, per-device figures) is in the newest sample only.
func encodeDomain(d model.DomainSample) string {
	f := []uint64{d.CPUTime, uint64(d.VCPUs), d.MemoryKiB, d.RSSKiB, d.UsedKiB,
		d.Disk.ReadBytes, d.Disk.WriteBytes, d.Net.ReadBytes, d.Net.WriteBytes}
	b := strconv.AppendInt(make([]byte, 0, 80), d.At, 10)
	for _, v := range f {
		b = append(b, ' ')
		b = strconv.AppendUint(b, v, 36)
	}
	return string(b)
}

func decodeDomain(e string) (model.DomainSample, bool) {
	parts := strings.Fields(e)
	if len(parts) != 10 {
		return model.DomainSample{}, false
	}
	at, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return model.DomainSample{}, false
	}
	f := make([]uint64, 9)
	for i, p := range parts[1:] {
		if f[i], err = strconv.ParseUint(p, 36, 64); err != nil {
			return model.DomainSample{}, false
		}
	}
	return model.DomainSample{At: at, CPUTime: f[0], VCPUs: int(f[1]), MemoryKiB: f[2], RSSKiB: f[3], UsedKiB: f[4],
		Disk: model.IOStat{ReadBytes: f[5], WriteBytes: f[6]}, Net: model.IOStat{ReadBytes: f[7], WriteBytes: f[8]}}, true
}

// encodeHost keeps the CPU share and load in hundredths.
func encodeHost(h model.HostSample) string {
	return joinUints([]uint64{uint64(h.At), uint64(h.CPUPct*100 + 0.5), uint64(h.Load1*100 + 0.5),
		h.MemoryKiB, h.UsedKiB, uint64(h.Domains)})
}

func decodeHost(e string) (model.HostSample, bool) {
	f, ok := splitUints(e, 6)
	if !ok {
		return model.HostSample{}, false
	}
	return model.HostSample{At: int64(f[0]), CPUPct: float64(f[1]) / 100, Load1: float64(f[2]) / 100,
		MemoryKiB: f[3], UsedKiB: f[4], Domains: int(f[5])}, true
}

func joinUints(f []uint64) string {
	b := make([]byte, 0, 8*len(f))
	for i, v := range f {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendUint(b, v, 10)
	}
	return string(b)
}

func splitUints(e string, n int) ([]uint64, bool) {
	parts := strings.Fields(e)
	if len(parts) != n {
		return nil, false
	}
	f := make([]uint64, n)
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, false
		}
		f[i] = v
	}
	return f, true
}
