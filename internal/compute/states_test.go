package compute

import (
	"errors"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

// TestBeginEveryPair walks every (vm_state, task_state, action) and checks
// the table's answer: the task set, or 409 (deleted instances: 404).
func TestBeginEveryPair(t *testing.T) {
	vms := []model.VMState{model.VMBuilding, model.VMActive, model.VMStopped, model.VMPaused, model.VMSuspend, model.VMError, model.VMDeleted}
	tasks := []model.TaskState{model.TaskNone, model.TaskScheduling, model.TaskSpawning, model.TaskPoweringOff,
		model.TaskPoweringOn, model.TaskRebooting, model.TaskRebootingHard, model.TaskDeleting}
	want := map[Action]map[[2]string]model.TaskState{
		ActionStart:  {{"stopped", ""}: model.TaskPoweringOn},
		ActionStop:   {{"active", ""}: model.TaskPoweringOff, {"error", ""}: model.TaskPoweringOff},
		ActionReboot: {{"active", ""}: model.TaskRebooting},
		ActionRebootHard: {{"active", ""}: model.TaskRebootingHard, {"stopped", ""}: model.TaskRebootingHard,
			{"paused", ""}: model.TaskRebootingHard, {"suspended", ""}: model.TaskRebootingHard, {"error", ""}: model.TaskRebootingHard,
			{"active", "rebooting"}: model.TaskRebootingHard, {"active", "rebooting_hard"}: model.TaskRebootingHard},
	}
	for _, vm := range vms {
		for _, task := range tasks {
			for _, a := range []Action{ActionStart, ActionStop, ActionReboot, ActionRebootHard, ActionDelete} {
				got, err := Begin(a, vm, task)
				switch {
				case a == ActionDelete && vm == model.VMDeleted:
					if !errors.Is(err, fault.ErrNotFound) {
						t.Errorf("delete of a deleted instance: got %v, want not found", err)
					}
				case a == ActionDelete:
					if err != nil || got != model.TaskDeleting {
						t.Errorf("delete from %s/%s: got %q %v, want deleting", vm, task, got, err)
					}
				default:
					exp, ok := want[a][[2]string{string(vm), string(task)}]
					if ok && (err != nil || got != exp) {
						t.Errorf("%s from %s/%s: got %q %v, want %q", a, vm, task, got, err, exp)
					}
					if !ok && !errors.Is(err, fault.ErrConflict) {
						t.Errorf("%s from %s/%s: got %q %v, want a conflict", a, vm, task, got, err)
					}
				}
			}
		}
	}
}

func TestStatusMapping(t *testing.T) {
	cases := []struct {
		vm   model.VMState
		task model.TaskState
		want string
	}{
		{model.VMBuilding, model.TaskScheduling, "BUILD"}, {model.VMActive, model.TaskNone, "ACTIVE"},
		{model.VMActive, model.TaskRebooting, "REBOOT"}, {model.VMActive, model.TaskRebootingHard, "HARD_REBOOT"},
		{model.VMActive, model.TaskPoweringOff, "ACTIVE"}, {model.VMStopped, model.TaskNone, "SHUTOFF"},
		{model.VMError, model.TaskNone, "ERROR"}, {model.VMDeleted, model.TaskNone, "DELETED"},
		{model.VMPaused, model.TaskNone, "PAUSED"}, {model.VMSuspend, model.TaskNone, "SUSPENDED"},
	}
	for _, c := range cases {
		if got := Status(c.vm, c.task); got != c.want {
			t.Errorf("Status(%s, %s): got %s, want %s", c.vm, c.task, got, c.want)
		}
	}
}
