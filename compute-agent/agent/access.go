package agent

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"strconv"
)

// qemuUser is the user libvirt's system instance runs QEMU as on Debian.
const qemuUser = "libvirt-qemu"

// access is who may read the files the agent makes for QEMU: cached
// images, instance directories, disks and config drives. Tenants' data
// must not be world-readable. When the host has QEMU's user and the agent
// may give files its group, they are shared with that group only (files
// 0640, directories 0750); otherwise (libvirt's test driver, an agent
// that is not root) they are private (0600, 0700), which suits a QEMU run
// as the agent's own user. libvirt's dynamic ownership still hands disks
// to QEMU's user while a domain runs; the group is what lets QEMU through
// the directories.
type access struct {
	gid int // QEMU's group, -1 when files stay private
}

// qemuAccess looks up QEMU's group: the group named like QEMU's user, or
// that user's primary group.
func qemuAccess() access {
	u, err := user.Lookup(qemuUser)
	if err != nil {
		return access{gid: -1}
	}
	gid := u.Gid
	if g, err := user.LookupGroup(qemuUser); err == nil {
		gid = g.Gid
	}
	n, err := strconv.Atoi(gid)
	if err != nil {
		return access{gid: -1}
	}
	return access{gid: n}
}

// mkdir makes dir (and missing parents) and gives it the access's mode.
func (a access) mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return a.apply(dir, 0o750, 0o700)
}

// file gives an existing file the access's mode.
func (a access) file(path string) error { return a.apply(path, 0o640, 0o600) }

// apply gives path QEMU's group and mode shared, or mode private when
// there is no such group or the agent may not give it.
func (a access) apply(path string, shared, private fs.FileMode) error {
	if a.gid >= 0 {
		err := os.Lchown(path, -1, a.gid)
		if err == nil {
			return os.Chmod(path, shared)
		}
		if !errors.Is(err, fs.ErrPermission) {
			return err
		}
	}
	return os.Chmod(path, private)
}
