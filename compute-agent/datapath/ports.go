package datapath

import (
	"context"
	"fmt"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// applyPort puts the port's device on its network's bridge, up. A device
// that does not exist yet becomes a persistent tap, which libvirt opens
// (<interface type='ethernet'><target dev='tapX' managed='no'/>); one
// that exists (a tap libvirt holds, a test's veth end) is used as it is.
//
// hostLinks is the host namespace's links as listed at the start of the
// ports (nil: read the device alone).
func (d *Datapath) applyPort(ctx context.Context, p netspec.Port, n netspec.Network, hostLinks map[string]link) error {
	if !devName.MatchString(p.Device) {
		return fmt.Errorf("port %s: bad device name %q", p.ID, p.Device)
	}
	ns := d.cfg.HostNetns
	l, ok := hostLinks[p.Device]
	if hostLinks == nil {
		var err error
		if l, ok, err = linkByName(ctx, ns, p.Device); err != nil {
			return fmt.Errorf("port %s: %w", p.ID, err)
		}
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
