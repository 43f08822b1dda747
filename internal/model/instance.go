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
	VMRescued  VMState = "rescued"
	// VMShelved keeps its domain on its host, powered off, with a
	// snapshot; VMShelvedOffloaded has neither host nor domain, only the
	// snapshot it is unshelved from.
	VMShelved          VMState = "shelved"
	VMShelvedOffloaded VMState = "shelved_offloaded"
	// VMSoftDeleted is deleted but restorable until reclaimed (Nova's
	// soft delete, when NIMBUS_RECLAIM_INSTANCE_INTERVAL is set).
	VMSoftDeleted VMState = "soft-delete"
	// VMResized runs on its new host (or flavor) until the resize is
	// confirmed or reverted (the API's VERIFY_RESIZE).
	VMResized VMState = "resized"
	VMError   VMState = "error"
	VMDeleted VMState = "deleted"
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
	TaskPausing       TaskState = "pausing"
	TaskUnpausing     TaskState = "unpausing"
	TaskSuspending    TaskState = "suspending"
	TaskResuming      TaskState = "resuming"
	// A snapshot's three steps, as Nova's: the disk being copied, the
	// copy waiting to be sent, the copy being sent to the image service.
	TaskImageSnapshot      TaskState = "image_snapshot"
	TaskImagePendingUpload TaskState = "image_pending_upload"
	TaskImageUploading     TaskState = "image_uploading"
	TaskRebuilding         TaskState = "rebuilding"
	TaskRescuing           TaskState = "rescuing"
	TaskUnrescuing         TaskState = "unrescuing"
	// Shelving is a snapshot's three steps, then a power-off.
	TaskShelving                   TaskState = "shelving"
	TaskShelvingImagePendingUpload TaskState = "shelving_image_pending_upload"
	TaskShelvingImageUploading     TaskState = "shelving_image_uploading"
	TaskShelvingOffloading         TaskState = "shelving_offloading"
	TaskUnshelving                 TaskState = "unshelving"
	TaskSoftDeleting               TaskState = "soft-deleting"
	TaskRestoring                  TaskState = "restoring"
	// A resize or migration: the destination being chosen, the source
	// copying the disk out, the destination starting it; then confirm
	// (the source's copy removed) or revert (the destination's removed,
	// the source's started again).
	TaskResizePrep       TaskState = "resize_prep"
	TaskResizeMigrating  TaskState = "resize_migrating"
	TaskResizeFinish     TaskState = "resize_finish"
	TaskResizeConfirming TaskState = "resize_confirming"
	TaskResizeReverting  TaskState = "resize_reverting"
)

// PowerState is a domain's power: what a host's hypervisor driver sees,
// what an agent reports, and what the controller stores and shows. One
// type on both sides: Nova's number in the database and the API
// (OS-EXT-STS:power_state), a word on the queue (its text form) so a
// message stays readable.
type PowerState int

// Nova's power states.
const (
	PowerNoState  PowerState = 0 // the hypervisor cannot tell (or no domain)
	PowerRunning  PowerState = 1 // the guest is executing (or is being shut down)
	PowerPaused   PowerState = 3 // held in the host's memory
	PowerShutdown PowerState = 4 // defined but not running
	PowerCrashed  PowerState = 6 // the guest crashed and the domain was kept
	PowerSuspend  PowerState = 7 // saved to the host's disk (managed save), not running
)

var powerWords = map[PowerState]string{PowerNoState: "nostate", PowerRunning: "running", PowerPaused: "paused",
	PowerShutdown: "shutoff", PowerCrashed: "crashed", PowerSuspend: "suspended"}

// String is the word agents send ("running", "shutoff", ...).
func (p PowerState) String() string {
	if w, ok := powerWords[p]; ok {
		return w
	}
	return "nostate"
}

// Off says whether the guest is not executing and holds no state in
// memory: shut off, crashed, or unknown.
func (p PowerState) Off() bool {
	return p == PowerShutdown || p == PowerCrashed || p == PowerNoState
}

// MarshalText writes the word.
func (p PowerState) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a word; one it does not know (a newer agent's) is
// NOSTATE, as Nova treats a state it cannot map.
func (p *PowerState) UnmarshalText(b []byte) error {
	*p = PowerNoState
	for k, w := range powerWords {
		if w == string(b) {
			*p = k
		}
	}
	return nil
}

// Lock is who locks an instance and why.
type Lock struct {
	By     string // "owner" or "admin"
	User   string
	Reason string
}

// Flavor is the flavor the instance has (id, name and its sizes, as
// recorded when it was launched or resized).
func (in Instance) Flavor() Flavor {
	return Flavor{ID: in.FlavorID, Name: in.FlavorName, VCPUs: in.VCPUs, RAMMB: in.MemoryMB, DiskGB: in.RootGB}
}

// Locked says whether the instance is locked.
func (in Instance) Locked() bool { return in.LockedBy != "" }

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
	Tags             []string // sorted (Nova's server tags, 2.26)
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
	AgentEventAt *time.Time
	// LockedBy is "owner" or "admin" while the instance is locked ("":
	// unlocked); LockedByUser locked it, saying LockedReason.
	LockedBy, LockedByUser, LockedReason string
	// ShelvedImageID is the snapshot a shelved instance is unshelved from.
	ShelvedImageID string
	ShelvedAt      *time.Time
	// NICs are the instance's network interfaces (Nova's network info
	// cache), in order.
	NICs []NIC
	// Volumes are the block storage volumes attached, by device.
	Volumes []AttachedVolume
	// BuildStep and Progress say how far a build has come (Progress is
	// Nova's progress, 0-100).
	BuildStep BuildStep
	Progress  int
	// TaskJob is the job the task waits for, as sent (JSON; may be
	// empty for tasks begun before it was kept).
	TaskJob       []byte
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
	IoOps          int // instances in an I/O-heavy task here (building, moving, snapshotting, ...)
	Disabled       bool
	DisabledReason string
	LastSeen       time.Time
	CreatedAt      time.Time
}
