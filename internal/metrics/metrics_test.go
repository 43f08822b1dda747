package metrics

import (
	"strings"
	"testing"
)

// TestExposition: the text is Prometheus's: cumulative buckets ending in
// +Inf equal to the count, a sum, escaped label values, HELP and TYPE.
func TestExposition(t *testing.T) {
	h := NewHistogram("x_seconds", "How long.", []float64{0.1, 1})
	h.Observe(Labels{"route", `/a"b`}, 0.05)
	h.Observe(Labels{"route", `/a"b`}, 0.5)
	h.Observe(Labels{"route", `/a"b`}, 3)
	var b strings.Builder
	h.Write(&b)
	Gauge(&b, "y", "Things.", Sample{Labels{"state", "active"}, 2}, Sample{nil, 1.5})
	want := `# HELP x_seconds How long.
# TYPE x_seconds histogram
x_seconds_bucket{route="/a\"b",le="0.1"} 1
x_seconds_bucket{route="/a\"b",le="1"} 2
x_seconds_bucket{route="/a\"b",le="+Inf"} 3
x_seconds_sum{route="/a\"b"} 3.55
x_seconds_count{route="/a\"b"} 3
# HELP y Things.
# TYPE y gauge
y{state="active"} 2
y 1.5
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
