package model

// DomainSample is what a host's hypervisor says one running domain has
// used so far. Counters (CPU time, bytes, requests, packets) are totals
// since the domain started: a rate is the difference of two samples, so a
// lost or repeated sample changes no rate, only how fine it is.
type DomainSample struct {
	InstanceID string `json:"instance_id"`
	At         int64  `json:"at"`       // unix seconds, the host's clock
	CPUTime    uint64 `json:"cpu_ns"`   // every vCPU's time, in ns
	VCPUs      int    `json:"vcpus"`    // how many vCPUs shared it
	MemoryKiB  uint64 `json:"mem_kib"`  // the guest's memory now (balloon current)
	MaxMemKiB  uint64 `json:"max_kib"`  // the most it may have (balloon maximum)
	RSSKiB     uint64 `json:"rss_kib"`  // host memory the domain's process holds
	UsedKiB    uint64 `json:"used_kib"` // memory the guest says it uses (0: its balloon driver says nothing)
	Disk       IOStat `json:"disk"`     // every disk together
	Net        IOStat `json:"net"`      // every NIC together

	// The details os-diagnostics shows, sent with every sample and kept
	// only for the newest.
	VCPUTimes []uint64   `json:"vcpu_ns,omitempty"`
	Disks     []DiskStat `json:"disks,omitempty"`
	NICs      []NICStat  `json:"nics,omitempty"`
}

// IOStat is bytes and operations (requests or packets) both ways.
type IOStat struct {
	ReadBytes  uint64 `json:"rd_bytes"` // a disk's reads; a NIC's received bytes
	ReadOps    uint64 `json:"rd_ops"`
	WriteBytes uint64 `json:"wr_bytes"` // a disk's writes; a NIC's sent bytes
	WriteOps   uint64 `json:"wr_ops"`
}

// DiskStat is one disk of a domain.
type DiskStat struct {
	Name string `json:"name"` // the guest's device: vda, vdb
	IOStat
	Errors int64 `json:"errors"` // -1: the hypervisor does not count them
}

// NICStat is one network interface of a domain.
type NICStat struct {
	Name   string `json:"name"` // the host's tap device
	MAC    string `json:"mac"`
	IOStat        // read: received, write: sent
	RxErrs uint64 `json:"rx_errs"`
	RxDrop uint64 `json:"rx_drop"`
	TxErrs uint64 `json:"tx_errs"`
	TxDrop uint64 `json:"tx_drop"`
}

// HostSample is the load of one compute host.
type HostSample struct {
	At        int64   `json:"at"`
	CPUPct    float64 `json:"cpu_pct"` // busy share of every CPU since the previous sample, 0-100
	Load1     float64 `json:"load1"`   // the run queue, as /proc/loadavg says
	MemoryKiB uint64  `json:"mem_kib"` // physical memory
	UsedKiB   uint64  `json:"used_kib"`
	Domains   int     `json:"domains"` // running domains
}

// StatsReport is one host's samples of one moment: the agent sends one
// every stats interval (10 s by default), whatever the domain count.
type StatsReport struct {
	Host    HostSample     `json:"host"`
	Domains []DomainSample `json:"domains"`
}
