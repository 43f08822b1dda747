package model

import "time"

// VMState is Nova's vm_state: what the instance is.
type VMState string

// The vm_states Nimbus uses (Nova's names).
const (
	VMBuilding VMState = "building"
	VMActive   VMState = "active"
	VMStopped  VMState = "stopped"
	VMPaused   VMState = "paused"
	VMSuspend  VMState = "suspended"
	VMError    VMState = "error"
	VMDeleted  VMState = "deleted"
)

// TaskState is Nova's task_state: what is being done to the instance.
// Empty means nothing (Nova's None).
type TaskState string

// The task_states Nimbus uses.
const (
	TaskNone          TaskState = ""
	TaskScheduling    TaskState = "scheduling"
	TaskSpawning      TaskState = "spawning"
	TaskPoweringOff   TaskState = "powering-off"
	TaskPoweringOn    TaskState = "powering-on"
	TaskRebooting     TaskState = "rebooting"
	TaskRebootingHard TaskState = "rebooting_hard"
	TaskDeleting      TaskState = "deleting"
)

// PowerState is Nova's power_state number.
type PowerState int

// Nova's power states.
const (
	PowerNoState  PowerState = 0
	PowerRunning  PowerState = 1
	PowerPaused   PowerState = 3
	PowerShutdown PowerState = 4
	PowerCrashed  PowerState = 6
	PowerSuspend  PowerState = 7
)

// Fault is what went wrong with an instance, as Nova shows it.
type Fault struct {
	Code    int       `json:"code"`
	Message string    `json:"message"`
	Details string    `json:"details,omitempty"` // admins only
	Created time.Time `json:"created"`
}

// Instance is a virtual machine.
type Instance struct {
	ID               string
	ProjectID        string
	UserID           string
	Name             string
	FlavorID         string
	FlavorName       string
	VCPUs            int
	MemoryMB         int
	RootGB           int
	ImageID          string
	KeyName          string
	KeyData          string
	UserData         string
	Metadata         map[string]string
	AvailabilityZone string
	Host             string
	VMState          VMState
	TaskState        TaskState
	PowerState       PowerState
	VNCPort          int
	Fault            *Fault
	ReservationID    string
	LaunchIndex      int
	Attempts         int
	TriedHosts       []string
	// TaskActionID is the action whose job the current task waits for;
	// TaskSentAt is when that job was last sent (see compute.Reconcile).
	TaskActionID int64
	TaskSentAt   *time.Time
	// AgentEventAt is the agent's time of the last event applied.
	AgentEventAt  *time.Time
	BuildDeadline *time.Time
	LaunchedAt    *time.Time
	TerminatedAt  *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	DeletedAt     *time.Time
}

// InstanceAction is one entry of an instance's action log.
type InstanceAction struct {
	ID         int64
	InstanceID string
	Action     string
	RequestID  string
	UserID     string
	ProjectID  string
	Message    string
	StartTime  time.Time
	UpdatedAt  time.Time
	Events     []ActionEvent
}

// ActionEvent is one step of an action.
type ActionEvent struct {
	Event      string
	Host       string
	StartTime  time.Time
	FinishTime *time.Time
	Result     string // "Success" or "Error"; empty while running
	Traceback  string // admins only
}

// ComputeHost is a hypervisor host with its capacity and claims.
type ComputeHost struct {
	Host           string
	ID             int
	UUID           string
	AZ             string
	HypervisorType string
	Arch           string
	VCPUs          int
	MemoryMB       int
	DiskGB         int
	VCPUsUsed      int
	MemoryMBUsed   int
	DiskGBUsed     int
	RunningVMs     int
	Disabled       bool
	DisabledReason string
	LastSeen       time.Time
	CreatedAt      time.Time
}
