package datapath

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// dhcpDir is where one network's dnsmasq files live. dnsmasq rereads its
// hostsfile and optsfile on SIGHUP after dropping to user nobody, so the
// directories on the way must be readable by others.
func (d *Datapath) dhcpDir(networkID string) string {
	return filepath.Join(d.cfg.StateDir, "dhcp", networkID)
}

// applyDHCP makes the network's DHCP namespace, its port on the bridge,
// dnsmasq with the document's leases and, with metadata, the proxy.
func (d *Datapath) applyDHCP(ctx context.Context, n netspec.Network) error {
	if err := d.applyDHCPServer(ctx, n); err != nil {
		return fmt.Errorf("network %s: dhcp: %w", n.ID, err)
	}
	return nil
}

func (d *Datapath) applyDHCPServer(ctx context.Context, n netspec.Network) error {
	dh := n.DHCP
	ns := d.dhcpNS(n.ID)
	nsDev := dhcpIfName(dh.PortID)
	metadata := dh.Metadata && d.cfg.Metadata != nil
	addrs := dh.IPs
	if metadata {
		addrs = append(addrs[:len(addrs):len(addrs)], metadataAddr+"/32")
	}
	// The namespace and its port are trusted between repairs while they
	// stay the same; the leases below change with every port.
	key := "dhcp:" + n.ID
	if fp, ok := d.trusted(key, struct {
		Port, MAC string
		Addrs     []string
		MTU       int
	}{dh.PortID, dh.MAC, addrs, n.MTU}); !ok {
		err := d.ensureNamespace(ctx, ns)
		if err == nil {
			err = d.ensureVeth(ctx, ns, tapName(dh.PortID), nsDev, dh.MAC, bridgeName(n.ID), n.MTU)
		}
		if err == nil {
			err = d.ensureAddrs(ctx, ns, nsDev, addrs)
		}
		d.remember(key, fp, err)
		if err != nil {
			return err
		}
	}

	dir := d.dhcpDir(n.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	conf, confErr := dnsmasqConfig(dir, nsDev, *dh, metadata, d.cfg.LeaseTime)
	filesChanged := false
	for _, f := range []struct{ name, text string }{{"hosts", conf.Hosts}, {"opts", conf.Opts}} {
		changed, err := writeIfChanged(filepath.Join(dir, f.name), f.text)
		if err != nil {
			return errors.Join(confErr, err)
		}
		filesChanged = filesChanged || changed
	}
	argsChanged, err := writeIfChanged(filepath.Join(dir, "args"), strings.Join(conf.Args, "\n")+"\n")
	if err != nil {
		return errors.Join(confErr, err)
	}
	pid := dnsmasqPid(dir)
	switch {
	case pid == 0 || argsChanged:
		if pid != 0 {
			if err := stopProcess(pid); err != nil {
				return errors.Join(confErr, err)
			}
		}
		if err := d.startDnsmasq(ctx, ns, dir, conf.Args); err != nil {
			return errors.Join(confErr, err)
		}
	case filesChanged:
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			return errors.Join(confErr, fmt.Errorf("reload dnsmasq %d: %w", pid, err))
		}
		d.log.Info("dnsmasq reloaded", "network_id", n.ID, "pid", pid)
	}

	if metadata {
		confErr = errors.Join(confErr, d.ensureMetadata(n.ID, ns, dh.Leases))
	} else {
		d.stopMetadata(n.ID)
	}
	return confErr
}

func (d *Datapath) startDnsmasq(ctx context.Context, ns, dir string, args []string) error {
	// Its output goes to a file, not a pipe: the daemon it forks keeps
	// the descriptors, and a pipe would hold Run until it exits.
	out, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		return err
	}
	defer out.Close()
	argv := append([]string{"netns", "exec", ns, "dnsmasq"}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(out.Name())
		return fmt.Errorf("start dnsmasq in %s: %w: %s", ns, err, bytes.TrimSpace(msg))
	}
	pid := dnsmasqPid(dir)
	if pid == 0 {
		return fmt.Errorf("start dnsmasq in %s: no process after start", ns)
	}
	d.log.Info("dnsmasq started", "netns", ns, "pid", pid)
	return nil
}

// dnsmasqPid is the pid of the dnsmasq running from dir, 0 if none: the
// pid file's process, if it is a dnsmasq with that pid file.
func dnsmasqPid(dir string) int {
	pidFile := filepath.Join(dir, "pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("--pid-file="+pidFile+"\x00")) {
		return 0 // gone, a zombie (empty cmdline) or the pid reused
	}
	return pid
}

// stopProcess ends pid: SIGTERM, then SIGKILL after two seconds.
func stopProcess(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("stop %d: %w", pid, err)
	}
	for i := 0; i < 40; i++ {
		if !running(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 20 && running(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// running reports whether pid is a live process (not gone, not a zombie).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// removeDHCP stops the network's metadata listener and dnsmasq and
// removes its namespace and files.
func (d *Datapath) removeDHCP(ctx context.Context, networkID string) error {
	d.stopMetadata(networkID)
	dir := d.dhcpDir(networkID)
	var errs []error
	if pid := dnsmasqPid(dir); pid != 0 {
		if err := stopProcess(pid); err != nil {
			errs = append(errs, err)
		} else {
			d.log.Info("dnsmasq stopped", "network_id", networkID, "pid", pid)
		}
	}
	ns := d.dhcpNS(networkID)
	if _, err := os.Stat(filepath.Join(netnsDir, ns)); err == nil {
		errs = append(errs, d.deleteNamespace(ctx, ns))
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// writeIfChanged writes text to path unless it holds it already.
func writeIfChanged(path, text string) (bool, error) {
	if cur, err := os.ReadFile(path); err == nil && string(cur) == text {
		return false, nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return false, err
	}
	return true, os.Rename(tmp, path)
}
