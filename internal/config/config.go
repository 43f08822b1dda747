// Package config holds the settings of both programs. Every setting has a
// flag and a NIMBUS_* environment variable; a flag given on the command line
// wins over the environment, which wins over the default.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/scheduler"
)

// Config is the whole configuration of the controller (nimbus).
type Config struct {
	Listen        string // portal + API, host:port
	ConsoleListen string // console proxy, host:port; empty disables it
	// ConsoleOnly runs the console proxy alone (Redis only), for
	// deployments that put it on its own machine.
	ConsoleOnly bool
	// Caps on open consoles (0: none). Per user and per instance are
	// counted in Redis across every proxy; per proxy, in this process.
	ConsoleMaxPerUser, ConsoleMaxPerInstance, ConsoleMaxPerProxy int
	// ConsoleMaxLifetime closes a console this long after it opened.
	ConsoleMaxLifetime time.Duration
	// ConsoleWriteTimeout closes a console whose browser stops reading.
	ConsoleWriteTimeout time.Duration
	// ConsolePublicURL is the proxy's base URL as browsers reach it
	// (console URLs point there); default: the public URL's host with the
	// console port.
	ConsolePublicURL string
	// ConsoleOrigins are the websocket Origins the proxy accepts besides
	// its own page's and the portal's.
	ConsoleOrigins  []string
	ConsoleTokenTTL time.Duration // an unused console token expires after this
	ConsoleIdle     time.Duration // a console with no traffic either way is closed after this
	// ConsoleVerifyPort makes the proxy confirm with the host's agent, at
	// connect time, that a token's VNC port is still its instance's.
	ConsoleVerifyPort bool
	PublicURL         string // the base URL clients reach the API and portal at
	DataDir           string // where secrets, rc files and local state live
	DatabaseURL       string // PostgreSQL
	RedisURL          string // Redis
	// DBMaxConns sizes the PostgreSQL pool. Every launch holds a
	// connection through several short transactions (create, schedule,
	// events); pgx's default of max(4, CPUs) made the pool the bottleneck
	// at about 100 launches per second.
	DBMaxConns  int
	RedisPrefix string        // prefix of every Redis key this cloud uses
	Region      string        // region name in the service catalog
	LogLevel    slog.Level    // debug, info, warn, error
	LogJSON     bool          // JSON logs instead of text
	TokenTTL    time.Duration // lifetime of an API token
	SessionIdle time.Duration // a portal session ends after this long unused
	// SessionMax caps a portal session; it never outlives the token it holds.
	SessionMax time.Duration
	// TrustedProxies are the addresses whose X-Forwarded-For is believed.
	TrustedProxies []*net.IPNet
	// MetricsAllow are the addresses (besides loopback) that may read
	// /metrics without a token, as a Prometheus server scrapes.
	MetricsAllow  []*net.IPNet
	AdminPassword string // seeds the admin user at first start; generated when empty
	Seed          bool   // apply seeds (domain, roles, admin, demo, flavors, quotas)
	Throttle      Throttle
	// HashConcurrency caps password hashes running at once; HashQueue caps
	// those waiting. Beyond both, logins get 503 at once.
	HashConcurrency int
	HashQueue       int
	AgentLiveness   time.Duration // an agent silent this long is down
	ImageMaxBytes   int64         // largest image upload accepted
	SeedImage       string        // qcow2 file seeded as public image "tiny" when missing
	BuildTimeout    time.Duration // a build not finished by then goes to ERROR
	ClaimIdle       time.Duration // a job pending this long on a dead consumer is reclaimed
	TaskResend      time.Duration // a task's job not finished by then is sent again
	// ShelvedOffloadTime is Nova's shelved_offload_time in seconds: 0
	// offloads a shelved instance at once, -1 never, N after N seconds.
	ShelvedOffloadTime int
	// ReclaimInstanceInterval is Nova's reclaim_instance_interval in
	// seconds: 0 deletes at once; N soft-deletes, restorable for N seconds.
	ReclaimInstanceInterval int
	// ResizeConfirmWindow is Nova's resize_confirm_window in seconds: a
	// resize left in VERIFY_RESIZE that long is confirmed (0: never).
	ResizeConfirmWindow int
	// AllowResizeToSameHost is Nova's allow_resize_to_same_host.
	AllowResizeToSameHost bool
	Scheduler             SchedulerConfig
	Network               NetworkConfig

	// DBAcquireTimeout bounds waiting for a PostgreSQL connection (and
	// connecting): past it a request answers 503 rather than queueing.
	DBAcquireTimeout time.Duration
	// ReadTimeout bounds reading a request, headers and body, other than
	// an image upload's (slow clients and slowloris).
	ReadTimeout time.Duration
	// RequestTimeout is every request's deadline (image uploads excepted:
	// they get the hour a request may take to arrive).
	RequestTimeout time.Duration
}

