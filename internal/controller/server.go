// Package controller assembles the nimbus controller: it connects to
// PostgreSQL and Redis, migrates and seeds, builds the domain services
// and the Fiber app (portal, Identity, Compute and Image APIs, health),
// and serves them with the console proxy and the controller workers until
// its context ends. The nimbus command (web/) is a thin main around Run;
// tests start a controller in-process through controllertest.
package controller

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	computeapi "github.com/nimbus-cloud/nimbus/handlers/compute"
	identityapi "github.com/nimbus-cloud/nimbus/handlers/identity"
	imageapi "github.com/nimbus-cloud/nimbus/handlers/image"
	metadataapi "github.com/nimbus-cloud/nimbus/handlers/metadata"
	networkapi "github.com/nimbus-cloud/nimbus/handlers/network"
	"github.com/nimbus-cloud/nimbus/handlers/portal"
	volumeapi "github.com/nimbus-cloud/nimbus/handlers/volume"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/console"
	"github.com/nimbus-cloud/nimbus/internal/identity"
	"github.com/nimbus-cloud/nimbus/internal/image"
	"github.com/nimbus-cloud/nimbus/internal/live"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/netspec"
	"github.com/nimbus-cloud/nimbus/internal/network"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/scheduler"
	"github.com/nimbus-cloud/nimbus/internal/seed"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/volume"
	"github.com/nimbus-cloud/nimbus/static"
	"github.com/nimbus-cloud/nimbus/workers"
)

// Server is one running controller.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	pool     *pgxpool.Pool
	rdb      *redis.Client
	identity *identity.Service
	images   *image.Service
	compute  *compute.Service
	network  *network.Service
	volumes  *volume.Service
	workers  *workers.Compute
	// netDocs publishes the hosts' datapath documents.
	netDocs *workers.Network
	// live reads the change feed for the portal's event streams.
	live *live.Hub
	// metadataSecret checks the metadata proxies' signatures.
	metadataSecret string
	// imageSecret signs the image URLs agents download from.
	imageSecret []byte
	app         *fiber.App
	creds       seed.Credentials
	consoles    *console.Tokens
}

// Run starts the controller (or, with -console-only, the console proxy
// alone) from args and the environment (lookup) and serves until ctx
// ends. out receives the start-up banner (where to log in).
func Run(ctx context.Context, args []string, lookup func(string) (string, bool), out io.Writer) error {
	cfg, err := config.Load(args, lookup)
	if err != nil {
		return err
	}
	log := config.Logger(cfg.LogLevel, cfg.LogJSON)
	if cfg.ConsoleOnly {
		return runConsoleOnly(ctx, cfg, log, out)
	}
	s, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Serve(ctx, out)
}

