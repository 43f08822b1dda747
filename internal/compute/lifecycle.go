package compute

import (
	"fmt"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// The lifecycle, as Nova's (vm_state / task_state). Every change of an
// instance's state goes through Transition: an API request begins a task
// and names the job its host is sent; the host's report that the job is
// done (or failed) finishes it; the scheduler, the power sync and the
// reconciler move instances through the same table.
//
//	POST /servers ──> building/scheduling ──(Placed)──> building/spawning ──Done(build)──> active
//	                        │                                 │   └──Retry──> building/scheduling
//	                        └──────(Unplaced, TimedOut)───────┴──Failed(build)──> error
//
//	active ──stop──> stopped ──start──> active        active ──pause──> paused ──unpause──> active
//	active ──reboot──> active                         active ──suspend──> suspended ──resume──> active
//	any ──delete──> deleted (Failed: error)
//
// While a task runs, vm_state stays where it began; Done sets the op's
// end state, Failed returns to the state it began from with no task
// (Nova's revert of task_state), except a failed delete (error) and a
// failed build (error, or another host).

// Action is something the API asks of an instance.
type Action string

// The actions the API offers.
const (
	ActionStart       Action = "start"
	ActionStop        Action = "stop"
	ActionReboot      Action = "reboot"
	ActionRebootHard  Action = "reboot_hard"
	ActionDelete      Action = "delete"
	ActionPause       Action = "pause"
	ActionUnpause     Action = "unpause"
	ActionSuspend     Action = "suspend"
	ActionResume      Action = "resume"
	ActionLock        Action = "lock"
	ActionUnlock      Action = "unlock"
	ActionSnapshot    Action = "createImage"
	ActionRebuild     Action = "rebuild"
	ActionRescue      Action = "rescue"
	ActionUnrescue    Action = "unrescue"
	ActionShelve      Action = "shelve"
	ActionOffload     Action = "shelveOffload"
	ActionUnshelve    Action = "unshelve"
	ActionSoftDelete  Action = "softDelete" // DELETE when soft delete is on (NIMBUS_RECLAIM_INSTANCE_INTERVAL)
	ActionRestore     Action = "restore"
	ActionForceDelete Action = "forceDelete"
	ActionResize      Action = "resize"
	ActionMigrate     Action = "migrate" // an admin's cold migration: a resize to the same flavor, another host
	ActionConfirm     Action = "confirmResize"
	ActionRevert      Action = "revertResize"
	actionCreate      Action = "create" // POST /servers; not an action on an existing instance
)

// State is where an instance is.
type State struct {
	VM   model.VMState
	Task model.TaskState
}

func (s State) String() string {
	task := string(s.Task)
	if task == "" {
		task = "None"
	}
	return string(s.VM) + "/" + task
}

// Trigger is what moves an instance.
type Trigger struct {
	Kind   TriggerKind
	Action Action        // Request
	Job    queue.JobKind // Done, Failed
}

// TriggerKind says where a trigger comes from.
type TriggerKind int

// Triggers.
const (
	Request     TriggerKind = iota // the API asks Action
	Done                           // the host finished Job
	Progressed                     // Job reached its next step
	Failed                         // the host failed Job, or it was given up on
	Placed                         // the scheduler claimed a host for the build
	Unplaced                       // no host could take the build
	Retry                          // the build failed where another host may not: schedule again
	TimedOut                       // the build passed its deadline
	PoweredOff                     // the power sync found the guest off by itself
	Vanished                       // the host's inventory no longer has the domain
	ResetActive                    // an admin's os-resetState to active
	ResetError                     // an admin's os-resetState to error
)

func (t Trigger) String() string {
	switch t.Kind {
	case Request:
		return "request " + string(t.Action)
	case Done:
		return "done " + string(t.Job)
	case Failed:
		return "failed " + string(t.Job)
	case Progressed:
		return "progressed " + string(t.Job)
	}
	return [...]string{Placed: "placed", Unplaced: "unplaced", Retry: "retry", TimedOut: "timed out",
		PoweredOff: "powered off", Vanished: "vanished", ResetActive: "reset to active", ResetError: "reset to error"}[t.Kind]
}

// Next is what a transition does.
type Next struct {
	State
	// Job is what the host is sent (Request; "" when nothing runs on the
	// host: lock, unlock); Hard goes with a reboot job.
	Job  queue.JobKind
	Hard bool
	// Record is the instance action (os-instance-actions) a request
	// records and Event the Nova event name its job's step has.
	Record string
	Event  string
	// EndsScreen says the instance's VNC server goes away (or is
	// replaced): its console tokens are revoked and open consoles closed.
	EndsScreen bool
}

// op is one operation: an API action, the task it sets, the job its
// host runs and where it ends. Every row becomes table entries below.
type op struct {
	action Action
	from   []model.VMState // with no task running
	task   model.TaskState
	// steps are the tasks the job moves through after task, one per
	// Progressed report (a snapshot's pending upload, then upload).
	steps []model.TaskState
	job   queue.JobKind
	hard  bool
	done  model.VMState
	// doneFrom overrides done for some starting states; failed is where
	// a failed job leaves the instance ("": where it began).
	doneFrom map[model.VMState]model.VMState
	failed   model.VMState
	record   string // instance action name, when not the action's
	event    string // Nova's event name, when not compute_<record>_instance
	// endsScreen: the request ends the screen at once (revoked when the
	// request is taken); endsOnDone: when the host is done.
	endsScreen, endsOnDone bool
}

var (
	// settled is every vm_state an instance can rest in (with no task).
	settled = []model.VMState{model.VMActive, model.VMStopped, model.VMPaused, model.VMSuspend, model.VMRescued,
		model.VMShelved, model.VMShelvedOffloaded, model.VMSoftDeleted, model.VMResized, model.VMError}
	// vmStates and taskStates are every state the table knows.
	vmStates   = append([]model.VMState{model.VMBuilding}, append(append([]model.VMState{}, settled...), model.VMDeleted)...)
	taskStates = []model.TaskState{model.TaskNone, model.TaskScheduling, model.TaskSpawning, model.TaskPoweringOff,
		model.TaskPoweringOn, model.TaskRebooting, model.TaskRebootingHard, model.TaskDeleting, model.TaskPausing,
		model.TaskUnpausing, model.TaskSuspending, model.TaskResuming, model.TaskImageSnapshot, model.TaskImagePendingUpload,
		model.TaskImageUploading, model.TaskRebuilding, model.TaskRescuing, model.TaskUnrescuing, model.TaskShelving,
		model.TaskShelvingImagePendingUpload, model.TaskShelvingImageUploading, model.TaskShelvingOffloading,
		model.TaskUnshelving, model.TaskSoftDeleting, model.TaskRestoring, model.TaskResizePrep, model.TaskResizeMigrating,
		model.TaskResizeFinish, model.TaskResizeConfirming, model.TaskResizeReverting}
)

// ops are the operations. The allowed starting states are Nova's
// check_instance_state for each API.
var ops = []op{
	{action: actionCreate, task: model.TaskSpawning, job: queue.JobBuild, done: model.VMActive,
		event: "compute__do_build_and_run_instance"},
	{action: ActionStart, from: vms(model.VMStopped), task: model.TaskPoweringOn, job: queue.JobStart, done: model.VMActive},
	{action: ActionStop, from: vms(model.VMActive, model.VMError), task: model.TaskPoweringOff, job: queue.JobStop,
		done: model.VMStopped, endsScreen: true},
	{action: ActionReboot, from: vms(model.VMActive), task: model.TaskRebooting, job: queue.JobReboot, done: model.VMActive},
	// A hard reboot starts a new VNC server; it may also be asked while a
	// soft reboot (or another hard one) is in progress, as Nova allows.
	{action: ActionRebootHard, from: vms(model.VMActive, model.VMStopped, model.VMPaused, model.VMSuspend, model.VMError),
		task: model.TaskRebootingHard, job: queue.JobReboot, hard: true, done: model.VMActive, record: "reboot", endsScreen: true},
	{action: ActionPause, from: vms(model.VMActive), task: model.TaskPausing, job: queue.JobPause, done: model.VMPaused},
	{action: ActionUnpause, from: vms(model.VMPaused), task: model.TaskUnpausing, job: queue.JobUnpause, done: model.VMActive},
	// Suspend saves the guest's memory to disk and ends its QEMU process,
	// and with it the VNC server.
	{action: ActionSuspend, from: vms(model.VMActive), task: model.TaskSuspending, job: queue.JobSuspend,
		done: model.VMSuspend, endsOnDone: true},
	{action: ActionResume, from: vms(model.VMSuspend), task: model.TaskResuming, job: queue.JobResume, done: model.VMActive},
	// A snapshot leaves the instance as it was.
	{action: ActionSnapshot, from: vms(model.VMActive, model.VMStopped, model.VMPaused, model.VMSuspend),
		task: model.TaskImageSnapshot, steps: []model.TaskState{model.TaskImagePendingUpload, model.TaskImageUploading},
		job: queue.JobSnapshot, event: "compute_snapshot_instance"},
	// A rebuild leaves a stopped instance stopped (Nova preserves the power
	// state) and repairs one in ERROR; a failed rebuild is ERROR, its old
	// disk gone.
	{action: ActionRebuild, from: vms(model.VMActive, model.VMStopped, model.VMError), task: model.TaskRebuilding,
		job: queue.JobRebuild, done: model.VMActive, doneFrom: map[model.VMState]model.VMState{model.VMStopped: model.VMStopped},
		failed: model.VMError, event: "compute_rebuild_instance", endsScreen: true},
	// Rescue boots another disk: a new VNC server each way.
	{action: ActionRescue, from: vms(model.VMActive, model.VMStopped, model.VMError), task: model.TaskRescuing,
		job: queue.JobRescue, done: model.VMRescued, endsScreen: true},
	{action: ActionUnrescue, from: vms(model.VMRescued), task: model.TaskUnrescuing, job: queue.JobUnrescue,
		done: model.VMActive, endsScreen: true},
	// Shelve: a snapshot (Nova's shelving_* steps), then power off; the
	// domain stays until offloaded (at once, or after
	// NIMBUS_SHELVED_OFFLOAD_TIME), which frees the host.
	{action: ActionShelve, from: vms(model.VMActive, model.VMStopped, model.VMPaused, model.VMSuspend),
		task: model.TaskShelving, steps: []model.TaskState{model.TaskShelvingImagePendingUpload, model.TaskShelvingImageUploading},
		job: queue.JobShelve, done: model.VMShelved, endsOnDone: true},
	{action: ActionOffload, from: vms(model.VMShelved), task: model.TaskShelvingOffloading, job: queue.JobOffload,
		done: model.VMShelvedOffloaded, event: "compute_shelve_offload_instance"},
	{action: ActionUnshelve, from: vms(model.VMShelved), task: model.TaskUnshelving, job: queue.JobUnshelve,
		done: model.VMActive},
	// Soft delete: off, restorable until reclaimed (then deleted for good)
	// or force-deleted.
	{action: ActionSoftDelete, from: vms(model.VMActive, model.VMStopped, model.VMPaused, model.VMSuspend, model.VMError),
		task: model.TaskSoftDeleting, job: queue.JobSoftDelete, done: model.VMSoftDeleted, record: "delete",
		event: "compute_soft_delete_instance", endsScreen: true},
	{action: ActionRestore, from: vms(model.VMSoftDeleted), task: model.TaskRestoring, job: queue.JobRestore,
		done: model.VMActive},
	// Lock and unlock change a flag, not the state; nothing runs on the host.
	{action: ActionLock, from: settled},
	{action: ActionUnlock, from: settled},
	{action: ActionDelete, from: settled, task: model.TaskDeleting, job: queue.JobDelete, done: model.VMDeleted,
		failed: model.VMError, endsScreen: true},
}

func vms(v ...model.VMState) []model.VMState { return v }

type edge struct {
	from State
	by   Trigger
}

// table is ops spelled out: every allowed (state, trigger) and its next
// state. Transition answers from it alone; testdata/lifecycle.txt shows
// it whole.
var table = buildTable()

func buildTable() map[edge]Next {
	t := map[edge]Next{}
	add := func(from State, by Trigger, n Next) {
		if _, dup := t[edge{from, by}]; dup {
			panic(fmt.Sprintf("lifecycle: two transitions from %s on %s", from, by))
		}
		t[edge{from, by}] = n
	}
	for _, o := range ops {
		record := o.record
		if record == "" {
			record = string(o.action)
		}
		event := o.event
		if event == "" && o.job != "" {
			event = "compute_" + record + "_instance"
		}
		for _, vm := range o.from {
			// (Lock and unlock, with no task, stay where they are.)
			add(State{vm, model.TaskNone}, Trigger{Kind: Request, Action: o.action},
				Next{State: State{vm, o.task}, Job: o.job, Hard: o.hard, Record: record, Event: event, EndsScreen: o.endsScreen})
			if o.task == model.TaskNone {
				continue
			}
			// Failed returns to where the task began, from any step.
			failed := Next{State: State{vm, model.TaskNone}, Record: record, Event: event}
			if o.failed != "" {
				failed.VM = o.failed
			}
			prev := o.task
			for _, step := range o.steps {
				add(State{vm, prev}, Trigger{Kind: Progressed, Job: o.job}, Next{State: State{vm, step}, Record: record, Event: event})
				prev = step
			}
			for _, task := range append([]model.TaskState{o.task}, o.steps...) {
				add(State{vm, task}, Trigger{Kind: Failed, Job: o.job}, failed)
			}
		}
		if o.task == model.TaskNone {
			continue
		}
		// Done: from the task, whatever vm_state it began in.
		begun := o.from
		if o.action == actionCreate {
			begun = vms(model.VMBuilding) // begun by the scheduler (Placed)
		}
		for _, vm := range begun {
			done := o.done
			if d, ok := o.doneFrom[vm]; ok {
				done = d
			}
			if done == "" {
				done = vm // the job leaves the instance as it was
			}
			for _, task := range append([]model.TaskState{o.task}, o.steps...) {
				add(State{vm, task}, Trigger{Kind: Done, Job: o.job},
					Next{State: State{done, model.TaskNone}, Record: record, Event: event, EndsScreen: o.endsOnDone || o.endsScreen})
			}
		}
	}
	// A hard reboot may replace a soft one (or a hard one) in progress.
	hard := t[edge{State{model.VMActive, model.TaskNone}, Trigger{Kind: Request, Action: ActionRebootHard}}]
	for _, task := range []model.TaskState{model.TaskRebooting, model.TaskRebootingHard} {
		add(State{model.VMActive, task}, Trigger{Kind: Request, Action: ActionRebootHard}, hard)
	}
	// The build's controller steps.
	sched := "conductor_schedule_and_build_instances"
	add(State{model.VMBuilding, model.TaskScheduling}, Trigger{Kind: Placed},
		Next{State: State{model.VMBuilding, model.TaskSpawning}, Job: queue.JobBuild, Record: "create", Event: sched})
	add(State{model.VMBuilding, model.TaskScheduling}, Trigger{Kind: Unplaced},
		Next{State: State{model.VMError, model.TaskNone}, Record: "create", Event: sched})
	add(State{model.VMBuilding, model.TaskSpawning}, Trigger{Kind: Failed, Job: queue.JobBuild},
		Next{State: State{model.VMError, model.TaskNone}, Record: "create", Event: "compute__do_build_and_run_instance"})
	add(State{model.VMBuilding, model.TaskSpawning}, Trigger{Kind: Retry},
		Next{State: State{model.VMBuilding, model.TaskScheduling}, Record: "create", Event: sched})
	for _, task := range []model.TaskState{model.TaskScheduling, model.TaskSpawning} {
		add(State{model.VMBuilding, task}, Trigger{Kind: TimedOut},
			Next{State: State{model.VMError, model.TaskNone}, Record: "create", Event: sched})
	}
	// Unshelving an offloaded instance schedules it like a build, onto
	// any host, from its shelved snapshot; without a host it stays
	// offloaded.
	off := model.VMShelvedOffloaded
	unshelve := "compute_unshelve_instance"
	add(State{off, model.TaskNone}, Trigger{Kind: Request, Action: ActionUnshelve},
		Next{State: State{off, model.TaskUnshelving}, Job: queue.JobSchedule, Record: "unshelve", Event: sched})
	add(State{off, model.TaskUnshelving}, Trigger{Kind: Placed},
		Next{State: State{off, model.TaskSpawning}, Job: queue.JobBuild, Record: "unshelve", Event: sched})
	add(State{off, model.TaskUnshelving}, Trigger{Kind: Unplaced}, Next{State: State{off, model.TaskNone}, Record: "unshelve", Event: sched})
	add(State{off, model.TaskSpawning}, Trigger{Kind: Done, Job: queue.JobBuild},
		Next{State: State{model.VMActive, model.TaskNone}, Record: "unshelve", Event: unshelve})
	add(State{off, model.TaskSpawning}, Trigger{Kind: Failed, Job: queue.JobBuild},
		Next{State: State{off, model.TaskNone}, Record: "unshelve", Event: unshelve})
	add(State{off, model.TaskSpawning}, Trigger{Kind: Retry},
		Next{State: State{off, model.TaskUnshelving}, Record: "unshelve", Event: sched})
	moveRows(add)
	// What the hosts find: a guest that stopped by itself (Nova's power
	// sync stops ACTIVE and PAUSED instances whose guest is off), a
	// domain that is gone.
	for _, vm := range []model.VMState{model.VMActive, model.VMPaused} {
		add(State{vm, model.TaskNone}, Trigger{Kind: PoweredOff},
			Next{State: State{model.VMStopped, model.TaskNone}, EndsScreen: true})
	}
	for _, vm := range []model.VMState{model.VMActive, model.VMStopped, model.VMPaused, model.VMSuspend, model.VMRescued,
		model.VMResized} {
		add(State{vm, model.TaskNone}, Trigger{Kind: Vanished}, Next{State: State{model.VMError, model.TaskNone}, EndsScreen: true})
	}
	// forceDelete deletes a soft-deleted instance (as delete does).
	add(State{model.VMSoftDeleted, model.TaskNone}, Trigger{Kind: Request, Action: ActionForceDelete},
		t[edge{State{model.VMSoftDeleted, model.TaskNone}, Trigger{Kind: Request, Action: ActionDelete}}])
	// An admin's os-resetState puts any instance but a deleted one in
	// ACTIVE or ERROR with no task, whatever was running: the way out of
	// a state nothing else leaves (Nova's reset-state).
	resettable := map[State]bool{}
	for e, n := range t {
		resettable[e.from] = true
		if n.VM != model.VMDeleted {
			resettable[n.State] = true
		}
	}
	for st := range resettable {
		add(st, Trigger{Kind: ResetActive}, Next{State: State{model.VMActive, model.TaskNone}, EndsScreen: true})
		add(st, Trigger{Kind: ResetError}, Next{State: State{model.VMError, model.TaskNone}, EndsScreen: true})
	}
	// Delete, lock and unlock may be asked at any time but after
	// deletion, whatever runs. Delete's job supersedes the running task's;
	// asked again while deleting, the job is sent again (the first may
	// have been lost).
	busy := map[State]bool{}
	for _, n := range t {
		if n.Task != model.TaskNone {
			busy[n.State] = true
		}
	}
	busy[State{model.VMBuilding, model.TaskDeleting}] = true // a building instance deleted
	del := t[edge{State{model.VMActive, model.TaskDeleting}, Trigger{Kind: Done, Job: queue.JobDelete}}]
	delFailed := t[edge{State{model.VMActive, model.TaskDeleting}, Trigger{Kind: Failed, Job: queue.JobDelete}}]
	add(State{model.VMBuilding, model.TaskDeleting}, Trigger{Kind: Done, Job: queue.JobDelete}, del)
	add(State{model.VMBuilding, model.TaskDeleting}, Trigger{Kind: Failed, Job: queue.JobDelete}, delFailed)
	for st := range busy {
		for _, a := range []Action{ActionDelete, ActionLock, ActionUnlock} {
			n := Next{State: st, Record: string(a)}
			if a == ActionDelete {
				n = Next{State: State{st.VM, model.TaskDeleting}, Job: queue.JobDelete, Record: "delete",
					Event: "compute_delete_instance", EndsScreen: true}
			}
			add(st, Trigger{Kind: Request, Action: a}, n)
		}
	}
	return t
}

// moveEvents are the Nova event names of a resize's (or migration's)
// steps, by the job that does each.
var moveEvents = map[queue.JobKind]string{queue.JobSchedule: "conductor_migrate_server",
	queue.JobResizeOut: "compute_resize_instance", queue.JobResizeIn: "compute_finish_resize",
	queue.JobConfirmMove: "compute_confirm_resize", queue.JobRevertMove: "compute_revert_resize",
	queue.JobFinishRevert: "compute_finish_revert_resize"}

// moveRows are a resize's and a cold migration's transitions. They span
// two hosts, so a finished step may begin the next (a Next with a Job
// from Done or Failed): the source sends the disk out (resize_migrating),
// the destination starts it (resize_finish) and the instance waits in
// RESIZED (VERIFY_RESIZE) for confirm (the source's copy goes) or revert
// (the destination's copy goes, then the source starts its own again). A
// destination that fails to start the copy is reverted the same way.
// Every Done and Failed names the event of the job that ended.
func moveRows(add func(State, Trigger, Next)) {
	next := func(vm model.VMState, task model.TaskState, job queue.JobKind, event queue.JobKind, record string) Next {
		return Next{State: State{vm, task}, Job: job, Record: record, Event: moveEvents[event]}
	}
	done := func(j queue.JobKind) Trigger { return Trigger{Kind: Done, Job: j} }
	failed := func(j queue.JobKind) Trigger { return Trigger{Kind: Failed, Job: j} }
	for _, vm := range []model.VMState{model.VMActive, model.VMStopped} {
		for _, a := range []Action{ActionResize, ActionMigrate} {
			n := next(vm, model.TaskResizePrep, queue.JobSchedule, queue.JobSchedule, string(a))
			n.EndsScreen = true // the guest moves: its console with it
			add(State{vm, model.TaskNone}, Trigger{Kind: Request, Action: a}, n)
		}
		prep, out, fin, back := State{vm, model.TaskResizePrep}, State{vm, model.TaskResizeMigrating},
			State{vm, model.TaskResizeFinish}, State{vm, model.TaskResizeReverting}
		add(prep, Trigger{Kind: Placed}, next(vm, model.TaskResizeMigrating, queue.JobResizeOut, queue.JobResizeOut, "resize"))
		add(prep, Trigger{Kind: Unplaced}, next(vm, model.TaskNone, "", queue.JobSchedule, "resize"))
		add(out, done(queue.JobResizeOut), next(vm, model.TaskResizeFinish, queue.JobResizeIn, queue.JobResizeOut, "resize"))
		// The source started its guest again before it reported failure.
		add(out, failed(queue.JobResizeOut), next(vm, model.TaskNone, "", queue.JobResizeOut, "resize"))
		add(fin, done(queue.JobResizeIn), next(model.VMResized, model.TaskNone, "", queue.JobResizeIn, "resize"))
		add(fin, failed(queue.JobResizeIn), next(vm, model.TaskResizeReverting, queue.JobFinishRevert, queue.JobResizeIn, "resize"))
		add(back, done(queue.JobFinishRevert), next(vm, model.TaskNone, "", queue.JobFinishRevert, "resize"))
		add(back, failed(queue.JobFinishRevert), next(model.VMError, model.TaskNone, "", queue.JobFinishRevert, "resize"))
	}
	// From VERIFY_RESIZE. Done ends ACTIVE; the move's effects make it
	// STOPPED when the guest reported off (Nova's power-state rule).
	resized := model.VMResized
	add(State{resized, model.TaskNone}, Trigger{Kind: Request, Action: ActionConfirm},
		next(resized, model.TaskResizeConfirming, queue.JobConfirmMove, queue.JobConfirmMove, string(ActionConfirm)))
	confirming := State{resized, model.TaskResizeConfirming}
	add(confirming, done(queue.JobConfirmMove), next(model.VMActive, model.TaskNone, "", queue.JobConfirmMove, "confirmResize"))
	add(confirming, failed(queue.JobConfirmMove), next(model.VMError, model.TaskNone, "", queue.JobConfirmMove, "confirmResize"))
	revert := next(resized, model.TaskResizeReverting, queue.JobRevertMove, queue.JobRevertMove, string(ActionRevert))
	revert.EndsScreen = true
	add(State{resized, model.TaskNone}, Trigger{Kind: Request, Action: ActionRevert}, revert)
	reverting := State{resized, model.TaskResizeReverting}
	add(reverting, done(queue.JobRevertMove),
		next(resized, model.TaskResizeReverting, queue.JobFinishRevert, queue.JobRevertMove, "revertResize"))
	add(reverting, failed(queue.JobRevertMove), next(model.VMError, model.TaskNone, "", queue.JobRevertMove, "revertResize"))
	add(reverting, done(queue.JobFinishRevert), next(model.VMActive, model.TaskNone, "", queue.JobFinishRevert, "revertResize"))
	add(reverting, failed(queue.JobFinishRevert), next(model.VMError, model.TaskNone, "", queue.JobFinishRevert, "revertResize"))
}

// Transition returns what trigger does to an instance in state from. An
// API request that the state does not allow is Nova's 409 (404 for a
// deleted instance); any other trigger that does not apply (a replayed or
// late report) returns ErrNoTransition, and its caller changes nothing.
func Transition(from State, by Trigger) (Next, error) {
	if n, ok := table[edge{from, by}]; ok {
		return n, nil
	}
	if by.Kind != Request {
		return Next{}, ErrNoTransition
	}
	if from.VM == model.VMDeleted {
		return Next{}, fault.NotFound("instance is deleted")
	}
	return Next{}, fault.Conflict("Cannot '%s' instance while it is in vm_state %s, task_state %s", by.Action,
		from.VM, stateWord(from.Task))
}

// ErrNoTransition is a trigger that does not apply to the state.
var ErrNoTransition = fmt.Errorf("no transition")

func stateWord(t model.TaskState) string {
	if t == "" {
		return "None"
	}
	return string(t)
}

// Begin is Transition for an API request.
func Begin(a Action, vm model.VMState, task model.TaskState) (Next, error) {
	return Transition(State{vm, task}, Trigger{Kind: Request, Action: a})
}

// taskJob is the job (and its hard flag) and instance action a running
// task waits for, so a lost job can be sent again: the job of the request
// (or placement) that began the task, or of the job whose step it is.
func taskJob(st State) (job queue.JobKind, hard bool, record string) {
	if st == (State{model.VMBuilding, model.TaskScheduling}) {
		return queue.JobSchedule, false, "create" // begun by POST /servers
	}
	for e, n := range table {
		if n.State != st {
			continue
		}
		switch {
		case (e.by.Kind == Request || e.by.Kind == Placed) && n.Job != "":
			return n.Job, n.Hard, n.Record
		case (e.by.Kind == Done || e.by.Kind == Failed) && n.Job != "" && e.from != n.State:
			return n.Job, false, n.Record // the next step of a move
		case e.by.Kind == Progressed:
			return e.by.Job, false, n.Record
		}
	}
	return "", false, string(st.Task)
}