// SchedulerConfig holds Nova's allocation ratios and weigher multipliers.
type SchedulerConfig struct {
	CPUAllocationRatio, RAMAllocationRatio, DiskAllocationRatio float64
	RAMWeightMultiplier, CPUWeightMultiplier                    float64
	// EnabledFilters is Nova's enabled_filters (empty: every filter);
	// MaxInstancesPerHost and MaxIoOpsPerHost its per-host limits.
	EnabledFilters                       []string
	MaxInstancesPerHost, MaxIoOpsPerHost int
}

// NetworkConfig is Neutron's ML2 configuration: the type of tenant
// networks and the segment ranges they take, the physical networks
// provider networks may name, and the physical MTU.
type NetworkConfig struct {
	TenantNetworkType     string
	VNIMin, VNIMax        int
	VLANMin, VLANMax      int
	TenantPhysicalNetwork string
	PhysicalNetworks      []string
	MTU                   int
	// NetworkNode is the host running DHCP servers and routers ("": the
	// first host by name).
	NetworkNode string
	// PublicCIDR, when set, makes the external network "public" with
	// this subnet at start (make run: DevStack's 172.24.4.0/24).
	PublicCIDR string
}

// Throttle sets how many failed logins are allowed in a window before
// further attempts are refused until the window ends.
type Throttle struct {
	PerUser int
	PerAddr int
	Window  time.Duration
}

// Agent is the configuration of nimbus-agent.
type Agent struct {
	RedisURL    string
	RedisPrefix string
	LibvirtURI  string
	Host        string // host name reported to the controller; defaults to libvirt's
	AZ          string
	Heartbeat   time.Duration
	PowerSync   time.Duration
	Stats       time.Duration // how often domain and host statistics are sampled
	StateDir    string        // instance disks and the image cache
	VNCListen   string        // address the domains' VNC servers listen on
	// ConsoleAddress is where console proxies reach those VNC servers:
	// the VNC listen address unless that is a wildcard.
	ConsoleAddress string
	ClaimIdle      time.Duration
	// ImageCacheAge: a cached base image no disk uses is removed once no
	// build has used it for this long (Nova's 24 h).
	ImageCacheAge time.Duration
	LogLevel      slog.Level
	LogJSON       bool
	// Datapath turns the host's network datapath on (bridges, taps,
	// filters, DHCP, routers); off, domains get no NICs.
	Datapath bool
	// Netns keeps the datapath in that network namespace (tests);
	// NetnsPrefix prefixes its namespaces and tables.
	Netns, NetnsPrefix string
	// PhysicalInterfaces maps physical network names to interfaces.
	PhysicalInterfaces map[string]string
	// VTEP is the host's VXLAN tunnel address.
	VTEP string
	// StorageDir is the pool of volumes this host keeps ("none": it
	// keeps none); StorageAddress is where other hosts reach its exports.
	StorageDir, StorageAddress string
}

type source struct {
	fs     *flag.FlagSet
	lookup func(string) (string, bool)
}

// env returns the variable's value, "" when unset.
func (s source) env(name string) string {
	v, _ := s.lookup(name)
	return v
}

// str reads a string setting; a variable set to "" means empty, so that
// NIMBUS_CONSOLE_LISTEN= turns the console proxy off.
func (s source) str(p *string, name, env, def, usage string) {
	if v, ok := s.lookup(env); ok {
		def = v
	}
	s.fs.StringVar(p, name, def, usage+" ($"+env+")")
}

