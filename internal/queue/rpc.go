package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Calls are questions the controller asks one agent and waits for, such
// as the tail of an instance's serial log. They do not go through the
// host's job stream, where they would wait behind builds: each host has a
// request list the agent pops, and each call a reply list the controller
// waits on. A call nobody answers in time fails; an agent drops requests
// older than their deadline, so a host that was down does not work
// through a backlog of questions nobody waits for any more.

// Call kinds.
const (
	CallConsoleLog = "console_log"
	// CallConsolePort asks which VNC port the instance's domain listens on
	// now, so a console proxy never dials a port that has since gone to
	// another instance (Nova's validate_console_port).
	CallConsolePort = "console_port"
	// CallPlugNIC and CallUnplugNIC add a port's NIC to an instance's
	// domain and take one away (os-interface), live when it runs.
	CallPlugNIC   = "plug_nic"
	CallUnplugNIC = "unplug_nic"
	// CallSample asks for the instance's domain's statistics now (a
	// model.DomainSample as JSON in Output), for os-diagnostics when the
	// host's periodic report has not come yet.
	CallSample = "sample"
	// Volume calls to a storage host (Request.Volume says which volume):
	// each is idempotent, so the controller may ask again after a reply
	// it lost.
	CallVolumeCreate   = "volume_create"   // empty, or a copy of Volume.Source
	CallVolumeDelete   = "volume_delete"   // the volume and its exports
	CallVolumeExtend   = "volume_extend"   // grow to Volume.SizeGB
	CallSnapshotCreate = "snapshot_create" // copy the volume into Volume.SnapshotID
	CallSnapshotDelete = "snapshot_delete"
	CallVolumeExport   = "volume_export" // serve it to one attachment over NBD (Reply.Port)
	CallVolumeUnexport = "volume_unexport"
	// CallAttachVolume and CallDetachVolume give an instance's domain a
	// volume's disk and take it away, live when it runs (Request.Disk).
	CallAttachVolume = "attach_volume"
	CallDetachVolume = "detach_volume"
)

// VolumeCall is what a volume call acts on.
type VolumeCall struct {
	ID         string        `json:"id"`
	SizeGB     int           `json:"size_gb,omitempty"`
	SnapshotID string        `json:"snapshot_id,omitempty"`
	Source     *VolumeSource `json:"source,omitempty"`
	Export     *NBDExport    `json:"export,omitempty"` // volume_export, volume_unexport
}

// VolumeSource is what a new volume is a copy of (one of the three).
type VolumeSource struct {
	SnapshotID string    `json:"snapshot_id,omitempty"`
	VolumeID   string    `json:"volume_id,omitempty"`
	Image      *ImageRef `json:"image,omitempty"`
}

// NBDExport is one attachment's view of a volume on another host: where
// its export is, its name and the attachment's own TLS-PSK.
type NBDExport struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	Name string `json:"name"`
	User string `json:"user"` // the PSK identity: the attachment's id
	Key  string `json:"key"`  // hex
}

// VolumeDisk is a volume as one instance's disk.
type VolumeDisk struct {
	AttachmentID string `json:"attachment_id"`
	VolumeID     string `json:"volume_id"` // also the disk's serial, as Nova's
	Device       string `json:"device"`    // target: vdb, vdc, ...
	// Remote is where to read a volume kept on another host; nil: it is
	// on this host's own pool, read as a file.
	Remote *NBDExport `json:"remote,omitempty"`
}

// Request is one call to an agent.
type Request struct {
	V          int         `json:"v"`
	ID         string      `json:"id"`
	Kind       string      `json:"kind"`
	InstanceID string      `json:"instance_id"`
	Lines      int         `json:"lines,omitempty"`  // console_log: last lines, 0 for all (capped by the agent)
	NIC        *NIC        `json:"nic,omitempty"`    // plug_nic, unplug_nic
	Volume     *VolumeCall `json:"volume,omitempty"` // the storage host's volume calls
	Disk       *VolumeDisk `json:"disk,omitempty"`   // attach_volume, detach_volume
	Deadline   time.Time   `json:"deadline"`
}

// Reply answers a Request.
type Reply struct {
	V      int    `json:"v"`
	Error  string `json:"error,omitempty"`
	Output string `json:"output,omitempty"`
	Port   int    `json:"port,omitempty"` // console_port: 0 when the instance has no VNC server here
	// Size is the serial log's length when console_log read it: where a
	// page that shows that output follows it from (LogWatch).
	Size int64 `json:"size,omitempty"`
}

