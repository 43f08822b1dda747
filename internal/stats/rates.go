package stats

import "github.com/nimbus-cloud/nimbus/internal/model"

// Point is one moment of an instance's charts: what it used over the
// interval that ended at At.
type Point struct {
	At       int64
	CPUPct   float64 // of the instance's vCPUs together, 0-100
	MemKiB   float64 // what the guest uses by its own account, else what its process holds on the host
	DiskRead float64 // bytes a second
	DiskWrite,
	NetRx, NetTx float64
	// Gap: nothing is known between the previous point and this one (no
	// samples, or the domain started again and its counters with it):
	// a chart breaks its line here.
	Gap bool
}

// Rates turns samples (oldest first, about step seconds apart) into
// points: one for each pair of neighbours. Neighbours more than three
// steps apart, or whose counters went backwards, start a new line.
func Rates(s []model.DomainSample, step int64) []Point {
	var out []Point
	gap := true
	for i := 1; i < len(s); i++ {
		a, b := s[i-1], s[i]
		dt := b.At - a.At
		if dt <= 0 {
			continue
		}
		if dt > 3*step || b.CPUTime < a.CPUTime || b.Disk.ReadBytes < a.Disk.ReadBytes || b.Net.ReadBytes < a.Net.ReadBytes {
			gap = true
			continue
		}
		secs := float64(dt)
		p := Point{At: b.At, Gap: gap, MemKiB: float64(memoryOf(b)),
			DiskRead: rate(a.Disk.ReadBytes, b.Disk.ReadBytes, secs), DiskWrite: rate(a.Disk.WriteBytes, b.Disk.WriteBytes, secs),
			NetRx: rate(a.Net.ReadBytes, b.Net.ReadBytes, secs), NetTx: rate(a.Net.WriteBytes, b.Net.WriteBytes, secs)}
		p.CPUPct = min(100, 100*float64(b.CPUTime-a.CPUTime)/(secs*1e9*float64(max(b.VCPUs, 1))))
		out = append(out, p)
		gap = false
	}
	return out
}

// memoryOf is the memory a chart shows for a sample: the guest's own
// figure when its balloon driver gives one, else the host process's.
func memoryOf(d model.DomainSample) uint64 {
	switch {
	case d.UsedKiB > 0:
		return d.UsedKiB
	case d.RSSKiB > 0:
		return d.RSSKiB
	default:
		return d.MemoryKiB
	}
}

func rate(a, b uint64, secs float64) float64 {
	if b < a {
		return 0
	}
	return float64(b-a) / secs
}