func (s source) dur(p *time.Duration, name, env string, def time.Duration, usage string, errs *[]error) {
	if v := s.env(env); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %w", env, err))
		} else {
			def = d
		}
	}
	s.fs.DurationVar(p, name, def, usage+" ($"+env+")")
}

func (s source) integer(p *int, name, env string, def int, usage string, errs *[]error) {
	if v := s.env(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %w", env, err))
		} else {
			def = n
		}
	}
	s.fs.IntVar(p, name, def, usage+" ($"+env+")")
}

func (s source) float(p *float64, name, env string, def float64, usage string, errs *[]error) {
	if v := s.env(env); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %w", env, err))
		} else {
			def = f
		}
	}
	s.fs.Float64Var(p, name, def, usage+" ($"+env+")")
}

func (s source) boolean(p *bool, name, env string, def bool, usage string, errs *[]error) {
	if v := s.env(env); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %w", env, err))
		} else {
			def = b
		}
	}
	s.fs.BoolVar(p, name, def, usage+" ($"+env+")")
}

// Load reads the controller's configuration from args and the environment
// (lookup is os.LookupEnv outside tests) and validates it.
func Load(args []string, lookup func(string) (string, bool)) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("nimbus", flag.ContinueOnError)
	s := source{fs: fs, lookup: lookup}
	var errs []error
	var level, proxies, metricsAllow string
	s.str(&c.Listen, "listen", "NIMBUS_LISTEN", "127.0.0.1:8080", "portal and API listen address")
	s.str(&c.ConsoleListen, "console-listen", "NIMBUS_CONSOLE_LISTEN", "127.0.0.1:6080", "console proxy listen address (empty: off)")
	s.boolean(&c.ConsoleOnly, "console-only", "NIMBUS_CONSOLE_ONLY", false, "run only the console proxy (needs Redis, not PostgreSQL)", &errs)
	s.str(&c.ConsolePublicURL, "console-public-url", "NIMBUS_CONSOLE_PUBLIC_URL", "", "console proxy base URL browsers use (default: public URL host, console port)")
	var consoleOrigins string
	s.str(&consoleOrigins, "console-origins", "NIMBUS_CONSOLE_ORIGINS", "", "comma-separated extra websocket Origins the console proxy accepts")
	s.dur(&c.ConsoleTokenTTL, "console-token-ttl", "NIMBUS_CONSOLE_TOKEN_TTL", 10*time.Minute, "console token lifetime", &errs)
	s.boolean(&c.ConsoleVerifyPort, "console-verify-port", "NIMBUS_CONSOLE_VERIFY_PORT", true, "confirm with the host's agent at connect time that a console's VNC port is still its instance's (turn off only for libvirt's test driver, which runs no VNC servers)", &errs)
	s.dur(&c.ConsoleIdle, "console-idle", "NIMBUS_CONSOLE_IDLE", 30*time.Minute, "close a console after this long without traffic", &errs)
	s.integer(&c.ConsoleMaxPerUser, "console-max-per-user", "NIMBUS_CONSOLE_MAX_PER_USER", 10, "open consoles one user may have, on every proxy (0: no cap)", &errs)
	s.integer(&c.ConsoleMaxPerInstance, "console-max-per-instance", "NIMBUS_CONSOLE_MAX_PER_INSTANCE", 4, "open consoles of one instance, on every proxy (0: no cap)", &errs)
	s.integer(&c.ConsoleMaxPerProxy, "console-max-per-proxy", "NIMBUS_CONSOLE_MAX_PER_PROXY", 1000, "open consoles on this proxy (0: no cap)", &errs)
	s.dur(&c.ConsoleMaxLifetime, "console-max-lifetime", "NIMBUS_CONSOLE_MAX_LIFETIME", 8*time.Hour, "close a console this long after it opened, whatever its traffic", &errs)
	s.dur(&c.ConsoleWriteTimeout, "console-write-timeout", "NIMBUS_CONSOLE_WRITE_TIMEOUT", 30*time.Second, "close a console whose browser does not take a write within this", &errs)
	s.str(&c.PublicURL, "public-url", "NIMBUS_PUBLIC_URL", "", "public base URL (default http://<listen>)")
	s.str(&c.DataDir, "data-dir", "NIMBUS_DATA_DIR", ".data", "data directory")
	s.str(&c.DatabaseURL, "database-url", "NIMBUS_DATABASE_URL", "", "PostgreSQL URL")
	s.integer(&c.DBMaxConns, "db-max-conns", "NIMBUS_DB_MAX_CONNS", 32, "PostgreSQL connections this controller may open", &errs)
	s.dur(&c.DBAcquireTimeout, "db-acquire-timeout", "NIMBUS_DB_ACQUIRE_TIMEOUT", 5*time.Second, "wait at most this long for a PostgreSQL connection", &errs)
	s.dur(&c.ReadTimeout, "read-timeout", "NIMBUS_READ_TIMEOUT", 30*time.Second, "a request's headers and body (image uploads excepted) must arrive within this", &errs)
	s.dur(&c.RequestTimeout, "request-timeout", "NIMBUS_REQUEST_TIMEOUT", 30*time.Second, "deadline of every request (image uploads excepted)", &errs)
	s.str(&c.RedisURL, "redis-url", "NIMBUS_REDIS_URL", "", "Redis URL")
	s.str(&c.RedisPrefix, "redis-prefix", "NIMBUS_REDIS_PREFIX", "nimbus:", "prefix of every Redis key")
	s.str(&c.Region, "region", "NIMBUS_REGION", "RegionOne", "region name in the service catalog")
	s.str(&level, "log-level", "NIMBUS_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	s.boolean(&c.LogJSON, "log-json", "NIMBUS_LOG_JSON", false, "log as JSON", &errs)
	s.dur(&c.TokenTTL, "token-ttl", "NIMBUS_TOKEN_TTL", time.Hour, "API token lifetime", &errs)
	s.dur(&c.SessionIdle, "session-idle", "NIMBUS_SESSION_IDLE", 30*time.Minute, "portal session idle timeout", &errs)
	s.dur(&c.SessionMax, "session-max", "NIMBUS_SESSION_MAX", 12*time.Hour, "portal session absolute timeout", &errs)
	s.str(&proxies, "trusted-proxies", "NIMBUS_TRUSTED_PROXIES", "", "comma-separated CIDRs whose X-Forwarded-For is trusted")
	s.str(&metricsAllow, "metrics-allow", "NIMBUS_METRICS_ALLOW", "", "comma-separated CIDRs that may scrape /metrics without a token (loopback always may)")
	s.str(&c.AdminPassword, "admin-password", "NIMBUS_ADMIN_PASSWORD", "", "admin password at first start (generated if empty)")
	s.str(&c.SeedImage, "seed-image", "NIMBUS_SEED_IMAGE", "", "qcow2 file to seed as public image tiny (if missing)")
	s.boolean(&c.Seed, "seed", "NIMBUS_SEED", true, "seed domain, roles, users, flavors and quotas at start", &errs)
	s.integer(&c.Throttle.PerUser, "login-fail-per-user", "NIMBUS_LOGIN_FAIL_PER_USER", 5, "failed logins per user name per window", &errs)
	s.integer(&c.Throttle.PerAddr, "login-fail-per-addr", "NIMBUS_LOGIN_FAIL_PER_ADDR", 20, "failed logins per client address per window", &errs)
	s.dur(&c.Throttle.Window, "login-fail-window", "NIMBUS_LOGIN_FAIL_WINDOW", 15*time.Minute, "failed-login window and lockout", &errs)
	s.integer(&c.HashConcurrency, "hash-concurrency", "NIMBUS_HASH_CONCURRENCY", 0, "password hashes at once (0: number of CPUs)", &errs)
	s.integer(&c.HashQueue, "hash-queue", "NIMBUS_HASH_QUEUE", 16, "password hashes allowed to wait", &errs)
	s.dur(&c.BuildTimeout, "build-timeout", "NIMBUS_BUILD_TIMEOUT", 10*time.Minute, "a build not finished by then goes to ERROR", &errs)
	s.dur(&c.ClaimIdle, "claim-idle", "NIMBUS_CLAIM_IDLE", 30*time.Second, "pending jobs of a dead consumer are reclaimed after this", &errs)
	s.dur(&c.TaskResend, "task-resend", "NIMBUS_TASK_RESEND", 2*time.Minute, "a task whose job has not finished by then has it sent again", &errs)
	s.integer(&c.ShelvedOffloadTime, "shelved-offload-time", "NIMBUS_SHELVED_OFFLOAD_TIME", 0,
		"seconds a shelved instance keeps its host (0: none, -1: until offloaded by hand)", &errs)
	s.integer(&c.ReclaimInstanceInterval, "reclaim-instance-interval", "NIMBUS_RECLAIM_INSTANCE_INTERVAL", 0,
		"seconds a deleted instance stays restorable (0: deleted at once)", &errs)
	s.integer(&c.ResizeConfirmWindow, "resize-confirm-window", "NIMBUS_RESIZE_CONFIRM_WINDOW", 0,
		"seconds after which a resize waiting in VERIFY_RESIZE is confirmed (0: never)", &errs)
	s.boolean(&c.AllowResizeToSameHost, "allow-resize-to-same-host", "NIMBUS_ALLOW_RESIZE_TO_SAME_HOST", false,
		"a resize may stay on its host", &errs)
	sc := &c.Scheduler
	s.float(&sc.CPUAllocationRatio, "cpu-allocation-ratio", "NIMBUS_CPU_ALLOCATION_RATIO", 16, "vCPUs per physical CPU", &errs)
	s.float(&sc.RAMAllocationRatio, "ram-allocation-ratio", "NIMBUS_RAM_ALLOCATION_RATIO", 1.5, "RAM overcommit", &errs)
	s.float(&sc.DiskAllocationRatio, "disk-allocation-ratio", "NIMBUS_DISK_ALLOCATION_RATIO", 1.0, "disk overcommit", &errs)
	s.float(&sc.RAMWeightMultiplier, "ram-weight-multiplier", "NIMBUS_RAM_WEIGHT_MULTIPLIER", 1.0, "free-RAM weigher (positive spreads, negative stacks)", &errs)
	s.float(&sc.CPUWeightMultiplier, "cpu-weight-multiplier", "NIMBUS_CPU_WEIGHT_MULTIPLIER", 1.0, "free-vCPU weigher (positive spreads, negative stacks)", &errs)
	var filters string
	s.str(&filters, "scheduler-enabled-filters", "NIMBUS_SCHEDULER_ENABLED_FILTERS", "",
		"comma-separated scheduler filters that run, Nova's names (empty: all)")
	s.integer(&sc.MaxInstancesPerHost, "max-instances-per-host", "NIMBUS_MAX_INSTANCES_PER_HOST", 50, "NumInstancesFilter's limit", &errs)
	s.integer(&sc.MaxIoOpsPerHost, "max-io-ops-per-host", "NIMBUS_MAX_IO_OPS_PER_HOST", 8, "IoOpsFilter's limit", &errs)
	nc := &c.Network
	var vnis, vlans, physnets string
	s.str(&nc.TenantNetworkType, "tenant-network-type", "NIMBUS_TENANT_NETWORK_TYPE", "vxlan",
		"type of the networks projects create: vxlan, vlan or local")
	s.str(&vnis, "vni-ranges", "NIMBUS_VNI_RANGES", "1:1000", "VXLAN VNIs tenant networks take, MIN:MAX")
	s.str(&vlans, "vlan-ranges", "NIMBUS_VLAN_RANGES", "", "PHYSNET:MIN:MAX of the VLANs tenant networks take (vlan tenant type)")
	s.str(&physnets, "physical-networks", "NIMBUS_PHYSICAL_NETWORKS", "public",
		"comma-separated physical network names flat and VLAN provider networks may use")
	s.str(&nc.PublicCIDR, "public-network", "NIMBUS_PUBLIC_NETWORK", "",
		"CIDR of the external network public made at start (empty: none is made)")
	s.str(&nc.NetworkNode, "network-node", "NIMBUS_NETWORK_NODE", "", "host running DHCP servers and routers (empty: the first host by name)")
	s.integer(&nc.MTU, "network-mtu", "NIMBUS_NETWORK_MTU", 1500, "MTU of the physical networks (VXLAN networks get 50 less)", &errs)
	var imageMaxMB int
	s.integer(&imageMaxMB, "image-max-mb", "NIMBUS_IMAGE_MAX_MB", 20*1024, "largest image upload, MiB", &errs)
	s.dur(&c.AgentLiveness, "agent-liveness", "NIMBUS_AGENT_LIVENESS", 60*time.Second, "an agent silent this long is down", &errs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := level2(&c.LogLevel, level); err != nil {
		errs = append(errs, err)
	}
	if c.DBMaxConns < 4 {
		errs = append(errs, errors.New("db max conns must be at least 4"))
	}
	if c.DBAcquireTimeout <= 0 || c.RequestTimeout <= 0 {
		errs = append(errs, errors.New("db acquire timeout and request timeout must be positive"))
	}
	nc.PhysicalNetworks = splitList(physnets)
	if err := parseSegments(nc, vnis, vlans); err != nil {
		errs = append(errs, err)
	}
	if imageMaxMB < 1 {
		errs = append(errs, errors.New("image max size must be at least 1 MiB"))
	}
	c.ImageMaxBytes = int64(imageMaxMB) << 20
	if sc.EnabledFilters = splitList(filters); len(sc.EnabledFilters) > 0 {
		if err := scheduler.CheckFilterNames(sc.EnabledFilters); err != nil {
			errs = append(errs, err)
		}
	}
	if sc.MaxInstancesPerHost < 1 || sc.MaxIoOpsPerHost < 1 {
		errs = append(errs, errors.New("max instances and max I/O operations per host must be at least 1"))
	}
	c.TrustedProxies = cidrList(proxies, "trusted proxy", &errs)
	c.MetricsAllow = cidrList(metricsAllow, "metrics address", &errs)
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.ConsolePublicURL == "" {
		c.ConsolePublicURL = defaultConsoleURL(c.PublicURL, c.ConsoleListen)
	}
	c.ConsolePublicURL = strings.TrimRight(c.ConsolePublicURL, "/")
	if u, err := url.Parse(c.ConsolePublicURL); c.ConsolePublicURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		errs = append(errs, fmt.Errorf("console public URL %q: want http(s)://host[:port]", c.ConsolePublicURL))
	}
	c.ConsoleOrigins = splitList(consoleOrigins)
	if c.ConsoleTokenTTL < 10*time.Second || c.ConsoleIdle < time.Second {
		errs = append(errs, errors.New("console token TTL must be at least 10s and console idle at least 1s"))
	}
	if c.ConsoleMaxPerUser < 0 || c.ConsoleMaxPerInstance < 0 || c.ConsoleMaxPerProxy < 0 {
		errs = append(errs, errors.New("console caps must be 0 (no cap) or more"))
	}
	if c.ConsoleMaxLifetime < time.Second || c.ConsoleWriteTimeout < time.Second {
		errs = append(errs, errors.New("console max lifetime and write timeout must be at least 1s"))
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("public URL %q: want http(s)://host[:port]", c.PublicURL))
	}
	if c.DatabaseURL == "" && !c.ConsoleOnly { // the proxy alone needs only Redis
		errs = append(errs, errors.New("database URL is required (NIMBUS_DATABASE_URL)"))
	}
	if c.RedisURL == "" {
		errs = append(errs, errors.New("redis URL is required (NIMBUS_REDIS_URL)"))
	}
	if c.TokenTTL < time.Minute {
		errs = append(errs, errors.New("token TTL must be at least 1m"))
	}
	if c.Throttle.PerUser < 1 || c.Throttle.PerAddr < 1 || c.Throttle.Window <= 0 {
		errs = append(errs, errors.New("login throttle limits must be positive"))
	}
	if c.HashQueue < 0 {
		errs = append(errs, errors.New("hash queue must not be negative"))
	}
	if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	return c, errors.Join(errs...)
}

