package compute

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

// serverDiagnostics is os-diagnostics (admins): the instance's newest
// sample from its host, the same data the portal's charts draw. From
// 2.48 in Nova's common shape; before it, in the libvirt driver's own
// flat one (cpu0_time, vda_read, <tap>_rx ...), as Nova answers.
func (h *Handler) serverDiagnostics(c *fiber.Ctx) error {
	tok := api.Token(c)
	in, d, err := h.svc.Diagnostics(c.UserContext(), tok, api.Param(c, "id"))
	if err != nil {
		return err
	}
	if !version(c).AtLeast(2, 48) {
		return c.JSON(flatDiagnostics(d))
	}
	hypervisor := "qemu"
	if hs, err := h.svc.Hosts(c.UserContext(), tok); err == nil {
		for _, x := range hs {
			if x.Host == in.Host && x.HypervisorType != "" {
				hypervisor = strings.ToLower(x.HypervisorType)
			}
		}
	}
	cpus := make([]fiber.Map, len(d.VCPUTimes))
	for i, t := range d.VCPUTimes {
		cpus[i] = fiber.Map{"id": i, "time": t, "utilisation": nil}
	}
	disks := make([]fiber.Map, len(d.Disks))
	for i, x := range d.Disks {
		disks[i] = fiber.Map{"read_bytes": x.ReadBytes, "read_requests": x.ReadOps, "write_bytes": x.WriteBytes,
			"write_requests": x.WriteOps, "errors_count": x.Errors}
	}
	nics := make([]fiber.Map, len(d.NICs))
	for i, x := range d.NICs {
		nics[i] = fiber.Map{"mac_address": x.MAC, "rx_octets": x.ReadBytes, "rx_packets": x.ReadOps, "rx_errors": x.RxErrs,
			"rx_drop": x.RxDrop, "rx_rate": nil, "tx_octets": x.WriteBytes, "tx_packets": x.WriteOps, "tx_errors": x.TxErrs,
			"tx_drop": x.TxDrop, "tx_rate": nil}
	}
	used := d.UsedKiB
	if used == 0 {
		used = d.RSSKiB
	}
	return c.JSON(fiber.Map{
		"state": model.PowerRunning.String(), "driver": "libvirt", "hypervisor": hypervisor, "hypervisor_os": "linux",
		"uptime": nil, "config_drive": true,
		"num_cpus": max(d.VCPUs, len(d.VCPUTimes)), "num_disks": len(d.Disks), "num_nics": len(d.NICs),
		"memory_details": fiber.Map{"maximum": max(d.MaxMemKiB, d.MemoryKiB) / 1024, "used": used / 1024},
		"cpu_details":    cpus, "disk_details": disks, "nic_details": nics,
	})
}

// flatDiagnostics is the libvirt driver's shape before 2.48: memory in
// KiB, a key per vCPU, disk and NIC counter.
func flatDiagnostics(d model.DomainSample) fiber.Map {
	m := fiber.Map{"memory": d.MemoryKiB, "memory-actual": d.MemoryKiB, "memory-rss": d.RSSKiB}
	for i, t := range d.VCPUTimes {
		m["cpu"+strconv.Itoa(i)+"_time"] = t
	}
	for _, x := range d.Disks {
		m[x.Name+"_read"], m[x.Name+"_read_req"] = x.ReadBytes, x.ReadOps
		m[x.Name+"_write"], m[x.Name+"_write_req"] = x.WriteBytes, x.WriteOps
		m[x.Name+"_errors"] = x.Errors
	}
	for _, x := range d.NICs {
		m[x.Name+"_rx"], m[x.Name+"_rx_packets"] = x.ReadBytes, x.ReadOps
		m[x.Name+"_rx_errors"], m[x.Name+"_rx_drop"] = x.RxErrs, x.RxDrop
		m[x.Name+"_tx"], m[x.Name+"_tx_packets"] = x.WriteBytes, x.WriteOps
		m[x.Name+"_tx_errors"], m[x.Name+"_tx_drop"] = x.TxErrs, x.TxDrop
	}
	return m
}
