package compute

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

var update = flag.Bool("update", false, "rewrite testdata/lifecycle.txt from the table")

// triggers is every trigger there is: each API action, each job's done
// and failed, and the controller's findings.
func triggers() []Trigger {
	var ts []Trigger
	for _, a := range []Action{ActionStart, ActionStop, ActionReboot, ActionRebootHard, ActionPause, ActionUnpause,
		ActionSuspend, ActionResume, ActionLock, ActionUnlock, ActionSnapshot, ActionRebuild, ActionRescue, ActionUnrescue, ActionShelve, ActionOffload, ActionUnshelve, ActionSoftDelete, ActionRestore, ActionForceDelete, ActionDelete,
		ActionResize, ActionMigrate, ActionConfirm, ActionRevert} {
		ts = append(ts, Trigger{Kind: Request, Action: a})
	}
	for _, j := range []queue.JobKind{queue.JobBuild, queue.JobStart, queue.JobStop, queue.JobReboot, queue.JobPause,
		queue.JobUnpause, queue.JobSuspend, queue.JobResume, queue.JobSnapshot, queue.JobRebuild, queue.JobRescue, queue.JobUnrescue, queue.JobShelve, queue.JobOffload, queue.JobUnshelve,
		queue.JobSoftDelete, queue.JobRestore, queue.JobDelete, queue.JobResizeOut, queue.JobResizeIn, queue.JobConfirmMove,
		queue.JobRevertMove, queue.JobFinishRevert} {
		ts = append(ts, Trigger{Kind: Done, Job: j}, Trigger{Kind: Failed, Job: j}, Trigger{Kind: Progressed, Job: j})
	}
	for _, k := range []TriggerKind{Placed, Unplaced, Retry, TimedOut, PoweredOff, Vanished, ResetActive, ResetError} {
		ts = append(ts, Trigger{Kind: k})
	}
	return ts
}

