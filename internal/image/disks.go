package image

import (
	"context"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/diskimage"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// The disk relay: a resized or migrated instance's disk goes from its
// source host to its destination through the controller, which keeps it
// in <image dir>/disks/<migration uuid> while the move is open. Agents
// need no way to reach each other (only the controller's URL, as for
// images), both legs are checked with SHA-512 (the source says what it
// sent, the relay refuses a body that does not match, the destination
// checks what it fetched against the same sum), and the file is one more
// image-sized file in a place that already holds images. The cost is a
// second copy over the network; an agent-to-agent stream would halve it
// and is left for when hosts are really apart.

func (s *Service) diskPath(id string) string { return filepath.Join(s.dir, "disks", id) }

// SignedDiskPutPath is where the source agent sends a migration's disk.
func SignedDiskPutPath(secret []byte, id string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return "/image/nimbus/disks/" + id + "/file?expires=" + e + "&sig=" + sign(secret, "disk-put\x00"+id, e)
}

// SignedDiskGetPath is where the destination agent fetches it.
func SignedDiskGetPath(secret []byte, id string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return "/image/nimbus/disks/" + id + "/file?expires=" + e + "&sig=" + sign(secret, "disk-get\x00"+id, e)
}

// PutDisk takes a migration's disk from the source agent: written to a
// temporary file, refused (400) unless its SHA-512 is wantSHA512 and it is
// a qcow2 image that passes inspection, then put in place, replacing a
// copy sent before (a resize_out done again).
func (s *Service) PutDisk(ctx context.Context, secret []byte, id, exp, sig, wantSHA512 string, now time.Time, r io.Reader) error {
	if !validSignature(secret, "disk-put\x00"+id, exp, sig, now) {
		return fault.ErrForbidden
	}
	if _, err := validate.ID("id", id); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.diskPath(id)), 0o700); err != nil {
		return err
	}
	rnd := make([]byte, 6)
	rand.Read(rnd)
	tmp := s.diskPath(".put-" + id + "-" + hex.EncodeToString(rnd))
	defer os.Remove(tmp) // a no-op once renamed
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	sum := sha512.New()
	n, err := io.Copy(io.MultiWriter(f, sum), io.LimitReader(r, s.maxBytes+1))
	if err == nil && n > s.maxBytes {
		err = fmt.Errorf("%w (%d bytes): %w", ErrTooLarge, s.maxBytes, fault.ErrTooLarge)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != wantSHA512 {
		return fault.Invalid("data", "the disk's SHA-512 is %s, not the %q the sender declared", got, wantSHA512)
	}
	if _, err := diskimage.Inspect(ctx, tmp, "qcow2"); err != nil {
		var de *diskimage.Error
		if errors.As(err, &de) {
			return &RefusedError{Err: de}
		}
		return err
	}
	return os.Rename(tmp, s.diskPath(id))
}

// OpenDisk opens a migration's relayed disk for the destination agent.
func (s *Service) OpenDisk(secret []byte, id, exp, sig string, now time.Time) (*os.File, error) {
	if !validSignature(secret, "disk-get\x00"+id, exp, sig, now) {
		return nil, fault.ErrForbidden
	}
	if _, err := validate.ID("id", id); err != nil {
		return nil, err
	}
	f, err := os.Open(s.diskPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fault.NotFound("disk %s is not here", id)
	}
	return f, err
}

// RemoveDisk removes a migration's relayed disk (the move is over).
func (s *Service) RemoveDisk(id string) error {
	if _, err := validate.ID("id", id); err != nil {
		return nil
	}
	if err := os.Remove(s.diskPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
