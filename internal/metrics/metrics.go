// Package metrics keeps the controller's own measurements and writes
// them in Prometheus's text exposition format (version 0.0.4), for the
// operators who already run Prometheus and Grafana. It is a few
// histograms and gauges, not a client library: the controller's set is
// small and fixed, and the format is plain text.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Labels are a sample's label names and values, in a fixed order.
type Labels []string // name, value, name, value ...

func (l Labels) String() string {
	if len(l) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(l); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l[i])
		b.WriteString(`="`)
		b.WriteString(escape(l[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func escape(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// Histogram counts observations into fixed buckets, per label set.
type Histogram struct {
	name, help string
	bounds     []float64
	mu         sync.Mutex
	series     map[string]*series
}

type series struct {
	labels Labels
	counts []uint64 // per bound, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

// NewHistogram returns a histogram with upper bounds (seconds, say).
func NewHistogram(name, help string, bounds []float64) *Histogram {
	return &Histogram{name: name, help: help, bounds: bounds, series: map[string]*series{}}
}

// LatencyBounds are the buckets of a request latency in seconds: 5 ms to
// 10 s.
var LatencyBounds = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Observe adds one observation with labels.
func (h *Histogram) Observe(labels Labels, v float64) {
	key := strings.Join(labels, "\x00")
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.series[key]
	if s == nil {
		s = &series{labels: append(Labels(nil), labels...), counts: make([]uint64, len(h.bounds)+1)}
		h.series[key] = s
	}
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v
	s.counts[i]++
	s.sum += v
	s.n++
}

// ObserveSince observes the seconds since t.
func (h *Histogram) ObserveSince(labels Labels, t time.Time) {
	h.Observe(labels, time.Since(t).Seconds())
}

// Write writes the histogram's samples.
func (h *Histogram) Write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", h.name, h.help, h.name)
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := make([]string, 0, len(h.series))
	for k := range h.series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := h.series[k]
		var cum uint64
		for i, b := range h.bounds {
			cum += s.counts[i]
			fmt.Fprintf(w, "%s_bucket%s %d\n", h.name, append(s.labels[:len(s.labels):len(s.labels)], "le", num(b)), cum)
		}
		fmt.Fprintf(w, "%s_bucket%s %d\n", h.name, append(s.labels[:len(s.labels):len(s.labels)], "le", "+Inf"), s.n)
		fmt.Fprintf(w, "%s_sum%s %s\n%s_count%s %d\n", h.name, s.labels, num(s.sum), h.name, s.labels, s.n)
	}
}

// Gauge writes one gauge family of samples taken now.
func Gauge(w io.Writer, name, help string, samples ...Sample) {
	family(w, name, help, "gauge", samples)
}

// Counter writes one counter family of samples taken now.
func Counter(w io.Writer, name, help string, samples ...Sample) {
	family(w, name, help, "counter", samples)
}

// Sample is one value of a family.
type Sample struct {
	Labels Labels
	Value  float64
}

func family(w io.Writer, name, help, typ string, samples []Sample) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	for _, s := range samples {
		fmt.Fprintf(w, "%s%s %s\n", name, s.Labels, num(s.Value))
	}
}

func num(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
