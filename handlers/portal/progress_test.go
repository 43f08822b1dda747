package portal_test

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

var progressRe = regexp.MustCompile(`data-testid="build-step">([^<]*)<.*?aria-valuenow="(\d+)"`)

// TestBuildProgress: a build's steps move its progress forward, never
// back. The instance is placed on a host whose agent was killed, so the
// test plays the agent's step events itself: the instance page's bar
// follows (the API's progress stays 0, as Nova's); a late, repeated or
// foreign report changes nothing.
func TestBuildProgress(t *testing.T) {
	tc := controllertest.New(t, nil)
	agent := tc.StartAgent(t, "p1")
	tc.WaitHosts(t, 1)
	agent.Kill()
	demo := tc.DemoToken(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "slow", "flavorRef": "1", "imageRef": tc.ActiveImage(t)})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	var action int64
	controllertest.WaitFor(t, 10*time.Second, "placed on p1", func() bool {
		_, _, host, a := tc.InstanceRow(t, id)
		action = a
		return host == "p1"
	})
	b := tc.NewFormClient(t)
	b.Login("demo", tc.DemoPass)
	check := func(what, wantStep string, wantProgress int) {
		t.Helper()
		s := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
		// The API's progress stays 0, as Nova's: the CLI's --wait would
		// print any other value into its -f json output.
		if s["status"] != "BUILD" || s["progress"] != 0.0 {
			t.Errorf("%s: API status %v progress %v, want BUILD 0", what, s["status"], s["progress"])
		}
		m := progressRe.FindStringSubmatch(b.Get("/project/instances/" + id).Body)
		if m == nil || m[1] != wantStep || m[2] != strconv.Itoa(wantProgress) {
			t.Errorf("%s: the page shows %q, want step %q at %d", what, m, wantStep, wantProgress)
		}
	}
	check("placed", "Scheduled on a host", 5)

	apply := func(step model.BuildStep, percent int, host string) {
		t.Helper()
		err := tc.Server.Compute().ApplyEvent(context.Background(), queue.Event{V: queue.Version, Kind: queue.EventStep,
			Step: string(step), Percent: percent, InstanceID: id, ActionID: action, Host: host, At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
	apply(model.StepDownloading, 50, "p1")
	check("half downloaded", "Downloading image", model.StepDownloading.Progress(50))
	apply(model.StepDownloading, 20, "p1") // late
	apply(model.StepNetworking, 0, "p1")   // an earlier step, redelivered
	apply(model.StepStarting, 0, "p2")     // a host that had an earlier attempt
	apply("no_such_step", 0, "p1")
	check("after stale reports", "Downloading image", model.StepDownloading.Progress(50))
	apply(model.StepStarting, 0, "p1")
	check("starting", "Starting", 85)
}

// TestBuildStepsInCatalogue: every build step has its words in the
// catalogue (the page builds the key from the step).
func TestBuildStepsInCatalogue(t *testing.T) {
	for _, s := range model.BuildSteps() {
		if !i18n.Has("instances.step." + string(s)) {
			t.Errorf("the catalogue lacks instances.step.%s", s)
		}
	}
}
