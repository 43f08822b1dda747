package datapath

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// bridgeSysctls make bridged IPv4 and IPv6 frames pass the inet hooks
// (and conntrack), which the filter's stateful half needs. Neutron's
// iptables firewall sets the same.
var bridgeSysctls = []string{"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"}

// applyFilter loads the security group tables when they differ from the
// document (or from what is in the kernel, after a reboot or a hand edit).
func (d *Datapath) applyFilter(ctx context.Context, h netspec.Host) error {
	if len(h.Networks) == 0 {
		return d.removeFilter(ctx)
	}
	t := d.filterTable()
	fs, genErr := filterRuleset(t, h.Networks, h.Ports, h.Groups)
	if err := d.enableBridgeNetfilter(ctx); err != nil {
		return errors.Join(genErr, err)
	}
	prev := d.filter
	if d.quick && d.filter.Tables == fs.Tables {
		// Only members changed (or nothing): the sets alone, in one
		// transaction, trusting the tables loaded last.
		if d.filter.Elements == fs.Elements {
			return genErr
		}
		if _, err := runInput(ctx, d.cfg.HostNetns, fs.Elements, "nft", "-f", "-"); err != nil {
			d.filter = filterScript{}
			return errors.Join(genErr, fmt.Errorf("nft: update member sets: %w", err))
		}
		d.filter = fs
		d.flushLost(ctx, prev, fs, h.Ports, h.Networks)
		return genErr
	}
	d.filter = filterScript{}
	if err := d.loadTable(ctx, d.cfg.HostNetns, fs.Tables+fs.Elements, "bridge "+t, "inet "+t); err != nil {
		return errors.Join(genErr, err)
	}
	d.filter = fs
	d.flushLost(ctx, prev, fs, h.Ports, h.Networks)
	return genErr
}

// removeFilter deletes our filter tables, if there.
func (d *Datapath) removeFilter(ctx context.Context) error {
	t := d.filterTable()
	key := d.cfg.HostNetns + "\x00" + "bridge " + t + ",inet " + t
	delete(d.tables, key)
	d.filter = filterScript{}
	if !d.hasFilterTable(ctx) {
		return nil
	}
	script := fmt.Sprintf("table bridge %[1]s {}\ndelete table bridge %[1]s\ntable inet %[1]s {}\ndelete table inet %[1]s\n", t)
	if _, err := runInput(ctx, d.cfg.HostNetns, script, "nft", "-f", "-"); err != nil {
		return fmt.Errorf("remove filter: %w", err)
	}
	d.log.Info("filter removed", "table", t)
	return nil
}

// hasFilterTable reports whether either of our filter tables exists.
func (d *Datapath) hasFilterTable(ctx context.Context) bool {
	out, err := run(ctx, d.cfg.HostNetns, "nft", "list tables")
	if err != nil {
		return true // unknown: try removing
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "table" && f[2] == d.filterTable() && (f[1] == "bridge" || f[1] == "inet") {
			return true
		}
	}
	return false
}

func (d *Datapath) enableBridgeNetfilter(ctx context.Context) error {
	if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
		// br_netfilter built as a module and not loaded yet.
		if out, err := exec.CommandContext(ctx, "modprobe", "br_netfilter").CombinedOutput(); err != nil {
			return fmt.Errorf("security groups need br_netfilter: modprobe: %w: %s", err, out)
		}
	}
	for _, k := range bridgeSysctls {
		changed, err := setSysctl(d.cfg.HostNetns, k, "1")
		if err != nil {
			return err
		}
		if changed {
			d.log.Info("sysctl set", "key", k, "value", "1")
		}
	}
	return nil
}
