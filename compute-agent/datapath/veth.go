package datapath

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
)

// ensureVeth makes the veth pair joining a namespace of ours to a bridge:
// hostDev on br in the host's namespace, nsDev with mac in peerNS, both up
// with the network's MTU. A pair found half there is made again.
func (d *Datapath) ensureVeth(ctx context.Context, peerNS, hostDev, nsDev, mac, br string, mtu int) error {
	if !devName.MatchString(hostDev) || !devName.MatchString(nsDev) {
		return fmt.Errorf("bad device name %q or %q", hostDev, nsDev)
	}
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return fmt.Errorf("bad mac %q", mac)
	}
	ns := d.cfg.HostNetns
	hl, hok, err := linkByName(ctx, ns, hostDev)
	if err != nil {
		return err
	}
	nl, nok, err := linkByName(ctx, peerNS, nsDev)
	if err != nil {
		return err
	}
	if hok && hl.LinkInfo.Kind != "veth" || hok != nok {
		if hok {
			if _, err := run(ctx, ns, "ip", "link", "del", hostDev); err != nil {
				return err
			}
		}
		if nok {
			if _, err := run(ctx, peerNS, "ip", "link", "del", nsDev); err != nil {
				return err
			}
		}
		hok, nok = false, false
	}
	if !hok {
		args := []string{"ip", "link", "add", hostDev}
		if mtu > 0 {
			args = append(args, "mtu", strconv.Itoa(mtu))
		}
		args = append(args, "type", "veth", "peer", "name", nsDev, "netns", peerNS)
		if _, err := run(ctx, ns, args...); err != nil {
			return err
		}
		d.log.Info("veth created", "device", hostDev, "peer", nsDev, "netns", peerNS)
	}
	if err := d.setLink(ctx, hl, hok, hostDev, br, mtu); err != nil {
		return err
	}
	set := []string{"ip", "link", "set", "dev", nsDev}
	if !nok || nl.Address != hw.String() {
		set = append(set, "address", hw.String())
	}
	if mtu > 0 && (!nok || nl.MTU != mtu) {
		set = append(set, "mtu", strconv.Itoa(mtu))
	}
	if !nok || !nl.up() {
		set = append(set, "up")
	}
	if len(set) > 5 {
		if _, err := run(ctx, peerNS, set...); err != nil {
			return err
		}
		if nok {
			d.log.Info("link set", "device", nsDev, "netns", peerNS)
		}
	}
	return nil
}

// ensureAddrs makes dev's global addresses in netns exactly want
// ("ip/prefix"); the namespace is ours, so others are removed.
func (d *Datapath) ensureAddrs(ctx context.Context, netns, dev string, want []string) error {
	var norm []string
	for _, w := range want {
		p, err := netip.ParsePrefix(w)
		if err != nil {
			return fmt.Errorf("bad address %q", w)
		}
		norm = append(norm, p.String())
	}
	cur, err := addresses(ctx, netns, dev)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cur {
		if !slices.Contains(norm, c) {
			if _, err := run(ctx, netns, "ip", "addr", "del", c, "dev", dev); err != nil {
				errs = append(errs, err)
				continue
			}
			d.log.Info("address removed", "address", c, "device", dev, "netns", netns)
		}
	}
	for _, w := range norm {
		if slices.Contains(cur, w) {
			continue
		}
		args := []string{"ip", "addr", "add", w, "dev", dev}
		if netip.MustParsePrefix(w).Addr().Is6() {
			args = append(args, "nodad")
		}
		if _, err := run(ctx, netns, args...); err != nil {
			errs = append(errs, err)
			continue
		}
		d.log.Info("address added", "address", w, "device", dev, "netns", netns)
	}
	return errors.Join(errs...)
}