// Start connects to the backing services, migrates and seeds, and builds
// the app; it does not listen yet (Serve or ServeOn do). Close releases
// what it opened.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, log: log}
	if err := store.Migrate(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	pcfg, err := store.PoolConfig(cfg.DatabaseURL, cfg.DBMaxConns, cfg.DBAcquireTimeout)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	s.pool = pool
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	s.rdb = redis.NewClient(opt)
	queue.MarkUnavailable(s.rdb)
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		s.Close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	st := store.New(pool)
	if cfg.Seed {
		if s.creds, err = seed.Passwords(cfg.DataDir, cfg.AdminPassword); err != nil {
			s.Close()
			return nil, fmt.Errorf("passwords: %w", err)
		}
		if seeded, err := seed.Apply(ctx, st, s.creds); err != nil {
			s.Close()
			return nil, fmt.Errorf("seed: %w", err)
		} else if seeded {
			log.Info("seeded a new cloud", "domain", "Default", "projects", "admin, demo")
		}
		if err := seed.WriteRCFiles(ctx, st, cfg.DataDir, cfg.PublicURL+"/identity/v3", cfg.Region, s.creds); err != nil {
			s.Close()
			return nil, fmt.Errorf("rc files: %w", err)
		}
	}
	s.consoles = &console.Tokens{RDB: s.rdb, Prefix: cfg.RedisPrefix, TTL: cfg.ConsoleTokenTTL}
	s.identity, err = identity.New(st, s.rdb, log, identity.Options{
		TokenTTL: cfg.TokenTTL, RedisPrefix: cfg.RedisPrefix, Throttle: cfg.Throttle,
		HashConcurrency: cfg.HashConcurrency, HashQueue: cfg.HashQueue,
		Consoles: s.consoles, // ended access closes open consoles
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	if s.images, err = image.New(st, filepath.Join(cfg.DataDir, "images"), cfg.ImageMaxBytes); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.Seed && cfg.SeedImage != "" {
		if added, err := seed.Image(ctx, st, s.images, seed.TinyImageName, cfg.SeedImage, "qcow2"); err != nil {
			s.Close()
			return nil, err
		} else if added {
			log.Info("seeded public image", "name", seed.TinyImageName, "file", cfg.SeedImage)
		}
	}
	imageSecret, err := st.SettingOrCreate(ctx, "image_url_secret", randomSecret())
	if err != nil {
		s.Close()
		return nil, err
	}
	s.imageSecret = []byte(imageSecret)
	// The service kicks the relay after each commit and the workers call
	// the service: the kicker, made first, lets each be built whole.
	kick := workers.NewKicker()
	nc := cfg.Network
	metadataSecret, err := st.SettingOrCreate(ctx, "metadata_proxy_secret", randomSecret())
	if err != nil {
		s.Close()
		return nil, err
	}
	// The publisher of the hosts' datapath documents is made before the
	// networking service, which kicks it after each change.
	s.live = live.NewHub(s.rdb, cfg.RedisPrefix, log)
	s.netDocs = &workers.Network{Store: st, RDB: s.rdb, Prefix: cfg.RedisPrefix, NetworkNode: nc.NetworkNode, Log: log,
		Metadata: &netspec.Metadata{URL: cfg.PublicURL + "/metadata", Secret: metadataSecret}}
	s.network = network.New(st, log, network.Options{
		TenantNetworkType: nc.TenantNetworkType, VNIs: network.Range{Min: nc.VNIMin, Max: nc.VNIMax},
		VLANs: network.Range{Min: nc.VLANMin, Max: nc.VLANMax}, TenantPhysicalNetwork: nc.TenantPhysicalNetwork,
		PhysicalNetworks: nc.PhysicalNetworks, MTU: nc.MTU,
		Changed: func(context.Context) { s.netDocs.Kick() },
	})
	s.netDocs.Net = s.network
	if nc.PublicCIDR != "" {
		admin, err := st.ProjectByName(ctx, model.DefaultDomainID, "admin")
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("public network: the admin project: %w", err)
		}
		if made, err := s.network.EnsurePublicNetwork(ctx, admin.ID, nc.PublicCIDR); err != nil {
			s.Close()
			return nil, fmt.Errorf("public network %s: %w", nc.PublicCIDR, err)
		} else if made {
			log.Info("made the external network public", "cidr", nc.PublicCIDR)
		}
	}
	s.metadataSecret = metadataSecret
	s.volumes = volume.New(st, log, volume.Options{RDB: s.rdb, RedisPrefix: cfg.RedisPrefix, AgentLiveness: cfg.AgentLiveness,
		ImageURL: func(id string) string {
			return cfg.PublicURL + image.SignedPath(s.imageSecret, id, time.Now().Add(cfg.BuildTimeout+time.Hour))
		},
		Images: s.images.Get,
	})
	sc := cfg.Scheduler
	s.compute = compute.New(st, log, compute.Options{
		Network:     s.network,
		Volumes:     s.volumes,
		RedisPrefix: cfg.RedisPrefix, BuildTimeout: cfg.BuildTimeout, AgentLiveness: cfg.AgentLiveness,
		TaskResend: cfg.TaskResend, ShelvedOffload: time.Duration(cfg.ShelvedOffloadTime) * time.Second,
		Reclaim:             time.Duration(cfg.ReclaimInstanceInterval) * time.Second,
		ResizeConfirmWindow: time.Duration(cfg.ResizeConfirmWindow) * time.Second, AllowResizeToSameHost: cfg.AllowResizeToSameHost,
		Scheduler: scheduler.Config{CPUAllocationRatio: sc.CPUAllocationRatio, RAMAllocationRatio: sc.RAMAllocationRatio,
			DiskAllocationRatio: sc.DiskAllocationRatio, RAMWeightMultiplier: sc.RAMWeightMultiplier,
			CPUWeightMultiplier: sc.CPUWeightMultiplier, EnabledFilters: sc.EnabledFilters,
			MaxInstancesPerHost: sc.MaxInstancesPerHost, MaxIoOpsPerHost: sc.MaxIoOpsPerHost},
		ImageURL: func(id string) string {
			return cfg.PublicURL + image.SignedPath(s.imageSecret, id, time.Now().Add(cfg.BuildTimeout+time.Hour))
		},
		Images: s.images,
		UploadURL: func(id string) string {
			return cfg.PublicURL + image.SignedUploadPath(s.imageSecret, id, time.Now().Add(snapshotUploadTime))
		},
		DiskPutURL: func(id string) string {
			return cfg.PublicURL + image.SignedDiskPutPath(s.imageSecret, id, time.Now().Add(snapshotUploadTime))
		},
		DiskGetURL: func(id string) string {
			return cfg.PublicURL + image.SignedDiskGetPath(s.imageSecret, id, time.Now().Add(cfg.BuildTimeout+time.Hour))
		},
		Kick:     kick.Kick,
		Consoles: s.consoles, ConsoleURL: cfg.ConsolePublicURL, RDB: s.rdb,
	})
	s.workers = workers.NewCompute(workers.Deps{Store: st, RDB: s.rdb, Compute: s.compute, Volumes: s.volumes, Kicker: kick,
		Prefix: cfg.RedisPrefix, Log: log, ClaimIdle: cfg.ClaimIdle})
	secret, err := st.SettingOrCreate(ctx, "portal_secret", randomSecret())
	if err != nil {
		s.Close()
		return nil, err
	}
	s.app = s.newApp(st, []byte(secret))
	return s, nil
}

// Close closes the connections to PostgreSQL and Redis; call it after
// Serve or ServeOn has returned.
func (s *Server) Close() {
	if s.rdb != nil {
		s.rdb.Close()
	}
	if s.pool != nil {
		s.pool.Close()
	}
}

// Pool is the controller's PostgreSQL pool; tests read and arrange state
// through it.
func (s *Server) Pool() *pgxpool.Pool { return s.pool }

// RDB is the controller's Redis client.
func (s *Server) RDB() *redis.Client { return s.rdb }

// Identity is the controller's identity service.
func (s *Server) Identity() *identity.Service { return s.identity }

// Network is the controller's networking service.
func (s *Server) Network() *network.Service { return s.network }

// Volumes is the controller's block storage service.
func (s *Server) Volumes() *volume.Service { return s.volumes }

// Compute is the controller's compute service.
func (s *Server) Compute() *compute.Service { return s.compute }

// Consoles issues and checks the console tokens the proxy accepts.
func (s *Server) Consoles() *console.Tokens { return s.consoles }

// App is the Fiber app serving the portal and the APIs (its routes list
// every endpoint, which the RBAC matrix test walks).
func (s *Server) App() *fiber.App { return s.app }

// Credentials are the seeded admin and demo passwords (empty when the
// controller does not seed).
func (s *Server) Credentials() seed.Credentials { return s.creds }

// newApp wires the routes: identity API, portal, static files, health.
func (s *Server) newApp(st *store.Store, secret []byte) *fiber.App {
	cfg := s.cfg
	idAPI := identityapi.New(s.identity, s.log, identityapi.Config{
		PublicURL: cfg.PublicURL, Region: cfg.Region, TrustedProxies: cfg.TrustedProxies,
	})
	imgAPI, imgAuth := imageapi.New(s.images, s.identity, s.log, cfg.PublicURL)
	imgAPI.Secret = s.imageSecret
	novaAPI := computeapi.New(s.compute, s.identity, s.log, cfg.PublicURL)
	neutronAPI := networkapi.New(s.network, s.identity, s.log, cfg.PublicURL)
	cinderAPI := volumeapi.New(s.volumes, s.identity, s.log, cfg.PublicURL)
	metaAPI := metadataapi.New(s.compute, s.metadataSecret, s.log)
	pt := portal.New(s.identity, s.compute, s.images, st, s.rdb, s.log, portal.Config{
		PublicURL: cfg.PublicURL, Region: cfg.Region, RedisPrefix: cfg.RedisPrefix,
		SessionIdle: cfg.SessionIdle, SessionMax: cfg.SessionMax, TrustedProxies: cfg.TrustedProxies,
		Secret: secret, Network: s.network, Live: s.live, Volumes: s.volumes,
	})
	app := fiber.New(fiber.Config{
		AppName: "nimbus",
		// goccy/go-json: the same output as encoding/json, about three
		// times faster on the large map-shaped answers (a 1,000-server
		// detail list) that dominate the API's CPU time.
		JSONEncoder:           gojson.Marshal,
		JSONDecoder:           gojson.Unmarshal,
		DisableStartupMessage: true,
		// Bodies are streamed so image uploads never sit in memory;
		// LimitBody below bounds every other body to 1 MiB.
		StreamRequestBody: true,
		BodyLimit:         1 << 20,
		// A request, headers and body, must arrive within ReadTimeout, so
		// a client sending its headers a byte a minute (slowloris) holds
		// a connection for seconds, not an hour; an image upload gets
		// uploadTimeout once its request line says what it is (below).
		ReadTimeout: cfg.ReadTimeout,
		IdleTimeout: 120 * time.Second,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			switch {
			case strings.HasPrefix(c.Path(), "/identity"):
				return idAPI.WriteError(c, err)
			case strings.HasPrefix(c.Path(), "/image"):
				return imgAPI.WriteError(c, err)
			case strings.HasPrefix(c.Path(), "/compute"):
				return novaAPI.WriteError(c, err)
			case strings.HasPrefix(c.Path(), "/networking"):
				return neutronAPI.WriteError(c, err)
			case strings.HasPrefix(c.Path(), "/volume"):
				return cinderAPI.WriteError(c, err)
			case strings.HasPrefix(c.Path(), "/metadata"):
				return metaAPI.WriteError(c, err)
			}
			return pt.RenderError(c, err)
		},
	})
	app.Server().HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		path, _, _ := strings.Cut(string(h.RequestURI()), "?")
		if imageapi.IsUploadRequest(string(h.Method()), path, len(h.Peek("X-CSRF-Token")) > 0) {
			return fasthttp.RequestConfig{ReadTimeout: uploadTimeout}
		}
		return fasthttp.RequestConfig{}
	}
	app.Use(recover.New())
	app.Use(api.RequestID)
	app.Use(measure)
	app.Use(securityHeaders(console.WebsocketBase(s.cfg.ConsolePublicURL)))
	app.Use(api.LimitBody(1<<20, imageapi.IsUpload))
	app.Use(api.Deadline(cfg.RequestTimeout, imageapi.IsUpload, uploadTimeout))
	app.Use(api.CheckInput)
	app.Get("/healthz", s.healthz)
	app.Get("/metrics", s.metricsHandler)
	app.Use("/static", filesystem.New(filesystem.Config{Root: http.FS(static.FS()), MaxAge: 3600}))
	idAPI.Register(app)
	imgAPI.Register(app, imgAuth)
	novaAPI.Register(app)
	neutronAPI.Register(app)
	cinderAPI.Register(app)
	metaAPI.Register(app)
	pt.Register(app)
	app.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
	return app
}