// LoadAgent reads nimbus-agent's configuration.
func LoadAgent(args []string, lookup func(string) (string, bool)) (*Agent, error) {
	a := &Agent{}
	fs := flag.NewFlagSet("nimbus-agent", flag.ContinueOnError)
	s := source{fs: fs, lookup: lookup}
	var errs []error
	var level string
	s.str(&a.RedisURL, "redis-url", "NIMBUS_REDIS_URL", "", "Redis URL")
	s.str(&a.RedisPrefix, "redis-prefix", "NIMBUS_REDIS_PREFIX", "nimbus:", "prefix of every Redis key")
	s.str(&a.LibvirtURI, "libvirt-uri", "NIMBUS_LIBVIRT_URI", "qemu:///system", "libvirt connection URI")
	s.str(&a.Host, "host", "NIMBUS_AGENT_HOST", "", "host name to report (default: libvirt's host name)")
	s.str(&a.AZ, "availability-zone", "NIMBUS_AGENT_AZ", "nova", "availability zone of this host")
	s.dur(&a.Heartbeat, "heartbeat", "NIMBUS_AGENT_HEARTBEAT", 10*time.Second, "heartbeat interval", &errs)
	s.dur(&a.PowerSync, "power-sync", "NIMBUS_AGENT_POWER_SYNC", 10*time.Second, "power-state report interval", &errs)
	s.dur(&a.Stats, "stats-interval", "NIMBUS_AGENT_STATS_INTERVAL", 10*time.Second, "domain and host statistics sample interval", &errs)
	s.str(&a.StateDir, "state-dir", "NIMBUS_AGENT_STATE_DIR", "/var/lib/nimbus", "instance disks and image cache")
	s.str(&a.VNCListen, "vnc-listen", "NIMBUS_AGENT_VNC_LISTEN", "127.0.0.1", "address the VNC servers of domains listen on")
	s.str(&a.ConsoleAddress, "console-address", "NIMBUS_AGENT_CONSOLE_ADDRESS", "", "address console proxies reach VNC servers at (default: the VNC listen address)")
	s.dur(&a.ClaimIdle, "claim-idle", "NIMBUS_CLAIM_IDLE", 30*time.Second, "pending jobs of a dead consumer are reclaimed after this", &errs)
	s.dur(&a.ImageCacheAge, "image-cache-age", "NIMBUS_AGENT_IMAGE_CACHE_AGE", 24*time.Hour,
		"an unused base image leaves the cache once no build has used it this long", &errs)
	s.str(&level, "log-level", "NIMBUS_LOG_LEVEL", "info", "log level")
	s.boolean(&a.LogJSON, "log-json", "NIMBUS_LOG_JSON", false, "log as JSON", &errs)
	s.boolean(&a.Datapath, "datapath", "NIMBUS_AGENT_DATAPATH", true, "run the host's network datapath (bridges, filters, DHCP, routers)", &errs)
	s.str(&a.Netns, "netns", "NIMBUS_AGENT_NETNS", "", "network namespace the datapath lives in (empty: the agent's own)")
	s.str(&a.NetnsPrefix, "netns-prefix", "NIMBUS_AGENT_NETNS_PREFIX", "", "prefix of the datapath's namespaces and tables")
	var physIfs string
	s.str(&physIfs, "physical-interfaces", "NIMBUS_AGENT_PHYSICAL_INTERFACES", "",
		"PHYSNET:INTERFACE,... carrying flat and VLAN networks (a physical network without one gets a local bridge)")
	s.str(&a.VTEP, "vtep", "NIMBUS_AGENT_VTEP", "", "this host's VXLAN tunnel address (empty: VXLAN networks stay on this host)")
	s.str(&a.StorageDir, "storage-dir", "NIMBUS_AGENT_STORAGE_DIR", "",
		`the volumes this host keeps, qcow2 files (default: <state dir>/volumes; "none": this host keeps no volumes)`)
	s.str(&a.StorageAddress, "storage-address", "NIMBUS_AGENT_STORAGE_ADDRESS", "",
		"address other hosts reach this host's volume exports at (default: the console address)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if a.StorageDir == "" {
		a.StorageDir = filepath.Join(a.StateDir, "volumes")
	}
	a.PhysicalInterfaces = map[string]string{}
	for _, m := range splitList(physIfs) {
		name, ifc, ok := strings.Cut(m, ":")
		if !ok || name == "" {
			errs = append(errs, fmt.Errorf("physical interfaces: %q is not PHYSNET:INTERFACE", m))
			continue
		}
		a.PhysicalInterfaces[name] = ifc
	}
	if a.VTEP != "" && net.ParseIP(a.VTEP) == nil {
		errs = append(errs, fmt.Errorf("vtep %q is not an IP address", a.VTEP))
	}
	if err := level2(&a.LogLevel, level); err != nil {
		errs = append(errs, err)
	}
	if a.RedisURL == "" {
		errs = append(errs, errors.New("redis URL is required (NIMBUS_REDIS_URL)"))
	}
	if a.Heartbeat <= 0 {
		errs = append(errs, errors.New("heartbeat must be positive"))
	}
	if a.ConsoleAddress == "" {
		if ip := net.ParseIP(a.VNCListen); ip != nil && ip.IsUnspecified() {
			errs = append(errs, fmt.Errorf("VNC listens on %s: set NIMBUS_AGENT_CONSOLE_ADDRESS to the address proxies reach this host at", a.VNCListen))
		}
		a.ConsoleAddress = a.VNCListen
	}
	if a.StorageAddress == "" {
		a.StorageAddress = a.ConsoleAddress
	}
	if net.ParseIP(a.StorageAddress) == nil {
		errs = append(errs, fmt.Errorf("storage address %q is not an IP address", a.StorageAddress))
	}
	return a, errors.Join(errs...)
}

