package datapath

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// netnsDir is where iproute2 keeps named namespaces.
const netnsDir = "/run/netns"

// namespaces lists the named network namespaces: the entries of
// /run/netns, as `ip netns list` reads them (without its process).
func namespaces(context.Context) (map[string]bool, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(ents))
	for _, e := range ents {
		m[e.Name()] = true
	}
	return m, nil
}

// ensureNamespace creates the named namespace with its loopback up.
// Named namespaces are global (bind mounts under /run/netns), so this runs
// from the agent's own mount namespace whatever Config.HostNetns says.
func (d *Datapath) ensureNamespace(ctx context.Context, name string) error {
	if _, err := os.Stat(filepath.Join(netnsDir, name)); err == nil {
		return nil
	}
	if _, err := run(ctx, "", "ip", "netns", "add", name); err != nil {
		return err
	}
	if _, err := run(ctx, name, "ip", "link", "set", "lo", "up"); err != nil {
		return err
	}
	d.log.Info("namespace created", "netns", name)
	return nil
}

// deleteNamespace removes a named namespace; the veth ends inside go
// with it, and so do their peers outside.
func (d *Datapath) deleteNamespace(ctx context.Context, name string) error {
	if _, err := run(ctx, "", "ip", "netns", "delete", name); err != nil {
		return err
	}
	d.log.Info("namespace deleted", "netns", name)
	return nil
}

// inNetns runs f on a thread moved into the named namespace ("" = stay),
// then moves the thread back. Sockets f opens stay in that namespace.
// Should moving back fail, the thread is left locked, so Go ends it with
// the goroutine rather than reuse it in the wrong namespace.
func inNetns(name string, f func() error) error {
	if name == "" {
		return f()
	}
	target, err := unix.Open(filepath.Join(netnsDir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", name, err)
	}
	defer unix.Close(target)

	runtime.LockOSThread()
	self, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open own netns: %w", err)
	}
	defer unix.Close(self)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns %s: %w", name, err)
	}
	ferr := f()
	if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
		// Still locked: this thread dies with the goroutine.
		return fmt.Errorf("leave netns %s: %w", name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// setSysctl writes a /proc/sys value inside the namespace if it differs,
// and reports whether it wrote.
func setSysctl(netns, key, value string) (bool, error) {
	path := filepath.Join("/proc/sys", filepath.FromSlash(key))
	changed := false
	err := inNetns(netns, func() error {
		cur, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if string(trimNL(cur)) == value {
			return nil
		}
		changed = true
		return os.WriteFile(path, []byte(value), 0o644)
	})
	if err != nil {
		return false, fmt.Errorf("sysctl %s=%s in netns %q: %w", key, value, netns, err)
	}
	return changed, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
