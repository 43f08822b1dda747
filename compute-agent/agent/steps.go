package agent

import (
	"context"
	"io"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// stepFunc reports that a build reached step, percent of the way through.
type stepFunc func(step model.BuildStep, percent int)

type stepsKey struct{}

// withSteps returns ctx carrying the reporter of j's build steps: the
// controller shows them while the instance is BUILD. Other jobs that make
// disks (rebuild, unshelve) report nothing. A report is best effort: a
// lost one only leaves the bar where it was.
func (a *Agent) withSteps(ctx context.Context, j queue.Job) context.Context {
	if j.Kind != queue.JobBuild {
		return ctx
	}
	report := stepFunc(func(step model.BuildStep, percent int) {
		_ = a.emit(ctx, queue.Event{Kind: queue.EventStep, Step: string(step), Percent: percent,
			InstanceID: j.InstanceID, ActionID: j.ActionID, RequestID: j.RequestID})
	})
	return context.WithValue(ctx, stepsKey{}, report)
}

// step reports a step through ctx's reporter, if it has one.
func step(ctx context.Context, s model.BuildStep, percent int) {
	if f, ok := ctx.Value(stepsKey{}).(stepFunc); ok {
		f(s, percent)
	}
}

// downloadReporter counts the bytes of an image download and reports
// StepDownloading's percent of total: at a whole 5 % more, and at most
// about once a second, so a fast download on a fast link costs a handful
// of events.
type downloadReporter struct {
	ctx        context.Context
	total, got int64
	sent       int
	at         time.Time
}

func newDownloadReporter(ctx context.Context, total int64) io.Writer {
	step(ctx, model.StepDownloading, 0)
	return &downloadReporter{ctx: ctx, total: total, sent: 0, at: time.Now()}
}

func (d *downloadReporter) Write(p []byte) (int, error) {
	d.got += int64(len(p))
	if d.total <= 0 {
		return len(p), nil
	}
	pct := int(d.got * 100 / d.total)
	if pct >= d.sent+5 && time.Since(d.at) >= time.Second || pct == 100 && d.sent < 100 {
		d.sent, d.at = pct, time.Now()
		step(d.ctx, model.StepDownloading, pct)
	}
	return len(p), nil
}
