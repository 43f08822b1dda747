package queue

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

// Version is the message format version carried in every job and event.
// A consumer refuses (dead-letters) versions it does not know.
// Version 2: one "done" event for every finished job (the job kind says
// which), typed power states.
const Version = 2

// Stream names, each under the deployment's Redis prefix.
func SchedulerStream(prefix string) string  { return prefix + "scheduler" }
func HostStream(prefix, host string) string { return prefix + "compute:" + host }
func EventStream(prefix string) string      { return prefix + "events" }
func DeadLetterStream(prefix string) string { return prefix + "deadletter" }

// ChangeStream is the change feed the portal's live pages follow
// (internal/live); ChangeStreamLen is about how many changes it keeps for
// browsers that reconnect.
func ChangeStream(prefix string) string { return prefix + "changes" }

const ChangeStreamLen = 20000

// JobKind names what a job asks. The instance operations' kinds are
// tabled with their states in internal/compute (lifecycle.go).
type JobKind string

// Job kinds.
const (
	JobSchedule   JobKind = "schedule" // scheduler: pick a host for a building instance
	JobBuild      JobKind = "build"    // agent: create and start the domain
	JobStart      JobKind = "start"
	JobStop       JobKind = "stop"
	JobReboot     JobKind = "reboot" // Hard: power off and on
	JobDelete     JobKind = "delete"
	JobPause      JobKind = "pause"          // hold the guest in the host's memory
	JobUnpause    JobKind = "unpause"        // let it run again
	JobSuspend    JobKind = "suspend"        // save its memory to the host's disk and stop (managed save)
	JobResume     JobKind = "resume"         // start it from that save, which is removed
	JobSnapshot   JobKind = "snapshot"       // copy the root disk into an image (Snapshot says which)
	JobRebuild    JobKind = "rebuild"        // a fresh root disk from Build's image, the same domain
	JobRescue     JobKind = "rescue"         // boot from Rescue's image with the root disk second
	JobUnrescue   JobKind = "unrescue"       // boot from the root disk again
	JobShelve     JobKind = "shelve"         // a snapshot (Snapshot), then power off
	JobOffload    JobKind = "shelve_offload" // remove the shelved domain and its disks
	JobUnshelve   JobKind = "unshelve"       // power a shelved (not offloaded) domain on
	JobSoftDelete JobKind = "soft_delete"    // power off a soft-deleted instance; its disks stay
	JobRestore    JobKind = "restore"        // power a soft-deleted instance on again
	// A resize or cold migration (Migration says where the disk goes):
	JobResizeOut    JobKind = "resize_out"     // source: power off, park the domain's files, send the disk out
	JobResizeIn     JobKind = "resize_in"      // destination: fetch the disk, define and start the new domain
	JobConfirmMove  JobKind = "confirm_resize" // source: remove the parked files
	JobRevertMove   JobKind = "revert_resize"  // destination: remove its domain and files
	JobFinishRevert JobKind = "finish_revert"  // source: the parked files back, the old domain defined and started
)

// Job is a unit of work for the scheduler or an agent. It carries ids and
// what the agent needs to act without the database.
type Job struct {
	V          int     `json:"v"`
	Kind       JobKind `json:"kind"`
	InstanceID string  `json:"instance_id"`
	RequestID  string  `json:"request_id"`
	ActionID   int64   `json:"action_id"`
	Hard       bool    `json:"hard,omitempty"`
	// KeepOff: a rebuild of a stopped instance leaves it stopped.
	KeepOff  bool      `json:"keep_off,omitempty"`
	Build    *Build    `json:"build,omitempty"`
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	Rescue   *Rescue   `json:"rescue,omitempty"`
	Move     *Move     `json:"move,omitempty"`
}

// Move is where a resized or migrated instance's disk goes: the source
// sends it to PutURL, the destination fetches it from GetURL and checks
// SHA512 (the controller's relay, see internal/image/disks.go).
type Move struct {
	Migration string `json:"migration"` // the migration's uuid, naming the relayed disk
	PutURL    string `json:"put_url,omitempty"`
	GetURL    string `json:"get_url,omitempty"`
	SHA512    string `json:"sha512,omitempty"`
	Size      int64  `json:"size,omitempty"`
	RootGB    int    `json:"root_gb"` // the new flavor's root disk: the disk grows to it
}

// Rescue is what an agent boots a rescued instance from.
type Rescue struct {
	Image     *ImageRef `json:"image"`
	AdminPass string    `json:"admin_pass,omitempty"` // for the rescue system's config drive
}

// ImageID is the image a snapshot job fills ("" for other jobs).
func (j Job) ImageID() string {
	if j.Snapshot == nil {
		return ""
	}
	return j.Snapshot.ImageID
}

// Snapshot tells an agent where a snapshot of the instance's disk goes.
type Snapshot struct {
	ImageID string `json:"image_id"`
	// UploadURL takes the image data in one PUT, with no token: its
	// signature (made when the job was written) stands for one.
	UploadURL string `json:"upload_url"`
	RootGB    int    `json:"root_gb"` // the disk's size where the hypervisor has no disk file (test driver)
}