// defaultConsoleURL is the public URL's scheme and host with the console
// listener's port: http://cloud.example:8080 and 0.0.0.0:6080 give
// http://cloud.example:6080. Empty when the proxy is off.
func defaultConsoleURL(public, listen string) string {
	_, port, err := net.SplitHostPort(listen)
	if listen == "" || err != nil {
		return ""
	}
	u, err := url.Parse(public)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
}

func level2(dst *slog.Level, s string) error {
	if err := dst.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Logger builds the process logger from the level and format settings.
func Logger(level slog.Level, json bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if json {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// parseSegments reads the VNI range ("MIN:MAX") and the VLAN range
// ("PHYSNET:MIN:MAX") and checks the tenant network type can use them.
func parseSegments(nc *NetworkConfig, vnis, vlans string) error {
	if _, err := fmt.Sscanf(vnis, "%d:%d", &nc.VNIMin, &nc.VNIMax); err != nil || nc.VNIMin < 1 || nc.VNIMax < nc.VNIMin || nc.VNIMax > 1<<24-1 {
		return fmt.Errorf("vni ranges %q: want MIN:MAX within 1:16777215", vnis)
	}
	if vlans != "" {
		parts := strings.Split(vlans, ":")
		if len(parts) != 3 {
			return fmt.Errorf("vlan ranges %q: want PHYSNET:MIN:MAX", vlans)
		}
		nc.TenantPhysicalNetwork = parts[0]
		if _, err := fmt.Sscanf(parts[1]+":"+parts[2], "%d:%d", &nc.VLANMin, &nc.VLANMax); err != nil ||
			nc.VLANMin < 1 || nc.VLANMax < nc.VLANMin || nc.VLANMax > 4094 {
			return fmt.Errorf("vlan ranges %q: want PHYSNET:MIN:MAX within 1:4094", vlans)
		}
	}
	switch nc.TenantNetworkType {
	case "vxlan", "local":
	case "vlan":
		if vlans == "" {
			return errors.New("tenant network type vlan needs NIMBUS_VLAN_RANGES")
		}
	default:
		return fmt.Errorf("tenant network type %q: want vxlan, vlan or local", nc.TenantNetworkType)
	}
	if nc.MTU < 1280 || nc.MTU > 9216 {
		return fmt.Errorf("network mtu %d: want 1280 to 9216", nc.MTU)
	}
	return nil
}

// cidrList parses comma-separated CIDRs; a bare address is its own /32 or
// /128.
func cidrList(list, what string, errs *[]error) []*net.IPNet {
	var out []*net.IPNet
	for _, p := range splitList(list) {
		if !strings.Contains(p, "/") {
			if strings.Contains(p, ":") {
				p += "/128"
			} else {
				p += "/32"
			}
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s %q: %w", what, p, err))
			continue
		}
		out = append(out, n)
	}
	return out
}
