package views

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/stats"
)

// Monitoring is an instance's Monitoring tab: its charts over Range.
type Monitoring struct {
	InstanceID string
	Range      string // "1h" or "24h"
	Charts     []Chart
	Running    bool // false: nothing new will come (the charts show the past)
}

// Chart is one server-drawn chart: up to two lines over the range's
// window, scaled to Top.
type Chart struct {
	Key   string // cpu, memory, disk, net
	Title string // already translated
	Top   string // the y axis' top, formatted
	Lines []ChartLine
}

// ChartLine is one series: its SVG path (in a 600x120 box) and its
// newest value, formatted.
type ChartLine struct {
	Label, Color, Path, Now string
}

// The charts' box, in SVG units.
const chartW, chartH = 600.0, 120.0

// MonitoringCharts draws points (oldest first) over the window (seconds)
// that ends at end. memTopKiB is the instance's memory, the memory
// chart's top.
func MonitoringCharts(ctx context.Context, points []stats.Point, window, end int64, memTopKiB float64) []Chart {
	if len(points) == 0 {
		return nil
	}
	start := end - window
	x := func(at int64) float64 { return chartW * float64(at-start) / float64(window) }
	path := func(val func(stats.Point) float64, top float64) string {
		var b strings.Builder
		for _, p := range points {
			if p.At < start {
				continue
			}
			// 4 units kept above and below, so a line at 0 or at the
			// top is not hidden by the frame.
			y := chartH - 4 - (chartH-8)*min(val(p), top)/top
			if p.Gap || b.Len() == 0 {
				// A new line starts with a zero-length stroke: with round
				// caps a lone point still shows, as a dot.
				fmt.Fprintf(&b, "M%.1f %.1f l0 0 ", x(p.At), y)
				continue
			}
			fmt.Fprintf(&b, "L%.1f %.1f ", x(p.At), y)
		}
		return strings.TrimSpace(b.String())
	}
	last := points[len(points)-1]
	perSecond := func(v float64) string { return t(ctx, "monitoring.per_second", imageSizeText(ctx, int64(v))) }
	ioChart := func(key string, rd, wr func(stats.Point) float64, rdLabel, wrLabel string) Chart {
		top := 1024.0 // at least 1 KiB/s, so an idle disk is a flat line at the bottom
		for _, p := range points {
			top = max(top, rd(p), wr(p))
		}
		return Chart{Key: key, Title: t(ctx, "monitoring."+key), Top: perSecond(top), Lines: []ChartLine{
			{Label: t(ctx, rdLabel), Color: "#0284c7", Path: path(rd, top), Now: perSecond(rd(last))},
			{Label: t(ctx, wrLabel), Color: "#d97706", Path: path(wr, top), Now: perSecond(wr(last))},
		}}
	}
	memTop := max(memTopKiB, 1)
	for _, p := range points {
		memTop = max(memTop, p.MemKiB)
	}
	return []Chart{
		{Key: "cpu", Title: t(ctx, "monitoring.cpu"), Top: "100%", Lines: []ChartLine{{Label: t(ctx, "monitoring.cpu_used"),
			Color: "#0284c7", Path: path(func(p stats.Point) float64 { return p.CPUPct }, 100),
			Now: strconv.FormatFloat(last.CPUPct, 'f', 1, 64) + "%"}}},
		{Key: "memory", Title: t(ctx, "monitoring.memory"), Top: imageSizeText(ctx, int64(memTop*1024)), Lines: []ChartLine{{
			Label: t(ctx, "monitoring.memory_used"), Color: "#7c3aed",
			Path: path(func(p stats.Point) float64 { return p.MemKiB }, memTop), Now: imageSizeText(ctx, int64(last.MemKiB*1024))}}},
		ioChart("disk", func(p stats.Point) float64 { return p.DiskRead }, func(p stats.Point) float64 { return p.DiskWrite },
			"monitoring.read", "monitoring.write"),
		ioChart("net", func(p stats.Point) float64 { return p.NetRx }, func(p stats.Point) float64 { return p.NetTx },
			"monitoring.received", "monitoring.sent"),
	}
}
