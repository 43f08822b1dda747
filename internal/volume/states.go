// Package volume is block storage's domain (issue 12; docs/volumes.md):
// so far its state table, which the Cinder API, the jobs' events and the
// reconciler will share. Statuses and refusals are Cinder's.
package volume

import (
	"fmt"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Status is a volume's status, as Cinder reports it.
type Status string

// The statuses Nimbus's volumes go through.
const (
	Creating      Status = "creating"
	Available     Status = "available"
	Attaching     Status = "attaching"
	InUse         Status = "in-use"
	Detaching     Status = "detaching"
	Extending     Status = "extending"
	Deleting      Status = "deleting"
	Error         Status = "error"
	ErrorDeleting Status = "error_deleting"
	ErrorExtend   Status = "error_extending"
)

// Op is something asked of an existing volume.
type Op string

// The operations.
const (
	OpDelete   Op = "delete"
	OpExtend   Op = "extend"
	OpAttach   Op = "attach"
	OpDetach   Op = "detach"
	OpSnapshot Op = "snapshot"
)

// Volume is what the table needs to know of a volume.
type Volume struct {
	ID          string
	Status      Status
	SizeGB      int
	Attachments int // hosts it is attached to (0 or 1: multiattach is off)
	Snapshots   int
}

// Ask is one request: the op, and what it carries.
type Ask struct {
	Op Op
	// NewSizeGB is an extend's size.
	NewSizeGB int
	// ExtendInUse: the request's microversion allows extending an
	// attached volume (Cinder 3.42).
	ExtendInUse bool
	// Force: a snapshot of an in-use volume (Cinder's force=true).
	Force bool
}

// Refusal is why an op may not start: Cinder answers it 400
// (InvalidVolume), with this message.
type Refusal struct{ Message string }

func (r *Refusal) Error() string { return r.Message }

// Unwrap makes a refusal a bad request wherever it is answered (Nova's
// os-volume_attachments, the portal), not only in the Cinder API.
func (r *Refusal) Unwrap() error { return &fault.Validation{Code: "invalid", Message: r.Message} }

func refuse(format string, args ...any) error { return &Refusal{Message: fmt.Sprintf(format, args...)} }

// deletable are the statuses Cinder deletes from without force: not
// error_deleting, which an admin resets (os-reset_status) or force-deletes.
var deletable = map[Status]bool{Available: true, Error: true, ErrorExtend: true}

// Check reports whether a may start on v, and the status v takes while
// it runs.
func Check(v Volume, a Ask) (Status, error) {
	switch a.Op {
	case OpDelete:
		if !deletable[v.Status] || v.Attachments > 0 || v.Snapshots > 0 {
			return "", refuse("Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots or be disassociated from snapshots after volume transfer.")
		}
		return Deleting, nil
	case OpExtend:
		switch {
		case v.Status == InUse && !a.ExtendInUse:
			return "", refuse("Invalid volume: Volume %s status must be 'available' (extending an attached volume needs microversion 3.42).", v.ID)
		case v.Status != Available && v.Status != InUse:
			return "", refuse("Invalid volume: Volume %s status must be 'available' or 'in-use', but it is '%s'.", v.ID, v.Status)
		case a.NewSizeGB <= v.SizeGB:
			return "", refuse("Invalid input received: New size for extend must be greater than current size. (current: %d, extended: %d).", v.SizeGB, a.NewSizeGB)
		}
		return Extending, nil
	case OpAttach:
		if v.Status != Available || v.Attachments > 0 {
			return "", refuse("Invalid volume: Volume %s status must be available to attach, but it is '%s' (multiattach is off).", v.ID, v.Status)
		}
		return Attaching, nil
	case OpDetach:
		if v.Status != InUse || v.Attachments == 0 {
			return "", refuse("Invalid volume: Unable to detach volume %s: it is '%s', not in-use.", v.ID, v.Status)
		}
		return Detaching, nil
	case OpSnapshot:
		switch {
		case v.Status == Available:
		case v.Status == InUse && a.Force:
		case v.Status == InUse:
			return "", refuse("Invalid volume: Volume %s is in-use: a snapshot of it needs force.", v.ID)
		default:
			return "", refuse("Invalid volume: Volume %s status must be available or in-use, but it is '%s'.", v.ID, v.Status)
		}
		return v.Status, nil // a snapshot leaves the volume's status alone
	}
	return "", refuse("Invalid input received: unknown operation %q.", a.Op)
}

// After is the status an op leaves when its job is done (ok) or failed:
// a failed attach or detach goes back to where it began; a failed
// extend or delete is an error status an admin looks at, as Cinder's.
func After(op Op, ok bool) Status {
	switch op {
	case OpAttach:
		if ok {
			return InUse
		}
		return Available
	case OpDetach:
		if ok {
			return Available
		}
		return InUse
	case OpExtend:
		if ok {
			return "" // back to what it was: available or in-use
		}
		return ErrorExtend
	case OpDelete:
		if ok {
			return "" // gone
		}
		return ErrorDeleting
	}
	return ""
}
