// Package compute is Nova's core: flavors, key pairs and the instance
// lifecycle. Every method that acts for a caller checks the policy table
// first. A change to an instance, its action record and the job that
// carries it out are written in one transaction (the job into the outbox),
// so no job is lost between PostgreSQL and Redis.
package compute

import (
	"context"
	"hash/maphash"
	"reflect"

	"github.com/redis/go-redis/v9"

	"log/slog"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/console"
	"github.com/nimbus-cloud/nimbus/internal/image"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/network"
	"github.com/nimbus-cloud/nimbus/internal/scheduler"
	"github.com/nimbus-cloud/nimbus/internal/stats"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/volume"
)

// Options configure the instance lifecycle.
type Options struct {
	// Network gives servers their ports (nil: servers have no NICs).
	Network *network.Service
	// Volumes attaches block storage to servers (nil: no volumes).
	Volumes       *volume.Service
	RedisPrefix   string        // stream names live under it
	BuildTimeout  time.Duration // a build not finished by then goes to ERROR
	AgentLiveness time.Duration // hosts silent longer are down
	MaxAttempts   int           // build attempts across hosts (Nova: 3)
	TaskResend    time.Duration // a task whose job has not finished by then has it sent again
	// ShelvedOffload is how long a shelved instance keeps its host: 0
	// offloads at once, negative never (Nova's shelved_offload_time).
	ShelvedOffload time.Duration
	// Reclaim, when positive, makes DELETE a soft delete: the instance is
	// restorable that long, then deleted (Nova's reclaim_instance_interval).
	Reclaim   time.Duration
	Scheduler scheduler.Config // ratios and weigher multipliers
	// ImageURL returns a download URL an agent may use for an image
	// without a token (signed, expiring).
	ImageURL func(imageID string) string
	// Images creates and discards snapshot images (the image service);
	// nil: no snapshots. UploadURL is where an agent sends a snapshot's
	// data without a token (signed, expiring).
	Images    Images
	UploadURL func(imageID string) string
	// DiskPutURL and DiskGetURL are where a move's source sends the
	// instance's disk and its destination fetches it (the relay; signed).
	DiskPutURL, DiskGetURL func(migration string) string
	// ResizeConfirmWindow confirms a resize left in VERIFY_RESIZE that
	// long (0: never); AllowResizeToSameHost lets a resize stay on its
	// host (Nova's allow_resize_to_same_host).
	ResizeConfirmWindow   time.Duration
	AllowResizeToSameHost bool
	// Kick wakes the outbox relay after a commit; nil is fine.
	Kick func()
	// Consoles issues and revokes console tokens; nil: no consoles.
	Consoles *console.Tokens
	// ConsoleURL is the console proxy's public base URL.
	ConsoleURL string
	// RDB reaches the agents (their reports and calls).
	RDB *redis.Client
}

// Images is what snapshots need of the image service.
type Images interface {
	Create(ctx context.Context, caller *model.Token, in image.Input) (model.Image, error)
	Discard(ctx context.Context, id string) error // only an image that is not active
	Drop(ctx context.Context, id string) error    // whatever its status
	RemoveDisk(migration string) error            // a move's relayed disk
}

// Service is the compute service shared by the API, the portal and the
// workers.
type Service struct {
	store    *store.Store
	opt      Options
	log      *slog.Logger
	projects projectLocks
	stats    *stats.Store // nil without Redis
}

// projectLocks queue this controller's launches per project in memory
// before they take the project's row lock in PostgreSQL (which still
// orders them against other controllers). Fifty requests waiting on one
// row lock are fifty database backends woken at every commit; fifty
// goroutines on a mutex cost nothing while they wait, and the one holding
// the row lock gets the CPU. Striped: memory stays fixed however many
// projects there are.
type projectLocks struct {
	seed  maphash.Seed
	once  sync.Once
	locks [64]sync.Mutex
}

func (p *projectLocks) lock(projectID string) (unlock func()) {
	p.once.Do(func() { p.seed = maphash.MakeSeed() })
	mu := &p.locks[maphash.String(p.seed, projectID)%uint64(len(p.locks))]
	mu.Lock()
	return mu.Unlock
}

// New returns a Service.
func New(st *store.Store, log *slog.Logger, opt Options) *Service {
	if opt.BuildTimeout == 0 {
		opt.BuildTimeout = 10 * time.Minute
	}
	if opt.AgentLiveness == 0 {
		opt.AgentLiveness = 60 * time.Second
	}
	if opt.TaskResend == 0 {
		opt.TaskResend = 2 * time.Minute
	}
	if opt.MaxAttempts == 0 {
		opt.MaxAttempts = 3
	}
	if reflect.DeepEqual(opt.Scheduler, scheduler.Config{}) {
		opt.Scheduler = scheduler.DefaultConfig()
	}
	if opt.Kick == nil {
		opt.Kick = func() {}
	}
	if opt.ImageURL == nil {
		opt.ImageURL = func(string) string { return "" }
	}
	if opt.UploadURL == nil {
		opt.UploadURL = func(string) string { return "" }
	}
	svc := &Service{store: st, opt: opt, log: log.With("component", "compute")}
	if opt.RDB != nil {
		svc.stats = stats.New(opt.RDB, opt.RedisPrefix)
	}
	return svc
}