// snapshotUploadTime is how long an agent may take to send a snapshot's
// data (its signed upload URL expires then).
const snapshotUploadTime = 6 * time.Hour

// uploadTimeout is how long an image upload may take, body included; other
// requests have the configured request timeout.
const uploadTimeout = time.Hour

// securityHeaders keeps pages out of frames and scripts to our own files;
// the only other place pages may connect to is the console proxy's
// websocket (consoleWS, e.g. "ws://cloud:6080").
func securityHeaders(consoleWS string) fiber.Handler {
	csp := "default-src 'self'; connect-src 'self' " + consoleWS + "; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
	return func(c *fiber.Ctx) error {
		return setSecurityHeaders(c, csp)
	}
}

func setSecurityHeaders(c *fiber.Ctx, csp string) error {
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "same-origin")
	c.Set("Content-Security-Policy", csp)
	return c.Next()
}

// Serve listens on the configured addresses and runs the workers until
// ctx ends, then shuts down.
func (s *Server) Serve(ctx context.Context, out io.Writer) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	var consoleLn net.Listener
	if s.cfg.ConsoleListen != "" {
		if consoleLn, err = net.Listen("tcp", s.cfg.ConsoleListen); err != nil {
			ln.Close()
			return err
		}
	}
	return s.ServeOn(ctx, ln, consoleLn, out)
}

