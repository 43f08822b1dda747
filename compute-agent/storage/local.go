// Package storage is a storage host's side of volumes: the backend that
// keeps them and the NBD exports that give them to other hosts
// (docs/volumes.md). The agent drives it; it never touches PostgreSQL.
package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
)

// ErrShrink: a volume only grows, as Cinder's extend.
var ErrShrink = errors.New("a volume cannot shrink")

// ErrNotFound: no such volume in the backend.
var ErrNotFound = errors.New("no such volume")

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Local keeps volumes as qcow2 files in a directory (a libvirt dir pool's
// layout: <dir>/<volume id>.qcow2).
type Local struct{ Dir string }

// Path is where volume id's data lives. Only canonical UUIDs name files,
// so no id can reach outside the directory.
func (l Local) Path(id string) (string, error) {
	if !uuidRe.MatchString(id) {
		return "", fmt.Errorf("volume id %q: not a UUID", id)
	}
	return filepath.Join(l.Dir, id+".qcow2"), nil
}

// Create makes an empty volume of sizeGB. Idempotent: a volume already
// there of that size is done (a job delivered twice); of another size
// is an error, never overwritten.
func (l Local) Create(ctx context.Context, id string, sizeGB int) error {
	p, err := l.Path(id)
	if err != nil {
		return err
	}
	if sizeGB <= 0 {
		return fmt.Errorf("volume size %d GB", sizeGB)
	}
	if got, err := l.SizeGB(ctx, id); err == nil {
		if got != sizeGB {
			return fmt.Errorf("volume %s exists with %d GB, not %d", id, got, sizeGB)
		}
		return nil
	}
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return err
	}
	// Written under a temporary name and renamed: a crash leaves no
	// half-made volume under the real one.
	tmp := p + ".creating"
	if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", tmp, strconv.Itoa(sizeGB)+"G").CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("qemu-img create: %v: %s", err, out)
	}
	return os.Rename(tmp, p)
}

// SizeGB is the volume's size as its guest sees it.
func (l Local) SizeGB(ctx context.Context, id string) (int, error) {
	p, err := l.Path(id)
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return 0, ErrNotFound
	}
	out, err := exec.CommandContext(ctx, "qemu-img", "info", "-U", "--output=json", "-f", "qcow2", p).Output()
	if err != nil {
		return 0, fmt.Errorf("qemu-img info: %w", err)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return 0, err
	}
	return int(info.VirtualSize >> 30), nil
}

// Extend grows the volume to sizeGB; the same size is done already.
func (l Local) Extend(ctx context.Context, id string, sizeGB int) error {
	got, err := l.SizeGB(ctx, id)
	if err != nil {
		return err
	}
	switch {
	case sizeGB < got:
		return ErrShrink
	case sizeGB == got:
		return nil
	}
	p, _ := l.Path(id)
	if out, err := exec.CommandContext(ctx, "qemu-img", "resize", "-q", "-f", "qcow2", p, strconv.Itoa(sizeGB)+"G").CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img resize: %v: %s", err, out)
	}
	return nil
}

// Delete removes the volume, and what a create cut short left of it;
// one already gone is fine.
func (l Local) Delete(ctx context.Context, id string) error {
	p, err := l.Path(id)
	if err != nil {
		return err
	}
	for _, f := range []string{p, p + ".creating"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// CreateFrom makes volume id of sizeGB from the disk image at src (a
// snapshot, another volume, an image from the cache) in format
// (qcow2 or raw): a full copy, so the new volume shares nothing with its
// source. Idempotent as Create. -U reads a source in use by a guest (a
// forced snapshot of an in-use volume: crash-consistent, as Cinder's).
func (l Local) CreateFrom(ctx context.Context, id string, sizeGB int, src, format string) error {
	p, err := l.Path(id)
	if err != nil {
		return err
	}
	if sizeGB <= 0 {
		return fmt.Errorf("volume size %d GB", sizeGB)
	}
	if _, err := l.SizeGB(ctx, id); err == nil {
		return nil
	}
	if format != "qcow2" && format != "raw" {
		return fmt.Errorf("source format %q", format)
	}
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return err
	}
	tmp := p + ".creating"
	if out, err := exec.CommandContext(ctx, "qemu-img", "convert", "-U", "-q", "-f", format, "-O", "qcow2", src, tmp).CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("qemu-img convert: %v: %s", err, out)
	}
	if out, err := exec.CommandContext(ctx, "qemu-img", "resize", "-q", "-f", "qcow2", tmp, strconv.Itoa(sizeGB)+"G").CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("qemu-img resize: %v: %s (the source is larger than the volume?)", err, out)
	}
	return os.Rename(tmp, p)
}

// SnapshotPath is where snapshot snapID's data lives.
func (l Local) SnapshotPath(snapID string) (string, error) {
	if !uuidRe.MatchString(snapID) {
		return "", fmt.Errorf("snapshot id %q: not a UUID", snapID)
	}
	return filepath.Join(l.Dir, "snapshots", snapID+".qcow2"), nil
}

// Snapshot copies volume id as it is now into snapshot snapID (a full
// copy: deleting the volume's snapshots in any order never touches the
// volume, and a snapshot outlives nothing it depends on). Idempotent.
func (l Local) Snapshot(ctx context.Context, id, snapID string) error {
	src, err := l.Path(id)
	if err != nil {
		return err
	}
	dst, err := l.SnapshotPath(snapID)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if _, err := os.Stat(src); err != nil {
		return ErrNotFound
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".creating"
	if out, err := exec.CommandContext(ctx, "qemu-img", "convert", "-U", "-q", "-f", "qcow2", "-O", "qcow2", src, tmp).CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("qemu-img convert: %v: %s", err, out)
	}
	return os.Rename(tmp, dst)
}

// DeleteSnapshot removes a snapshot; one already gone is fine.
func (l Local) DeleteSnapshot(snapID string) error {
	p, err := l.SnapshotPath(snapID)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// FreeGB is the space left where the volumes live.
func (l Local) FreeGB() int {
	_ = os.MkdirAll(l.Dir, 0o755)
	var st syscall.Statfs_t
	if syscall.Statfs(l.Dir, &st) != nil {
		return 0
	}
	return int(st.Bavail * uint64(st.Bsize) >> 30)
}