// ErrNoReply is a call that was not answered in time.
var ErrNoReply = errors.New("the compute host did not answer")

func requestKey(prefix, host string) string { return prefix + "rpc:" + host }
func replyKey(prefix, id string) string     { return prefix + "rpc:reply:" + id }

// Call sends req to host's agent and waits up to timeout for the reply.
func Call(ctx context.Context, rdb *redis.Client, prefix, host string, req Request, timeout time.Duration) (Reply, error) {
	id, err := send(ctx, rdb, prefix, host, &req, timeout)
	if err != nil {
		return Reply{}, err
	}
	return wait(ctx, rdb, prefix, host, id, timeout, nil)
}

// send queues req for host's agent and returns its id.
func send(ctx context.Context, rdb *redis.Client, prefix, host string, req *Request, timeout time.Duration) (string, error) {
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	req.V, req.ID, req.Deadline = Version, hex.EncodeToString(id[:]), time.Now().Add(timeout).UTC()
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	key := requestKey(prefix, host)
	pipe := rdb.TxPipeline()
	pipe.LPush(ctx, key, b)
	pipe.Expire(ctx, key, time.Minute) // a host gone for good leaves nothing behind
	if _, err := pipe.Exec(ctx); err != nil {
		return "", fmt.Errorf("call %s: %w", host, err)
	}
	return req.ID, nil
}

// CallWhile is Call that stops waiting, with ErrNoReply, as soon as
// alive (asked every second) says the host is gone: a caller then acts
// on a dead host's silence in seconds, not at the end of a long timeout.
func CallWhile(ctx context.Context, rdb *redis.Client, prefix, host string, req Request, timeout time.Duration, alive func() bool) (Reply, error) {
	id, err := send(ctx, rdb, prefix, host, &req, timeout)
	if err != nil {
		return Reply{}, err
	}
	return wait(ctx, rdb, prefix, host, id, timeout, alive)
}

// wait waits for the reply to call id, up to timeout, while alive (nil:
// always) says the host may still answer.
func wait(ctx context.Context, rdb *redis.Client, prefix, host, id string, timeout time.Duration, alive func() bool) (Reply, error) {
	deadline := time.Now().Add(timeout)
	var res []string
	var err error
	for {
		slice := time.Until(deadline)
		if alive != nil && slice > time.Second {
			slice = time.Second
		}
		if slice <= 0 {
			return Reply{}, ErrNoReply
		}
		res, err = rdb.BRPop(ctx, slice, replyKey(prefix, id)).Result()
		if !errors.Is(err, redis.Nil) {
			break
		}
		if alive != nil && !alive() {
			return Reply{}, ErrNoReply
		}
	}
	if err != nil {
		return Reply{}, fmt.Errorf("call %s: %w", host, err)
	}
	var rep Reply
	if err := json.Unmarshal([]byte(res[1]), &rep); err != nil {
		return Reply{}, fmt.Errorf("call %s: reply: %w", host, err)
	}
	return rep, nil
}

// Serve answers host's calls with handle until ctx ends, each in its own
// goroutine (a slow answer does not hold up the next).
func Serve(ctx context.Context, rdb *redis.Client, prefix, host string, handle func(context.Context, Request) Reply) {
	key := requestKey(prefix, host)
	for ctx.Err() == nil {
		res, err := rdb.BRPop(ctx, 2*time.Second, key).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				time.Sleep(500 * time.Millisecond)
			}
			continue
		}
		var req Request
		if json.Unmarshal([]byte(res[1]), &req) != nil || req.ID == "" || time.Now().After(req.Deadline) {
			continue
		}
		go func() {
			cctx, cancel := context.WithDeadline(ctx, req.Deadline)
			defer cancel()
			rep := handle(cctx, req)
			rep.V = Version
			b, err := json.Marshal(rep)
			if err != nil {
				return
			}
			pipe := rdb.TxPipeline()
			pipe.LPush(ctx, replyKey(prefix, req.ID), b)
			pipe.Expire(ctx, replyKey(prefix, req.ID), 30*time.Second)
			_, _ = pipe.Exec(ctx)
		}()
	}
}