// ServeOn is Serve on listeners the caller made (tests use port 0);
// consoleLn nil runs no console proxy.
func (s *Server) ServeOn(ctx context.Context, ln, consoleLn net.Listener, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.identity.Watch(ctx) }()
	go func() {
		defer wg.Done()
		workers.PurgeTokens(ctx, s.identity, time.Minute, s.log)
	}()
	s.workers.Start(ctx)
	wg.Add(2)
	go func() { defer wg.Done(); s.live.Run(ctx) }()
	go func() { defer wg.Done(); s.netDocs.Run(ctx) }()
	var proxy *consoleProxy
	if consoleLn != nil {
		proxy = startConsoleProxy(ctx, s.cfg, s.consoles, consoleLn, s.log)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	s.banner(out, ln.Addr().String(), consoleLn)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	shutdownErr := s.app.ShutdownWithTimeout(10 * time.Second)
	if proxy != nil {
		proxy.stop()
	}
	wg.Wait()
	s.workers.Wait()
	s.log.Info("nimbus stopped")
	return errors.Join(err, shutdownErr)
}

func (s *Server) banner(out io.Writer, addr string, consoleLn net.Listener) {
	if out == nil {
		return
	}
	base := s.cfg.PublicURL
	fmt.Fprintf(out, "\nNimbus is running (API and portal on %s).\n\n", addr)
	fmt.Fprintf(out, "  Portal:         %s/\n", base)
	fmt.Fprintf(out, "  Identity API:   %s/identity/v3\n", base)
	if consoleLn != nil {
		fmt.Fprintf(out, "  Console proxy:  http://%s/\n", consoleLn.Addr())
	}
	if s.creds.AdminPassword != "" {
		fmt.Fprintf(out, "\n  Sign in as admin / %s   (project admin, role admin)\n", s.creds.AdminPassword)
		fmt.Fprintf(out, "          or demo  / %s   (project demo, role member)\n", s.creds.DemoPassword)
		fmt.Fprintf(out, "\n  OpenStack CLI:  source %s/admin-openrc.sh && openstack token issue\n", s.cfg.DataDir)
	}
	if pub := s.cfg.Network.PublicCIDR; pub != "" {
		fmt.Fprintf(out, "\n  Floating IPs come from network public, %s; this host has its first address,\n", pub)
		fmt.Fprintf(out, "  so once a rule allows it:  ssh -i key.pem root@<floating ip>   (README: Networking)\n")
	}
	fmt.Fprintln(out)
}

// healthz answers 200 only when the database, Redis and at least one
// compute agent are reachable, naming each in the body.
func (s *Server) healthz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	type check struct {
		OK    bool   `json:"ok"`
		Error string `json:"error,omitempty"`
		Live  *int64 `json:"live,omitempty"`
	}
	checks := map[string]*check{"database": {OK: true}, "redis": {OK: true}, "agents": {OK: true}}
	if err := s.pool.Ping(ctx); err != nil {
		checks["database"] = &check{Error: "unreachable"}
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		checks["redis"] = &check{Error: "unreachable"}
	}
	n, err := queue.LiveAgents(ctx, s.rdb, s.cfg.RedisPrefix, s.cfg.AgentLiveness)
	checks["agents"].Live = &n
	if err != nil {
		checks["agents"] = &check{Error: "unknown (redis unreachable)"}
	} else if n == 0 {
		checks["agents"].OK, checks["agents"].Error = false, "no live compute agent"
	}
	status, code := "ok", fiber.StatusOK
	for _, ch := range checks {
		if !ch.OK {
			status, code = "unhealthy", fiber.StatusServiceUnavailable
		}
	}
	return c.Status(code).JSON(fiber.Map{"status": status, "checks": checks})
}

func randomSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
