package scheduler_test

import (
	"errors"
	"fmt"

	"github.com/nimbus-cloud/nimbus/internal/scheduler"
)

func ExamplePlace() {
	hosts := []scheduler.Host{
		{Name: "compute-1", AZ: "nova", Enabled: true, Up: true, HypervisorType: "QEMU", Arch: "x86_64",
			VCPUs: 16, VCPUsUsed: 40, MemoryMB: 65536, MemoryMBUsed: 60000, DiskGB: 1000, DiskGBUsed: 200},
		{Name: "compute-2", AZ: "nova", Enabled: true, Up: true, HypervisorType: "QEMU", Arch: "x86_64",
			VCPUs: 16, VCPUsUsed: 4, MemoryMB: 65536, MemoryMBUsed: 8192, DiskGB: 1000, DiskGBUsed: 100},
		{Name: "compute-3", AZ: "nova", Enabled: false, Up: true, HypervisorType: "QEMU", Arch: "x86_64",
			VCPUs: 16, MemoryMB: 65536, DiskGB: 1000},
	}
	req := scheduler.Request{VCPUs: 2, MemoryMB: 4096, DiskGB: 20,
		ImageProps: map[string]string{"hw_architecture": "x86_64"}}

	candidates, err := scheduler.Place(hosts, req, scheduler.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range candidates {
		fmt.Println(h.Name)
	}

	// Output:
	// compute-2
	// compute-1
}

func ExamplePlace_noValidHost() {
	hosts := []scheduler.Host{
		{Name: "compute-1", Enabled: true, Up: false, VCPUs: 16, MemoryMB: 65536, DiskGB: 1000},
		{Name: "compute-2", Enabled: true, Up: true, VCPUs: 16, MemoryMB: 2048, DiskGB: 1000},
	}
	req := scheduler.Request{VCPUs: 2, MemoryMB: 4096, DiskGB: 20}

	_, err := scheduler.Place(hosts, req, scheduler.DefaultConfig())
	fmt.Println(errors.Is(err, scheduler.ErrNoValidHost))
	fmt.Println(err)

	// Output:
	// true
	// No valid host was found. 2 hosts rejected (ComputeFilter: 1, RamFilter: 1): compute-1 rejected by ComputeFilter: compute service is down; compute-2 rejected by RamFilter: free RAM 3072 MB (2048 MB * 1.5 allocation ratio - 0 MB used) is less than the requested 4096 MB
}
