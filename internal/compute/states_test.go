package compute

import (
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

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
		{model.VMRescued, model.TaskNone, "RESCUE"}, {model.VMStopped, model.TaskRebuilding, "REBUILD"},
		{model.VMActive, model.TaskRebuilding, "REBUILD"}, {model.VMError, model.TaskRebuilding, "REBUILD"},
	}
	for _, c := range cases {
		if got := Status(c.vm, c.task); got != c.want {
			t.Errorf("Status(%s, %s): got %s, want %s", c.vm, c.task, got, c.want)
		}
	}
}
