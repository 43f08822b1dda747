package agent

import (
	"context"
	"slices"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

// TestDownloadReporter: a download reports its start, at most about once
// a second on the way, and its end; nothing without a known length.
func TestDownloadReporter(t *testing.T) {
	var got []int
	ctx := context.WithValue(context.Background(), stepsKey{}, stepFunc(func(s model.BuildStep, pct int) {
		if s != model.StepDownloading {
			t.Errorf("step %s", s)
		}
		got = append(got, pct)
	}))
	w := newDownloadReporter(ctx, 1000)
	for i := 0; i < 100; i++ {
		w.Write(make([]byte, 10))
	}
	if want := []int{0, 100}; !slices.Equal(got, want) {
		t.Errorf("a fast download reported %v, want %v", got, want)
	}
	got = nil
	w = newDownloadReporter(ctx, -1) // no Content-Length
	w.Write(make([]byte, 10))
	if want := []int{0}; !slices.Equal(got, want) {
		t.Errorf("a download of unknown length reported %v, want %v", got, want)
	}
	// Without a reporter (not a build) nothing happens.
	newDownloadReporter(context.Background(), 10).Write(make([]byte, 10))
}
