package model

import "time"

// Flavor is a Nova flavor: the size of an instance.
type Flavor struct {
	ID          string
	Name        string
	VCPUs       int
	RAMMB       int
	DiskGB      int
	EphemeralGB int
	SwapMB      int
	RXTXFactor  float64
	IsPublic    bool
	Description string
}

// Image is a Glance image. Properties holds the free-form ones.
type Image struct {
	ID              string
	Owner           string
	Name            string
	Status          string
	Visibility      string
	Protected       bool
	DiskFormat      string
	ContainerFormat string
	Size            *int64
	VirtualSize     *int64
	Checksum        string
	OSHashAlgo      string
	OSHashValue     string
	MinDisk         int
	MinRAM          int
	Tags            []string
	Properties      map[string]string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// UploadReceived of UploadTotal bytes (0: not known) have arrived of
	// the data being uploaded now, while the image is saving.
	UploadReceived, UploadTotal int64
}

// Image statuses, as Glance names them.
const (
	ImageQueued = "queued"
	ImageSaving = "saving"
	ImageActive = "active"
)

// KeyPair is a user's SSH public key, as Nova keeps it.
type KeyPair struct {
	UserID      string
	Name        string
	Type        string
	PublicKey   string
	Fingerprint string
	CreatedAt   time.Time
}

// ServerGroup is Nova's server group: instances the scheduler places
// together (affinity) or apart (anti-affinity), strictly or by preference
// (soft-).
type ServerGroup struct {
	ID        string
	Name      string
	ProjectID string
	UserID    string
	Policy    string
	Members   []string // instance ids, not deleted
	CreatedAt time.Time
}
