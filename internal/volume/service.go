package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// The service: what the Cinder API, Nova's os-volume_attachments and the
// portal ask of volumes. An operation records its status in PostgreSQL,
// then asks the storage host (queue.Call) in the background and records
// the outcome; the calls are idempotent, and a status an operation left
// behind (its controller died, or its host) is ended by Reap.

// Options are what the service needs besides the store.
type Options struct {
	RDB         *redis.Client
	RedisPrefix string
	// ImageURL signs a download URL an agent may fetch an image from.
	ImageURL func(imageID string) string
	// Images finds an image a volume is made from, as the caller sees it.
	Images func(ctx context.Context, caller *model.Token, id string) (model.Image, error)
	// AgentLiveness: a host not heard from this long is down.
	AgentLiveness time.Duration
}

// Service is the block storage domain.
type Service struct {
	store *store.Store
	log   *slog.Logger
	opt   Options
}

// New returns a Service.
func New(st *store.Store, log *slog.Logger, opt Options) *Service {
	if opt.AgentLiveness == 0 {
		opt.AgentLiveness = 60 * time.Second
	}
	return &Service{store: st, log: log.With("component", "volume"), opt: opt}
}

// How long a storage host has for each call.
const (
	quickCall = 2 * time.Minute  // create empty, extend, delete, export, attach
	copyCall  = 30 * time.Minute // a copy of an image, a snapshot or a volume
)

// MaxSizeGB bounds a volume's size whatever the quota (16 TiB, ext4's
// and qcow2's comfortable limit).
const MaxSizeGB = 16384

// NotFound is the refusal for a volume the caller may not see.
func NotFound(id string) error { return fault.NotFound("Volume %s could not be found.", id) }

// SnapshotNotFound is the refusal for a snapshot the caller may not see.
func SnapshotNotFound(id string) error { return fault.NotFound("Snapshot %s could not be found.", id) }

// Get returns a volume the caller may see; another project's is not found.
func (s *Service) Get(ctx context.Context, caller *model.Token, id string) (model.Volume, error) {
	v, err := s.store.Volume(ctx, id)
	if err != nil {
		return v, fault.NotFoundAs(err, NotFound(id))
	}
	if !policy.Allowed(caller, policy.GetVolume, policy.Target{ProjectID: v.ProjectID}) {
		return model.Volume{}, NotFound(id)
	}
	return v, nil
}

// ListFilter selects the volumes a list shows.
type ListFilter struct {
	AllProjects bool   // admins: every project's (all_tenants)
	ProjectID   string // admins with AllProjects: one project's
	Name        string
	Status      string
	Bootable    *bool
	Marker      string
	Limit       int
}

// List returns the caller's project's volumes (an admin's choice of
// projects), newest first.
func (s *Service) List(ctx context.Context, caller *model.Token, f ListFilter) ([]model.Volume, error) {
	if err := policy.Check(caller, policy.GetVolume, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return nil, err
	}
	sf := store.VolumeFilter{ProjectID: caller.ProjectID, Name: f.Name, Status: f.Status, Bootable: f.Bootable, Limit: f.Limit}
	if f.AllProjects && policy.Allowed(caller, policy.ListAllVolumes, policy.Target{}) {
		sf.ProjectID = f.ProjectID
	}
	if f.Marker != "" {
		m, err := s.Get(ctx, caller, f.Marker)
		if err != nil {
			return nil, fault.NotFoundAs(err, fault.Invalid("marker", "Marker %s could not be found.", f.Marker))
		}
		sf.Marker = m.ID
	}
	return s.store.Volumes(ctx, sf)
}

// changeable returns a volume the caller may change, locked in tx.
func changeable(ctx context.Context, tx *store.Store, caller *model.Token, id string) (model.Volume, error) {
	v, err := tx.LockVolume(ctx, id)
	if err != nil {
		return v, fault.NotFoundAs(err, NotFound(id))
	}
	if !policy.Allowed(caller, policy.GetVolume, policy.Target{ProjectID: v.ProjectID}) {
		return model.Volume{}, NotFound(id)
	}
	return v, policy.Check(caller, policy.ChangeVolume, policy.Target{ProjectID: v.ProjectID})
}

