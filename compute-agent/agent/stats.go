package agent

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// hostCPU is the previous reading of the host's CPU counters: the busy
// share is the difference of two.
type hostCPU struct{ busy, total uint64 }

// sendStats sends one report of the host's load and every running
// domain's counters: one event per host per interval, however many
// domains, so the controller's work grows with hosts, not VMs. Only
// sendStats touches a.cpu (one goroutine).
func (a *Agent) sendStats(ctx context.Context) error {
	sm, ok := a.drv.(hypervisor.Sampler)
	if !ok {
		return nil
	}
	doms, err := sm.SampleDomains(ctx)
	if err != nil {
		return err
	}
	hc, err := sm.SampleHost(ctx)
	if err != nil {
		return err
	}
	var owned []model.DomainSample
	for _, d := range doms {
		if a.owns(d.InstanceID) {
			owned = append(owned, d)
		}
	}
	host := model.HostSample{At: time.Now().Unix(), MemoryKiB: hc.MemoryKiB, UsedKiB: hc.UsedKiB,
		Domains: len(owned), Load1: loadAverage()}
	if prev := a.cpu; prev.total != 0 && hc.CPUTotal > prev.total && hc.CPUBusy >= prev.busy {
		host.CPUPct = 100 * float64(hc.CPUBusy-prev.busy) / float64(hc.CPUTotal-prev.total)
	}
	a.cpu = hostCPU{busy: hc.CPUBusy, total: hc.CPUTotal}
	return a.emit(ctx, queue.Event{Kind: queue.EventStats, Stats: &model.StatsReport{Host: host, Domains: owned}})
}

// sampleOne answers CallSample: the instance's domain's counters now, if
// it runs here.
func (a *Agent) sampleOne(ctx context.Context, id string) queue.Reply {
	sm, ok := a.drv.(hypervisor.Sampler)
	if !ok || !a.owns(id) {
		return queue.Reply{Error: "no statistics here"}
	}
	doms, err := sm.SampleDomains(ctx)
	if err != nil {
		return queue.Reply{Error: err.Error()}
	}
	for _, d := range doms {
		if d.InstanceID == id {
			b, err := json.Marshal(d)
			if err != nil {
				return queue.Reply{Error: err.Error()}
			}
			return queue.Reply{Output: string(b)}
		}
	}
	return queue.Reply{Error: "the domain is not running here"}
}

// loadAverage is the one-minute load average (0 where /proc says none).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return f
}