// Build is what an agent needs to create a domain.
type Build struct {
	VCPUs    int               `json:"vcpus"`
	MemoryMB int               `json:"memory_mb"`
	RootGB   int               `json:"root_gb"`
	Image    *ImageRef         `json:"image,omitempty"`
	Name     string            `json:"name"` // for the config drive's hostname only, never in domain XML
	KeyName  string            `json:"key_name,omitempty"`
	KeyData  string            `json:"key_data,omitempty"`
	UserData string            `json:"user_data,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	AZ       string            `json:"availability_zone,omitempty"`
	// ProjectID goes into the config drive's meta_data.json.
	ProjectID string `json:"project_id"`
	// NICs are the instance's network interfaces, in order: the agent
	// makes each port's tap device (on its network's bridge, filtered,
	// as the host's datapath document says) before the domain starts.
	NICs []NIC `json:"nics,omitempty"`
	// Volumes are the instance's volumes, by device; one at vda is its
	// root disk (then Image is nil: it boots from the volume).
	Volumes []VolumeDisk `json:"volumes,omitempty"`
}

// NIC is one network interface of a domain.
type NIC struct {
	PortID string `json:"port_id"`
	MAC    string `json:"mac"`
	Device string `json:"device"` // the tap device's name
	MTU    int    `json:"mtu"`
}

// ImageRef tells an agent how to fetch and verify an image.
type ImageRef struct {
	ID       string `json:"id"`
	Checksum string `json:"checksum"` // MD5, as Glance's
	SHA512   string `json:"os_hash_value"`
	Size     int64  `json:"size"`
	// VirtualSize is what the controller measured at upload (0: unknown).
	// Agents measure again and trust their own figure.
	VirtualSize int64  `json:"virtual_size,omitempty"`
	DiskFormat  string `json:"disk_format"`
	URL         string `json:"url"` // download URL with a one-use token
}

// NewImageRef is how an agent finds image im: url (signed, one use) and
// what to check the download against.
func NewImageRef(im model.Image, url string) *ImageRef {
	ref := &ImageRef{ID: im.ID, Checksum: im.Checksum, SHA512: im.OSHashValue, DiskFormat: im.DiskFormat, URL: url}
	if im.Size != nil {
		ref.Size = *im.Size
	}
	if im.VirtualSize != nil {
		ref.VirtualSize = *im.VirtualSize
	}
	return ref
}

// EventKind names what an agent reports.
type EventKind string

// Event kinds, sent by agents.
const (
	EventStarted EventKind = "started" // a step began (Step names it)
	EventDone    EventKind = "done"    // Job finished; Power and VNCPort say how the domain is now
	EventFailed  EventKind = "failed"  // Job failed; Retryable says if another host may try
	EventPower   EventKind = "power"   // periodic power-state sync
	// EventProgress says Job reached its next step (a snapshot's upload
	// pending, then under way): the instance's task moves on.
	EventProgress EventKind = "progress"
	// EventStep says a build reached Step (a model.BuildStep), Percent of
	// the way through it: the instance's progress moves on.
	EventStep EventKind = "step"
	// EventInventory lists every Nimbus domain on the host (Instances), sent
	// with each full power sync, so the controller learns of instances
	// whose domain vanished.
	EventInventory EventKind = "inventory"
	// EventStats carries the host's and its running domains' statistics
	// (Stats), every stats interval; it changes no instance.
	EventStats EventKind = "stats"
)

// Event is what an agent reports back.
type Event struct {
	V          int                `json:"v"`
	Kind       EventKind          `json:"kind"`
	Job        JobKind            `json:"job,omitempty"` // the job kind this reports on
	Step       string             `json:"step,omitempty"`
	Percent    int                `json:"percent,omitempty"` // of Step, for EventStep
	InstanceID string             `json:"instance_id"`
	RequestID  string             `json:"request_id,omitempty"`
	ActionID   int64              `json:"action_id,omitempty"`
	Host       string             `json:"host"`
	Power      model.PowerState   `json:"power,omitempty"` // as a word: running, shutoff, paused, ...
	VNCPort    int                `json:"vnc_port,omitempty"`
	Message    string             `json:"message,omitempty"` // safe for users
	Details    string             `json:"details,omitempty"` // for admins: libvirt errors, paths
	Retryable  bool               `json:"retryable,omitempty"`
	Instances  []string           `json:"instances,omitempty"` // inventory: the host's domains
	ImageID    string             `json:"image_id,omitempty"`  // a snapshot's image
	Stats      *model.StatsReport `json:"stats,omitempty"`
	// SHA512 and Size are the disk a resize_out sent to the relay.
	SHA512 string    `json:"sha512,omitempty"`
	Size   int64     `json:"size,omitempty"`
	At     time.Time `json:"at"`
}

// DoneKey is where the agent of host keeps the event that ended job j,
// for a day: a job delivered again (a reclaim, a relay that sent it
// twice, the reconciler's resend of a job that was only slow) is answered
// with that event instead of being done twice. Jobs without an action
// (cleanup deletes) have no key: they are idempotent by themselves.
func DoneKey(prefix, host string, j Job) string {
	if j.ActionID == 0 {
		return ""
	}
	return fmt.Sprintf("%sdone:%s:%d:%s", prefix, host, j.ActionID, j.Kind)
}

// DoneTTL is how long an agent remembers a job it has done.
const DoneTTL = 24 * time.Hour

// Decode reads a message and checks its version. Every error wraps
// ErrPoison: the bytes will not change, so a message that cannot be read
// now never can be, and the consumer dead-letters it at once instead of
// retrying it MaxDeliveries times.
func Decode(b []byte, v any) error {
	var head struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return fmt.Errorf("decode message: %w: %w", err, ErrPoison)
	}
	if head.V != Version {
		return fmt.Errorf("message version %d, want %d: %w", head.V, Version, ErrPoison)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode message: %w: %w", err, ErrPoison)
	}
	return nil
}
