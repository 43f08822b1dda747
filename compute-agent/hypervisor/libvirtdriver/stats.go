package libvirtdriver

import (
	"context"
	"fmt"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

// SampleDomains reads every running Nimbus domain's counters in one call
// (virConnectGetAllDomainStats). Where the hypervisor leaves CPU time or
// memory out (the test driver reports only state), the domain's info
// fills them: the test driver then shows a busy guest, which is what the
// charts' tests need.
func (d *Driver) SampleDomains(ctx context.Context) ([]model.DomainSample, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sample domains: %w", err)
	}
	var out []model.DomainSample
	err := d.withConn(func(c *libvirt.Connect) error {
		stats, err := c.GetAllDomainStats(nil, libvirt.DOMAIN_STATS_CPU_TOTAL|libvirt.DOMAIN_STATS_BALLOON|
			libvirt.DOMAIN_STATS_VCPU|libvirt.DOMAIN_STATS_INTERFACE|libvirt.DOMAIN_STATS_BLOCK,
			libvirt.CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
		if err != nil {
			return err
		}
		now := time.Now().Unix()
		for _, st := range stats {
			s, ok := domainSample(st, now)
			if ok {
				out = append(out, s)
			}
			st.Domain.Free()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sample domains: %w", err)
	}
	return out, nil
}

func domainSample(st libvirt.DomainStats, now int64) (model.DomainSample, bool) {
	name, err := st.Domain.GetName()
	if err != nil {
		return model.DomainSample{}, false
	}
	id, ok := hypervisor.InstanceIDFromDomainName(name)
	if !ok {
		return model.DomainSample{}, false
	}
	s := model.DomainSample{InstanceID: id, At: now, VCPUs: len(st.Vcpu)}
	if st.Cpu != nil && st.Cpu.TimeSet {
		s.CPUTime = st.Cpu.Time
	}
	if b := st.Balloon; b != nil {
		s.MemoryKiB, s.MaxMemKiB, s.RSSKiB = b.Current, b.Maximum, b.Rss
		if b.AvailableSet && b.UnusedSet && b.Available >= b.Unused {
			s.UsedKiB = b.Available - b.Unused
		}
	}
	for _, v := range st.Vcpu {
		s.VCPUTimes = append(s.VCPUTimes, v.Time)
	}
	for _, b := range st.Block {
		disk := model.DiskStat{Name: b.Name, Errors: -1,
			IOStat: model.IOStat{ReadBytes: b.RdBytes, ReadOps: b.RdReqs, WriteBytes: b.WrBytes, WriteOps: b.WrReqs}}
		if b.ErrorsSet {
			disk.Errors = int64(b.Errors)
		}
		s.Disks = append(s.Disks, disk)
		s.Disk = addIO(s.Disk, disk.IOStat)
	}
	var macs map[string]string
	if len(st.Net) > 0 {
		macs = interfaceMACs(st.Domain)
	}
	for _, n := range st.Net {
		nic := model.NICStat{Name: n.Name, MAC: macs[n.Name],
			IOStat: model.IOStat{ReadBytes: n.RxBytes, ReadOps: n.RxPkts, WriteBytes: n.TxBytes, WriteOps: n.TxPkts},
			RxErrs: n.RxErrs, RxDrop: n.RxDrop, TxErrs: n.TxErrs, TxDrop: n.TxDrop}
		s.NICs = append(s.NICs, nic)
		s.Net = addIO(s.Net, nic.IOStat)
	}
	if s.CPUTime == 0 || s.MemoryKiB == 0 {
		if info, err := st.Domain.GetInfo(); err == nil {
			if s.CPUTime == 0 {
				s.CPUTime = info.CpuTime
			}
			if s.MemoryKiB == 0 {
				s.MemoryKiB, s.MaxMemKiB = info.Memory, info.MaxMem
			}
			if s.VCPUs == 0 {
				s.VCPUs = int(info.NrVirtCpu)
			}
		}
	}
	return s, true
}

func addIO(a, b model.IOStat) model.IOStat {
	return model.IOStat{ReadBytes: a.ReadBytes + b.ReadBytes, ReadOps: a.ReadOps + b.ReadOps,
		WriteBytes: a.WriteBytes + b.WriteBytes, WriteOps: a.WriteOps + b.WriteOps}
}

// interfaceMACs maps a running domain's tap devices to their MACs (the
// stats name the device only).
func interfaceMACs(dom *libvirt.Domain) map[string]string {
	doc, err := dom.GetXMLDesc(0)
	if err != nil {
		return nil
	}
	var def libvirtxml.Domain
	if def.Unmarshal(doc) != nil || def.Devices == nil {
		return nil
	}
	macs := map[string]string{}
	for _, i := range def.Devices.Interfaces {
		if i.Target != nil && i.MAC != nil {
			macs[i.Target.Dev] = i.MAC.Address
		}
	}
	return macs
}

// SampleHost reads the host's CPU time counters and memory. The test
// driver has no memory statistics: the node info's total stands, with
// nothing used.
func (d *Driver) SampleHost(ctx context.Context) (hypervisor.HostCounters, error) {
	if err := ctx.Err(); err != nil {
		return hypervisor.HostCounters{}, fmt.Errorf("sample host: %w", err)
	}
	var hc hypervisor.HostCounters
	err := d.withConn(func(c *libvirt.Connect) error {
		cpu, err := c.GetCPUStats(int(libvirt.NODE_CPU_STATS_ALL_CPUS), 0)
		if err != nil {
			return err
		}
		hc.CPUBusy = cpu.Kernel + cpu.User
		hc.CPUTotal = hc.CPUBusy + cpu.Idle + cpu.Iowait
		if mem, err := c.GetMemoryStats(libvirt.NODE_MEMORY_STATS_ALL_CELLS, 0); err == nil {
			hc.MemoryKiB = mem.Total
			if avail := mem.Free + mem.Buffers + mem.Cached; avail <= mem.Total {
				hc.UsedKiB = mem.Total - avail
			}
			return nil
		}
		ni, err := c.GetNodeInfo()
		if err != nil {
			return err
		}
		hc.MemoryKiB = ni.Memory
		return nil
	})
	if err != nil {
		return hypervisor.HostCounters{}, fmt.Errorf("sample host: %w", err)
	}
	return hc, nil
}
