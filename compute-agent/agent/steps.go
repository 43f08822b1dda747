package agent

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// stepFunc reports that a build reached step, percent of the way through.
type stepFunc func(step model.BuildStep, percent int)

type stepsKey struct{}

// stepQuiet is how long a build runs before its steps are reported: a
// build done sooner (libvirt's test driver, a warm cache) shows nothing
// worth a progress bar and would only cost the controller events (the
// compute bench lost a third of its launch rate to them).
const stepQuiet = 500 * time.Millisecond

// withSteps returns ctx carrying the reporter of j's build steps: the
// controller shows them while the instance is BUILD. Other jobs that make
// disks (rebuild, unshelve) report nothing. A step reached in the first
// stepQuiet is held, and sent then if the build is still on it. A report
// is best effort: a lost one only leaves the bar where it was. The
// returned func ends the reporting (call it when the build returns).
func (a *Agent) withSteps(ctx context.Context, j queue.Job) (context.Context, func()) {
	if j.Kind != queue.JobBuild {
		return ctx, func() {}
	}
	send := func(step model.BuildStep, percent int) {
		_ = a.emit(ctx, queue.Event{Kind: queue.EventStep, Step: string(step), Percent: percent,
			InstanceID: j.InstanceID, ActionID: j.ActionID, RequestID: j.RequestID})
	}
	var mu sync.Mutex
	var held *queue.Event
	quiet, done := true, false
	timer := time.AfterFunc(stepQuiet, func() {
		mu.Lock()
		defer mu.Unlock()
		quiet = false
		if held != nil && !done {
			send(model.BuildStep(held.Step), held.Percent)
		}
		held = nil
	})
	report := stepFunc(func(step model.BuildStep, percent int) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		if quiet {
			held = &queue.Event{Step: string(step), Percent: percent}
			return
		}
		send(step, percent)
	})
	end := func() {
		mu.Lock()
		done = true
		mu.Unlock()
		timer.Stop()
	}
	return context.WithValue(ctx, stepsKey{}, report), end
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
