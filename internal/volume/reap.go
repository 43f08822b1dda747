package volume

import (
	"context"
	"time"
)

// longestCall is the most any operation's driver waits for its host; a
// status older than this (and a bit) has no driver left.
const longestCall = copyCall + time.Minute

// Reap ends the operations nobody drives any more: their host went down
// (not heard from for the agent liveness), or their controller did (the
// status is older than any call's wait). Each ends where its failure
// would have: a create in error, a delete in error_deleting, an extend in
// error_extending, a detach back in-use (the guest may have the disk),
// an attach in error and still attached. It returns how many it ended.
func (s *Service) Reap(ctx context.Context, now time.Time) (int, error) {
	vs, err := s.store.BusyVolumes(ctx, now.Add(-s.opt.AgentLiveness))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, v := range vs {
		host := v.Host
		if v.Attachment != nil && (v.Status == string(Attaching) || v.Status == string(Detaching)) {
			host = v.Attachment.Host
		}
		_, alive := s.hostAlive(ctx, host)
		if alive && v.StatusAt.After(now.Add(-longestCall)) {
			continue
		}
		to, msg := reaped(Status(v.Status))
		if s.setStatus(ctx, v.ID, []Status{Status(v.Status)}, to, msg) {
			s.log.Warn("ended a volume operation nobody drives", "volume_id", v.ID, "status", v.Status, "now", to, "host", host)
			n++
		}
	}
	// Attachments of instances deleted by any path (the event's own
	// release may have been cut short) are let go.
	gone, err := s.store.DeletedInstancesWithVolumes(ctx)
	if err != nil {
		return n, err
	}
	for _, id := range gone {
		if err := s.InstanceGone(ctx, id); err != nil {
			return n, err
		}
		n++
	}
	sns, err := s.store.BusySnapshots(ctx)
	if err != nil {
		return n, err
	}
	for _, sn := range sns {
		if sn.StatusAt.After(now.Add(-s.opt.AgentLiveness)) {
			continue
		}
		v, err := s.store.Volume(ctx, sn.VolumeID)
		if err != nil {
			continue
		}
		if _, alive := s.hostAlive(ctx, v.Host); alive && sn.StatusAt.After(now.Add(-longestCall)) {
			continue
		}
		to := map[string]string{"creating": "error", "deleting": "error_deleting"}[sn.Status]
		if ok, err := s.store.SetSnapshotStatus(ctx, sn.ID, []string{sn.Status}, to, "The storage host went away during the operation."); err == nil && ok {
			n++
		}
	}
	return n, nil
}

// reaped is where an operation nobody drives ends, and why.
func reaped(st Status) (Status, string) {
	switch st {
	case Creating:
		return Error, "The storage host went away while it made the volume."
	case Deleting:
		return ErrorDeleting, "The storage host went away while it deleted the volume."
	case Extending:
		return ErrorExtend, "The storage host went away while it extended the volume."
	case Detaching:
		return InUse, "The compute host went away during the detach; the volume is still attached."
	}
	return Error, "The compute host went away during the attach; detach the volume to try again."
}
