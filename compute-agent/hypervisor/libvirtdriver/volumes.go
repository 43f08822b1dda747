package libvirtdriver

import (
	"context"
	"fmt"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
)

// volumeDisk is v as a libvirt disk: a qcow2 file on this host, or the
// raw NBD export of the relay that reaches a volume on another host.
// The serial is the volume id, as Nova sets it, so the guest names the
// disk by its volume (/dev/disk/by-id/virtio-<id>).
func volumeDisk(v hypervisor.Volume) libvirtxml.DomainDisk {
	d := libvirtxml.DomainDisk{
		Device: "disk",
		Target: &libvirtxml.DomainDiskTarget{Dev: v.Device, Bus: "virtio"},
		Serial: v.Serial,
	}
	if v.File != "" {
		d.Driver = &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2", Cache: "none"}
		d.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: v.File}}
		return d
	}
	d.Driver = &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw", Cache: "none"}
	d.Source = &libvirtxml.DomainDiskSource{Network: &libvirtxml.DomainDiskSourceNetwork{
		Protocol: "nbd", Name: "vol",
		Hosts: []libvirtxml.DomainDiskSourceHost{{Transport: "unix", Socket: v.Socket}},
	}}
	return d
}

// domainDisk returns the disk of dom (live when active and live is set,
// else the definition) with target device, or nil.
func domainDisk(dom *libvirt.Domain, device string, live bool) (*libvirtxml.DomainDisk, error) {
	flags := libvirt.DomainXMLFlags(libvirt.DOMAIN_XML_INACTIVE)
	if live {
		flags = 0
	}
	doc, err := dom.GetXMLDesc(flags)
	if err != nil {
		return nil, err
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(doc); err != nil {
		return nil, err
	}
	if def.Devices == nil {
		return nil, nil
	}
	for i, d := range def.Devices.Disks {
		if d.Target != nil && d.Target.Dev == device {
			return &def.Devices.Disks[i], nil
		}
	}
	return nil, nil
}

// AttachVolume adds v to the domain's definition and, when it runs, to
// the running guest (hot-plug). A device already there is done (a call
// answered twice). The test driver runs nothing: nothing to do.
func (d *Driver) AttachVolume(ctx context.Context, instanceID string, v hypervisor.Volume) error {
	if err := v.Validate(); err != nil {
		return fmt.Errorf("attach volume: %w", err)
	}
	if d.domainType == DomainTypeTest {
		return nil
	}
	return d.withDomain(ctx, "attach volume", instanceID, func(dom *libvirt.Domain) error {
		disk := volumeDisk(v)
		x, err := disk.Marshal()
		if err != nil {
			return err
		}
		active, _ := dom.IsActive()
		if have, err := domainDisk(dom, v.Device, false); err != nil {
			return err
		} else if have == nil {
			if err := dom.AttachDeviceFlags(x, libvirt.DOMAIN_DEVICE_MODIFY_CONFIG); err != nil {
				return err
			}
		}
		if !active {
			return nil
		}
		if have, err := domainDisk(dom, v.Device, true); err != nil || have != nil {
			return err
		}
		return dom.AttachDeviceFlags(x, libvirt.DOMAIN_DEVICE_MODIFY_LIVE)
	})
}

// detachWait is how long a running guest has to let a disk go.
const detachWait = 30 * time.Second

// DetachVolume removes the disk at device from the running guest and the
// definition. It returns only once the guest let the disk go (libvirt's
// detach only asks the guest), and fails, keeping the disk in the
// definition, when it did not in time.
func (d *Driver) DetachVolume(ctx context.Context, instanceID, device string) error {
	if d.domainType == DomainTypeTest {
		return nil
	}
	return d.withDomain(ctx, "detach volume", instanceID, func(dom *libvirt.Domain) error {
		if active, _ := dom.IsActive(); active {
			disk, err := domainDisk(dom, device, true)
			if err != nil {
				return err
			}
			if disk != nil {
				x, err := disk.Marshal()
				if err != nil {
					return err
				}
				if err := dom.DetachDeviceFlags(x, libvirt.DOMAIN_DEVICE_MODIFY_LIVE); err != nil {
					return err
				}
				for deadline := time.Now().Add(detachWait); ; {
					still, err := domainDisk(dom, device, true)
					if err != nil {
						return err
					}
					if still == nil {
						break
					}
					if time.Now().After(deadline) || ctx.Err() != nil {
						return fmt.Errorf("the guest has not released disk %s", device)
					}
					time.Sleep(200 * time.Millisecond)
				}
			}
		}
		disk, err := domainDisk(dom, device, false)
		if err != nil || disk == nil {
			return err
		}
		x, err := disk.Marshal()
		if err != nil {
			return err
		}
		return dom.DetachDeviceFlags(x, libvirt.DOMAIN_DEVICE_MODIFY_CONFIG)
	})
}