// TestLifecycleEveryPair walks every (state, trigger) pair. What the table
// allows is written out in testdata/lifecycle.txt, so any change to the
// lifecycle shows in review (go test -run TestLifecycleEveryPair -update
// rewrites it); and whatever the table says, some rules must hold.
func TestLifecycleEveryPair(t *testing.T) {
	reach := reachable()
	var doc strings.Builder
	for _, vm := range vmStates {
		for _, task := range taskStates {
			from := State{vm, task}
			for _, by := range triggers() {
				next, err := Transition(from, by)
				if err != nil {
					checkRefusal(t, from, by, err, reach[from])
					continue
				}
				fmt.Fprintf(&doc, "%-28s %-22s -> %s", from, by, next.State)
				if next.Job != "" {
					fmt.Fprintf(&doc, " job=%s", next.Job)
					if next.Hard {
						doc.WriteString(" hard")
					}
				}
				if next.Record != "" {
					fmt.Fprintf(&doc, " action=%s", next.Record)
				}
				if next.Event != "" {
					fmt.Fprintf(&doc, " event=%s", next.Event)
				}
				if next.EndsScreen {
					doc.WriteString(" ends-screen")
				}
				doc.WriteString("\n")
				if !reach[from] {
					t.Errorf("%s on %s: a transition from a state no instance can reach", from, by)
				}
				checkTransition(t, from, by, next)
			}
		}
	}
	golden := "testdata/lifecycle.txt"
	if *update {
		if err := os.WriteFile(golden, []byte(doc.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if doc.String() != string(want) {
		t.Errorf("the lifecycle table differs from %s (rerun with -update and review the diff):\n%s", golden, doc.String())
	}
}

// reachable is every state an instance can be in: from POST /servers
// (building/scheduling), through any trigger.
func reachable() map[State]bool {
	seen := map[State]bool{{model.VMBuilding, model.TaskScheduling}: true}
	todo := []State{{model.VMBuilding, model.TaskScheduling}}
	for len(todo) > 0 {
		st := todo[0]
		todo = todo[1:]
		for _, by := range triggers() {
			if n, err := Transition(st, by); err == nil && !seen[n.State] {
				seen[n.State] = true
				todo = append(todo, n.State)
			}
		}
	}
	return seen
}

// checkRefusal: a request refused is 409 (404 for a deleted instance),
// anything else refused is ErrNoTransition.
func checkRefusal(t *testing.T, from State, by Trigger, err error, reachable bool) {
	t.Helper()
	switch {
	case by.Kind != Request:
		if !errors.Is(err, ErrNoTransition) {
			t.Errorf("%s on %s: %v, want ErrNoTransition", from, by, err)
		}
	case from.VM == model.VMDeleted:
		if !errors.Is(err, fault.ErrNotFound) {
			t.Errorf("%s on %s: %v, want not found", from, by, err)
		}
	default:
		if !errors.Is(err, fault.ErrConflict) || !strings.Contains(err.Error(), "vm_state "+string(from.VM)) {
			t.Errorf("%s on %s: %v, want a conflict naming the state", from, by, err)
		}
		if by.Action == ActionDelete && reachable {
			t.Errorf("delete refused from %s: delete must be allowed from every state", from)
		}
	}
}

// checkTransition holds every transition to the rules no row may break.
func checkTransition(t *testing.T, from State, by Trigger, next Next) {
	t.Helper()
	if from.VM == model.VMDeleted {
		t.Errorf("%s on %s: a deleted instance moved", from, by)
	}
	switch by.Kind {
	case Request:
		// A request only begins: vm_state changes when the host is done.
		if next.VM != from.VM {
			t.Errorf("%s on %s: a request changed vm_state to %s", from, by, next.VM)
		}
		if next.Job == "" {
			// Nothing runs on the host (lock, unlock): nothing changes.
			if next.State != from {
				t.Errorf("%s on %s: moved to %s with no job to finish it", from, by, next.State)
			}
			return
		}
		if next.Task == model.TaskNone {
			t.Errorf("%s on %s: job %s sent with no task waiting for it", from, by, next.Job)
		}
		// Every task a request begins is finished by its job's Done and
		// Failed (a scheduling job's: Placed and Unplaced), or by the jobs
		// those begin next (a move's steps on two hosts): nothing is left
		// in a task for ever.
		settles(t, from, by, next, 0)
		failedBy := Trigger{Kind: Failed, Job: next.Job}
		if next.Job == queue.JobSchedule {
			failedBy = Trigger{Kind: Unplaced}
		}
		failed, err := Transition(next.State, failedBy)
		// (A failed delete, rebuild, confirm or revert is ERROR, as Nova's.)
		lost := next.Job == queue.JobDelete || by.Action == ActionRebuild || by.Action == ActionConfirm || by.Action == ActionRevert
		if !lost && err == nil && failed.Job == "" && failed.VM != from.VM {
			t.Errorf("%s on %s: a failed %s leaves %s, want it back in %s", from, by, next.Job, failed.VM, from.VM)
		}
	case Progressed:
		if from.Task == model.TaskNone || next.Task == model.TaskNone || next.VM != from.VM {
			t.Errorf("%s on %s: progress must move a running task to its next step (got %s)", from, by, next.State)
		}
	case Done, Failed:
		if from.Task == model.TaskNone {
			t.Errorf("%s on %s: a job finished with no task waiting for it", from, by)
		}
		if next.Task != model.TaskNone && by != (Trigger{Kind: Failed, Job: queue.JobBuild}) && next.Job == "" {
			t.Errorf("%s on %s: a finished job left task %s with no job to end it", from, by, next.Task)
		}
	case ResetActive, ResetError:
		// (an admin's override: from any state, whatever runs)
	case PoweredOff, Vanished:
		if from.Task != model.TaskNone {
			t.Errorf("%s on %s: a host finding overrode a running task", from, by)
		}
	}
}

// settles checks that every way the job of next can end (Done and
// Failed; Placed and Unplaced for a scheduling job), and the jobs those
// begin, leads to no task within a few steps.
func settles(t *testing.T, from State, by Trigger, next Next, depth int) {
	t.Helper()
	if next.Task == model.TaskNone {
		return
	}
	if depth > 4 || next.Job == "" {
		t.Errorf("%s on %s: %s is left waiting (depth %d, job %q)", from, by, next.State, depth, next.Job)
		return
	}
	ends := []Trigger{{Kind: Done, Job: next.Job}, {Kind: Failed, Job: next.Job}}
	if next.Job == queue.JobSchedule {
		ends = []Trigger{{Kind: Placed}, {Kind: Unplaced}}
	}
	for _, end := range ends {
		after, err := Transition(next.State, end)
		if err != nil {
			t.Errorf("%s on %s: no way out of %s on %s", from, by, next.State, end)
			continue
		}
		if next.Job == queue.JobSchedule && end.Kind == Placed && by.Action == actionCreate {
			continue // a build's: checked from its own row
		}
		settles(t, from, by, after, depth+1)
	}
}

// TestTaskJobsMatchTheTable: the reconciler re-sends, for each task, the
// job the table's requests send for it.
func TestTaskJobsMatchTheTable(t *testing.T) {
	for e, n := range table {
		if e.by.Kind != Request || n.Job == "" {
			continue
		}
		job, hard, record := taskJob(n.State)
		if n.Record == string(ActionMigrate) || n.Record == string(ActionResize) {
			record = n.Record // resize and migrate share their tasks: either record
		}
		if job != n.Job || hard != n.Hard || record != n.Record {
			t.Errorf("task %s: re-sends %s hard=%v (%s), the request sent %s hard=%v (%s)", n.Task, job, hard, record,
				n.Job, n.Hard, n.Record)
		}
	}
}
