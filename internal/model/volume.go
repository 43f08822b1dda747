package model

import "time"

// Volume is a Cinder volume: block storage on a storage host that
// outlives the instances it is attached to.
type Volume struct {
	ID          string
	ProjectID   string
	UserID      string
	Name        string
	Description string
	SizeGB      int
	Status      string // internal/volume's statuses: creating, available, in-use, ...
	NewSizeGB   int    // where a running extend goes (0: none)
	TypeID      string
	TypeName    string
	AZ          string
	Bootable    bool
	SourceVolID string
	SnapshotID  string
	ImageID     string
	// ImageMetadata are the image's properties a volume made from it
	// keeps (Cinder's volume_image_metadata).
	ImageMetadata map[string]string
	Metadata      map[string]string
	Host          string // the storage host ('' until placed)
	Error         string // why the last operation failed
	StatusAt      time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Attachment    *VolumeAttachment // nil when attached nowhere
	Snapshots     int               // how many snapshots it has
}

// VolumeAttachment gives a volume to one instance.
type VolumeAttachment struct {
	ID         string
	VolumeID   string
	InstanceID string
	Device     string // /dev/vdb
	Host       string // the compute host it was attached on
	// ExportName is the NBD export a remote volume is read from ('' when
	// the volume is on the instance's own host).
	ExportName          string
	ExportKey           string // the attachment's TLS-PSK for it (hex)
	DeleteOnTermination bool
	BootIndex           *int // 0: the instance boots from it
	CreatedAt           time.Time
}

// VolumeType is a kind of volume; its extra specs name the backend.
type VolumeType struct {
	ID          string
	Name        string
	Description string
	IsPublic    bool
	ExtraSpecs  map[string]string
	CreatedAt   time.Time
}

// VolumeSnapshot is a point-in-time copy of a volume.
type VolumeSnapshot struct {
	ID          string
	VolumeID    string
	ProjectID   string
	UserID      string
	Name        string
	Description string
	SizeGB      int
	Status      string // creating, available, deleting, error, error_deleting
	Metadata    map[string]string
	Error       string
	StatusAt    time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// DefaultVolumeTypeID is Cinder's __DEFAULT__ type (migration 020).
const DefaultVolumeTypeID = "5c2a6b7e-0d1f-4a36-9c3e-6f9d3f1d2b01"

// AttachedVolume is a volume as its instance lists it.
type AttachedVolume struct {
	VolumeID            string `json:"volume_id"`
	Device              string `json:"device"`
	DeleteOnTermination bool   `json:"delete_on_termination"`
}
