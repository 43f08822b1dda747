package compute

import (
	"fmt"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

// The lifecycle, as Nova's (vm_state / task_state):
//
//	POST /servers ──> building/scheduling ──(host claimed)──> building/spawning
//	                        │                                      │
//	                  no valid host                          agent: running
//	                        ▼                                      ▼
//	                      error <──────── build failed ────── active/None
//	                                                          │      ▲
//	                                       os-stop: powering-off      │ os-start: powering-on
//	                                                          ▼      │
//	                                                        stopped/None
//	reboot: active/None ──> active/rebooting(_hard) ──> active/None
//	delete: any ──> <state>/deleting ──> deleted
//
// API actions begin a task (Begin); agent events finish it (see events.go).

// Action is something the API asks of an instance.
type Action string

// The actions the API offers.
const (
	ActionStart      Action = "start"
	ActionStop       Action = "stop"
	ActionReboot     Action = "reboot"
	ActionRebootHard Action = "reboot_hard"
	ActionDelete     Action = "delete"
)

type stateKey struct {
	vm   model.VMState
	task model.TaskState
}

// allowed lists, per action, the (vm_state, task_state) pairs it may start
// from and the task_state it sets. Anything else is 409.
var allowed = map[Action]struct {
	from []stateKey
	task model.TaskState
}{
	ActionStart: {[]stateKey{{model.VMStopped, model.TaskNone}}, model.TaskPoweringOn},
	ActionStop: {[]stateKey{{model.VMActive, model.TaskNone}, {model.VMError, model.TaskNone}},
		model.TaskPoweringOff},
	ActionReboot: {[]stateKey{{model.VMActive, model.TaskNone}}, model.TaskRebooting},
	ActionRebootHard: {[]stateKey{
		{model.VMActive, model.TaskNone}, {model.VMStopped, model.TaskNone}, {model.VMPaused, model.TaskNone},
		{model.VMSuspend, model.TaskNone}, {model.VMError, model.TaskNone},
		{model.VMActive, model.TaskRebooting}, {model.VMActive, model.TaskRebootingHard},
	}, model.TaskRebootingHard},
}

// Begin returns the task_state an action sets on an instance in (vm,
// task), or a conflict error naming the state, as Nova's 409 does. Delete
// is allowed from every state but deleted.
func Begin(a Action, vm model.VMState, task model.TaskState) (model.TaskState, error) {
	if a == ActionDelete {
		if vm == model.VMDeleted {
			return "", fault.NotFound("instance is deleted")
		}
		return model.TaskDeleting, nil
	}
	rule, ok := allowed[a]
	if !ok {
		return "", fmt.Errorf("unknown action %q", a)
	}
	for _, k := range rule.from {
		if k.vm == vm && k.task == task {
			return rule.task, nil
		}
	}
	shown := string(task)
	if shown == "" {
		shown = "None"
	}
	return "", fault.Conflict("Cannot '%s' instance while it is in vm_state %s, task_state %s", a, vm, shown)
}

// Status maps vm_state and task_state to the API status clients wait on
// (Nova's api/openstack/common.py state map).
func Status(vm model.VMState, task model.TaskState) string {
	switch vm {
	case model.VMBuilding:
		return "BUILD"
	case model.VMActive:
		switch task {
		case model.TaskRebooting:
			return "REBOOT"
		case model.TaskRebootingHard:
			return "HARD_REBOOT"
		}
		return "ACTIVE"
	case model.VMStopped:
		return "SHUTOFF"
	case model.VMPaused:
		return "PAUSED"
	case model.VMSuspend:
		return "SUSPENDED"
	case model.VMError:
		return "ERROR"
	case model.VMDeleted:
		return "DELETED"
	}
	return "UNKNOWN"
}

// StatusFilter returns the vm_states matching an API status filter
// (?status=ACTIVE), or false when the status is unknown.
func StatusFilter(status string) ([]model.VMState, bool) {
	switch status {
	case "BUILD":
		return []model.VMState{model.VMBuilding}, true
	case "ACTIVE", "REBOOT", "HARD_REBOOT":
		return []model.VMState{model.VMActive}, true
	case "SHUTOFF":
		return []model.VMState{model.VMStopped}, true
	case "PAUSED":
		return []model.VMState{model.VMPaused}, true
	case "SUSPENDED":
		return []model.VMState{model.VMSuspend}, true
	case "ERROR":
		return []model.VMState{model.VMError}, true
	case "DELETED":
		return []model.VMState{model.VMDeleted}, true
	}
	return nil, false
}
