package views

import (
	"context"
	"slices"
)

// Project > Volumes and the instance page's Volumes section.

// VolumeList is Project > Volumes: the project's volumes, newest first,
// and their snapshots.
type VolumeList struct {
	Page
	Volumes   []VolumeRow
	Snapshots []SnapshotRow
	// Form is the Create Volume form; Images (active) and Sources (the
	// project's available snapshots) are what it may copy.
	Form    Form
	Images  []Ref
	Sources []Ref
	// Instances are the project's instances whose volumes may change now
	// (the Attach select).
	Instances []Ref
	// CanChange: the caller may create and change volumes (a member; a
	// reader sees the lists only).
	CanChange bool
}

// VolumeRow is one volume with the actions its status allows now.
type VolumeRow struct {
	ID, Name, Description, Status, Type string
	SizeGB                              int
	Bootable                            bool
	// Error says why the last operation failed (the service's words).
	Error string
	// InstanceID, InstanceName and Device are its attachment ("": none).
	InstanceID, InstanceName, Device string
	CanExtend, CanAttach, CanDetach  bool
	CanSnapshot, CanDelete           bool
	// ForceSnapshot: the volume is attached, so a snapshot needs force
	// (it may catch the guest mid-write).
	ForceSnapshot bool
}

// SnapshotRow is one volume snapshot.
type SnapshotRow struct {
	ID, Name, Status string
	SizeGB           int
	VolumeID         string
	VolumeName       string
	// CanDelete: available or error; CanCopy: available, so a volume may
	// be made from it.
	CanDelete, CanCopy bool
}

// InstanceVolumes is the instance page's Volumes section.
type InstanceVolumes struct {
	Attached []AttachedVolume
	// Free are the project's available volumes (the Attach select);
	// CanChange: the instance's volumes may change now and the caller may
	// change them.
	Free      []Ref
	CanChange bool
}

// AttachedVolume is one volume attached to the instance.
type AttachedVolume struct {
	ID, Name, Device, Status string
	SizeGB                   int
}

// volumeStatusKeys are the catalogue's words for Cinder's statuses.
var volumeStatusKeys = map[string]string{
	"creating":        "volumes.status_creating",
	"available":       "volumes.status_available",
	"attaching":       "volumes.status_attaching",
	"in-use":          "volumes.status_in_use",
	"detaching":       "volumes.status_detaching",
	"extending":       "volumes.status_extending",
	"deleting":        "volumes.status_deleting",
	"error":           "volumes.status_error",
	"error_deleting":  "volumes.status_error_deleting",
	"error_extending": "volumes.status_error_extending",
}

func volumeStatusText(ctx context.Context, s string) string {
	return catalogueOr(ctx, volumeStatusKeys, s)
}

// volumeStatusClass colours a volume's (or a snapshot's) status badge.
func volumeStatusClass(s string) string {
	switch s {
	case "available":
		return "bg-green-100 text-green-800"
	case "in-use":
		return "bg-sky-100 text-sky-800"
	case "error", "error_deleting", "error_extending":
		return "bg-red-100 text-red-800"
	}
	return "bg-amber-100 text-amber-800" // an operation under way
}

// projectNav is the Project section of p's menu: Volumes only where the
// cloud has block storage.
func (p Page) projectNav() []NavItem {
	if p.Volumes {
		return ProjectNav
	}
	return slices.DeleteFunc(slices.Clone(ProjectNav), func(it NavItem) bool { return it.Key == "volumes" })
}

// adminNav is the Admin section of p's menu: Volume Types only where the
// cloud has block storage.
func (p Page) adminNav() []NavItem {
	if p.Volumes {
		return AdminNav
	}
	return slices.DeleteFunc(slices.Clone(AdminNav), func(it NavItem) bool { return it.Key == "admin-volume-types" })
}

// VolumeTypeList is Admin > Volume Types.
type VolumeTypeList struct {
	Page
	Types []VolumeTypeRow
}

// VolumeTypeRow is one volume type; ExtraSpecs are "key=value", by key.
type VolumeTypeRow struct {
	ID, Name, Description string
	IsPublic              bool
	// IsDefault: Cinder's __DEFAULT__ type, which stays (no delete button).
	IsDefault  bool
	ExtraSpecs []string
}

// VolumeTypeForm creates a volume type.
type VolumeTypeForm struct {
	Page
	Form
}
