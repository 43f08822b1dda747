package datapath

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// applyPorts puts every port's device on its network's bridge, up. A
// device that does not exist yet becomes a persistent tap, which libvirt
// opens (<interface type='ethernet'><target dev='tapX' managed='no'/>);
// one that exists (a tap libvirt holds, a test's veth end) is used as it
// is.
//
// The host's links are listed once and what differs is done by one
// `ip -batch`: a host carries dozens of ports, and two processes per new
// port (three reads and writes before) were most of an apply's time on a
// loaded host. When the batch fails, each port is done alone, so the
// error names the port.
func (d *Datapath) applyPorts(ctx context.Context, ports []netspec.Port, networks map[string]netspec.Network) error {
	var errs []error
	hostLinks, err := links(ctx, d.cfg.HostNetns)
	if err != nil {
		hostLinks = nil // each port reads its own below
	}
	var batch []string
	var batched []netspec.Port
	for _, p := range ports {
		n, ok := networks[p.NetworkID]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("port %s: network %s not in the document", p.ID, p.NetworkID))
		case !devName.MatchString(p.Device):
			errs = append(errs, fmt.Errorf("port %s: bad device name %q", p.ID, p.Device))
		case hostLinks == nil:
			errs = append(errs, d.applyPort(ctx, p, n))
		default:
			l, exists := hostLinks[p.Device]
			var cmds []string
			if !exists {
				cmds = append(cmds, "tuntap add dev "+p.Device+" mode tap")
			}
			if args, what := linkChanges(l, exists, p.Device, bridgeName(n.ID), n.MTU); len(what) > 0 {
				cmds = append(cmds, strings.Join(args, " "))
			}
			if len(cmds) > 0 {
				batch = append(batch, cmds...)
				batched = append(batched, p)
			}
		}
	}
	if len(batch) == 0 {
		return errors.Join(errs...)
	}
	if _, err := runInput(ctx, d.cfg.HostNetns, strings.Join(batch, "\n")+"\n", "ip", "-batch", "-"); err != nil {
		d.log.Info("port batch failed: ports one by one", "error", err)
		for _, p := range batched {
			errs = append(errs, d.applyPort(ctx, p, networks[p.NetworkID]))
		}
		return errors.Join(errs...)
	}
	for _, p := range batched {
		d.log.Info("port plugged", "device", p.Device, "port_id", p.ID)
	}
	return errors.Join(errs...)
}

// applyPort is applyPorts for one port, reading its device alone.
func (d *Datapath) applyPort(ctx context.Context, p netspec.Port, n netspec.Network) error {
	ns := d.cfg.HostNetns
	l, ok, err := linkByName(ctx, ns, p.Device)
	if err != nil {
		return fmt.Errorf("port %s: %w", p.ID, err)
	}
	if !ok {
		if _, err := run(ctx, ns, "ip", "tuntap", "add", "dev", p.Device, "mode", "tap"); err != nil {
			return fmt.Errorf("port %s: %w", p.ID, err)
		}
		d.log.Info("tap created", "device", p.Device, "port_id", p.ID)
	}
	if err := d.setLink(ctx, l, ok, p.Device, bridgeName(n.ID), n.MTU); err != nil {
		return fmt.Errorf("port %s: %w", p.ID, err)
	}
	return nil
}
