package compute

import (
	"github.com/nimbus-cloud/nimbus/internal/model"
)

// Status maps vm_state and task_state to the API status clients wait on
// (Nova's api/openstack/common.py state map).
func Status(vm model.VMState, task model.TaskState) string {
	switch task {
	case model.TaskResizePrep, model.TaskResizeMigrating, model.TaskResizeFinish:
		return "RESIZE"
	case model.TaskResizeReverting:
		return "REVERT_RESIZE"
	}
	switch vm {
	case model.VMBuilding:
		return "BUILD"
	case model.VMActive:
		switch task {
		case model.TaskRebooting:
			return "REBOOT"
		case model.TaskRebootingHard:
			return "HARD_REBOOT"
		case model.TaskRebuilding:
			return "REBUILD"
		}
		return "ACTIVE"
	case model.VMStopped:
		if task == model.TaskRebuilding {
			return "REBUILD"
		}
		return "SHUTOFF"
	case model.VMRescued:
		return "RESCUE"
	case model.VMResized:
		return "VERIFY_RESIZE"
	case model.VMShelved:
		return "SHELVED"
	case model.VMShelvedOffloaded:
		return "SHELVED_OFFLOADED"
	case model.VMSoftDeleted:
		return "SOFT_DELETED"
	case model.VMPaused:
		return "PAUSED"
	case model.VMSuspend:
		return "SUSPENDED"
	case model.VMError:
		if task == model.TaskRebuilding {
			return "REBUILD"
		}
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
	case "RESCUE":
		return []model.VMState{model.VMRescued}, true
	case "VERIFY_RESIZE", "REVERT_RESIZE":
		return []model.VMState{model.VMResized}, true
	case "SHELVED":
		return []model.VMState{model.VMShelved}, true
	case "SHELVED_OFFLOADED":
		return []model.VMState{model.VMShelvedOffloaded}, true
	case "SOFT_DELETED":
		return []model.VMState{model.VMSoftDeleted}, true
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