// check runs the state table's Check on v.
func check(v model.Volume, a Ask) (Status, error) {
	n := 0
	if v.Attachment != nil {
		n = 1
	}
	return Check(Volume{ID: v.ID, Status: Status(v.Status), SizeGB: v.SizeGB, Attachments: n, Snapshots: v.Snapshots}, a)
}

// Update changes a volume's name, description, metadata and bootable flag.
func (s *Service) Update(ctx context.Context, caller *model.Token, id string, fn func(*model.Volume) error) (model.Volume, error) {
	var out model.Volume
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		v, err := changeable(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		if err := fn(&v); err != nil {
			return err
		}
		if err := validateText(v.Name, v.Description, v.Metadata); err != nil {
			return err
		}
		out = v
		return tx.UpdateVolume(ctx, v)
	})
	if err != nil {
		return out, err
	}
	return s.store.Volume(ctx, id)
}

// setStatus moves a volume on when it is still in from (the change feed's
// trigger tells the live pages).
func (s *Service) setStatus(ctx context.Context, id string, from []Status, to Status, errMsg string) bool {
	fs := make([]string, len(from))
	for i, f := range from {
		fs[i] = string(f)
	}
	ok, err := s.store.SetVolumeStatus(ctx, id, fs, string(to), errMsg)
	if err != nil {
		s.log.Error("record a volume's status", "volume_id", id, "status", to, "error", err)
		return false
	}
	return ok
}

// call asks host's agent and turns its silence (or its death) or its
// error into one error.
func (s *Service) call(ctx context.Context, host string, req queue.Request, timeout time.Duration) (queue.Reply, error) {
	if s.opt.RDB == nil {
		return queue.Reply{}, errors.New("no queue")
	}
	// A host seen dead ends the wait at once: the volume's status says so
	// in seconds, not at the end of a copy's half hour.
	rep, err := queue.CallWhile(ctx, s.opt.RDB, s.opt.RedisPrefix, host, req, timeout, func() bool {
		_, ok := s.hostAlive(ctx, host)
		return ok
	})
	if err != nil {
		return rep, err
	}
	if rep.Error != "" {
		return rep, &hostError{host: host, msg: rep.Error}
	}
	return rep, nil
}

// hostError is an agent's answer that it failed: its words are for admins.
type hostError struct{ host, msg string }

func (e *hostError) Error() string { return e.host + ": " + e.msg }

// background runs fn after the request that started it has answered.
func (s *Service) background(ctx context.Context, fn func(ctx context.Context)) {
	go fn(context.WithoutCancel(ctx))
}

// storageHosts lists the live hosts that keep volumes, the roomiest first.
func (s *Service) storageHosts(ctx context.Context) ([]queue.AgentInfo, error) {
	if s.opt.RDB == nil {
		return nil, nil
	}
	agents, err := queue.Agents(ctx, s.opt.RDB, s.opt.RedisPrefix)
	if err != nil {
		return nil, fault.Unavailable(err)
	}
	ages, err := queue.HeartbeatAges(ctx, s.opt.RDB, s.opt.RedisPrefix)
	if err != nil {
		return nil, fault.Unavailable(err)
	}
	var out []queue.AgentInfo
	for _, a := range agents {
		if age, ok := ages[a.Host]; ok && a.Storage != nil && age <= s.opt.AgentLiveness {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Storage.FreeGB != out[j].Storage.FreeGB {
			return out[i].Storage.FreeGB > out[j].Storage.FreeGB
		}
		return out[i].Host < out[j].Host
	})
	return out, nil
}

// hostAlive reports whether host's agent was heard from lately, and its report.
func (s *Service) hostAlive(ctx context.Context, host string) (queue.AgentInfo, bool) {
	if s.opt.RDB == nil || host == "" {
		return queue.AgentInfo{}, false
	}
	ages, err := queue.HeartbeatAges(ctx, s.opt.RDB, s.opt.RedisPrefix)
	if err != nil {
		return queue.AgentInfo{}, false
	}
	age, ok := ages[host]
	if !ok || age > s.opt.AgentLiveness {
		return queue.AgentInfo{}, false
	}
	info, found, err := queue.Agent(ctx, s.opt.RDB, s.opt.RedisPrefix, host)
	return info, found && err == nil
}

func newID() string { return uuid.NewString() }

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
