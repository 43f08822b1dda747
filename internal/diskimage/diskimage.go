// Package diskimage checks that a tenant's disk image is what its owner
// declared and can never make QEMU open another file: no backing file, no
// external data file, no format that names other files (vmdk descriptors,
// qcow2 json: backings). Both the controller (before an upload becomes
// active) and every compute agent (before a cached image is used) run it;
// neither trusts the other's copy.
//
//	file ──> InspectHeader (pure Go, no QEMU)          real format from magic bytes,
//	          │  refused: backing file, data file,      qcow2 header and extensions
//	          │  encrypted, corrupt, truncated
//	          ▼
//	     declared format == detected?                   raw may hold an ISO, nothing else
//	          ▼
//	     qemu-img info -f <declared> (second opinion)   prlimit'ed, only on a file that passed
//	          ▼
//	     Info{Format, VirtualSize}
//
// The header check runs first so that QEMU never parses a file that names
// another one (OSSA-2024-001, CVE-2022-47951); qemu-img then confirms with
// the format forced, so it probes nothing.
package diskimage

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Disk formats, as Glance names them in disk_format. Formats Nimbus does
// not accept are detected too, so that a file declared as one thing but
// holding another is recognised.
const (
	Raw       = "raw"
	QCOW2     = "qcow2"
	ISO       = "iso"
	QCOW      = "qcow" // qcow version 1
	QED       = "qed"
	VMDK      = "vmdk"
	VHDX      = "vhdx"
	VDI       = "vdi"
	VHD       = "vhd" // qemu calls it vpc
	LUKS      = "luks"
	Bochs     = "bochs"
	Cloop     = "cloop"
	Parallels = "parallels"
)

// Accepted reports whether Nimbus accepts format as an image's disk_format.
func Accepted(format string) bool {
	return format == Raw || format == QCOW2 || format == ISO
}

// Reason is why an image was refused, a stable word a user interface can
// translate.
type Reason string

// Reasons for refusing an image.
const (
	ReasonBackingFile    Reason = "backing_file"
	ReasonDataFile       Reason = "data_file"
	ReasonEncrypted      Reason = "encrypted"
	ReasonFormatMismatch Reason = "format_mismatch"
	ReasonUnsupported    Reason = "unsupported_format"
	ReasonInvalid        Reason = "invalid"
)

// Error says why an image was refused. Its message is safe to show to the
// image's owner (no paths, no QEMU output); Err, when set, is the cause
// for logs.
type Error struct {
	Reason   Reason
	Declared string // the disk_format the owner declared, when known
	Detected string // the format found in the data (ReasonFormatMismatch)
	Detail   string // what exactly was wrong (ReasonInvalid), in our own words
	Err      error
}

func (e *Error) Error() string {
	switch e.Reason {
	case ReasonBackingFile:
		return "Image has a backing file, which is not allowed"
	case ReasonDataFile:
		return "Image has an external data file, which is not allowed"
	case ReasonEncrypted:
		return "Image is encrypted, which is not supported"
	case ReasonFormatMismatch:
		return fmt.Sprintf("Image disk_format is %s but its data is %s", e.Declared, e.Detected)
	case ReasonUnsupported:
		return fmt.Sprintf("Image disk_format %s is not supported (use qcow2, raw or iso)", e.Declared)
	}
	what := "disk image"
	if e.Declared != "" {
		what = e.Declared + " image"
	}
	if e.Detail == "" {
		return "Image data is not a valid " + what
	}
	return "Image data is not a valid " + what + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

func invalid(format, detail string, args ...any) *Error {
	return &Error{Reason: ReasonInvalid, Declared: format, Detail: fmt.Sprintf(detail, args...)}
}

// Info is what an inspection found in an accepted image.
type Info struct {
	Format      string // the declared format, now confirmed
	VirtualSize int64  // bytes the guest sees
}

// Inspect checks the file at path against declared, its disk_format: the
// header check, the format match, then qemu-img info as a second opinion.
// A refusal is an *Error; any other error means the check could not run.
func Inspect(ctx context.Context, path, declared string) (Info, error) {
	if !Accepted(declared) {
		return Info{}, &Error{Reason: ReasonUnsupported, Declared: declared}
	}
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("inspect image: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("inspect image: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("inspect image: %s is not a regular file", path)
	}
	h, err := InspectHeader(f, st.Size())
	var refused *Error
	if errors.As(err, &refused) {
		if refused.Reason == ReasonInvalid && refused.Declared == "" {
			refused.Declared = declared
		}
		return Info{}, refused
	}
	if err != nil {
		return Info{}, fmt.Errorf("inspect image header: %w", err)
	}
	if !matches(declared, h.Format) {
		return Info{}, &Error{Reason: ReasonFormatMismatch, Declared: declared, Detected: h.Format}
	}
	q, err := qemuInfo(ctx, path, declared)
	if err != nil {
		return Info{}, err
	}
	if err := checkQemu(q, declared, h); err != nil {
		return Info{}, err
	}
	return Info{Format: declared, VirtualSize: q.VirtualSize}, nil
}

// matches reports whether data detected as detected may be used as
// declared. A raw disk may hold an ISO 9660 file system (hybrid ISOs are
// written to disks as they are): neither names another file. Everything
// else must be exactly what was declared.
func matches(declared, detected string) bool {
	if declared == Raw && detected == ISO {
		return true
	}
	return declared == detected
}
