package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Private services for fault tests: each test that stops, kills or
// restarts a service gets its own process of it, on its own port, so the
// shared services other tests use are never touched.

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Postgres is a private PostgreSQL server.
type Postgres struct {
	URL  string
	bin  string
	data string
	port int
	t    testing.TB
}

// StartPostgres makes and starts a private PostgreSQL server with a
// database "nimbus"; it is stopped when the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	need(t, "NIMBUS_TEST_DATABASE_URL") // the same services are installed
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(bins) == 0 {
		t.Skip("PostgreSQL is not installed")
	}
	sort.Strings(bins)
	dir, err := os.MkdirTemp("", "nimbus-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &Postgres{bin: bins[len(bins)-1], data: filepath.Join(dir, "data"), port: FreePort(t), t: t}
	os.Chmod(dir, 0o755)
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		if err := exec.Command("chown", "postgres:", dir).Run(); err != nil {
			t.Fatalf("chown %s: %v", dir, err)
		}
	}
	p.run("initdb", "-D", p.data, "-U", "nimbus", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
	p.Start()
	t.Cleanup(p.Stop)
	p.URL = fmt.Sprintf("postgres://nimbus@127.0.0.1:%d/nimbus?sslmode=disable", p.port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://nimbus@127.0.0.1:%d/postgres?sslmode=disable", p.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE DATABASE nimbus`); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *Postgres) run(tool string, args ...string) {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(p.bin, tool), args...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(p.bin, tool)}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v\n%s", tool, err, out)
	}
}

// Start starts the server (again) on its port and waits until it is up.
func (p *Postgres) Start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.data, "-l", p.data+"/../log", "-w", "-t", "60", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", p.port, filepath.Dir(p.data)),
		"start")
}

// Stop stops the server at once, cutting its connections.
func (p *Postgres) Stop() {
	if _, err := os.Stat(filepath.Join(p.data, "postmaster.pid")); err != nil {
		return
	}
	p.run("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop")
}

// RedisServer is a private Redis server.
type RedisServer struct {
	URL     string
	port    int
	dir     string
	persist bool
	cmd     *exec.Cmd
	t       testing.TB
}

// StartRedis starts a private Redis; with persist it keeps an
// append-only file (fsync every second, as deployed), without it a
// restart loses everything. It is stopped when the test ends.
func StartRedis(t testing.TB, persist bool) *RedisServer {
	t.Helper()
	need(t, "NIMBUS_TEST_REDIS_URL")
	r := &RedisServer{port: FreePort(t), dir: t.TempDir(), persist: persist, t: t}
	r.URL = fmt.Sprintf("redis://127.0.0.1:%d/0", r.port)
	r.Start()
	t.Cleanup(r.Kill)
	return r
}

// Start starts the server (again) and waits until it answers.
func (r *RedisServer) Start() {
	r.t.Helper()
	aof := "no"
	if r.persist {
		aof = "yes"
	}
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--dir", r.dir,
		"--appendonly", aof, "--save", "")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			r.t.Fatal("private redis did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill ends the server with SIGKILL, as a crash would.
func (r *RedisServer) Kill() {
	if r.cmd == nil || r.cmd.Process == nil || r.cmd.ProcessState != nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
}

// Libvirtd is a private libvirt daemon run as an unprivileged user, whose
// test driver (test+unix:///default) keeps its domains while the agents
// that use it come and go, and loses them when it restarts.
type Libvirtd struct {
	URI  string
	dir  string
	cmd  *exec.Cmd
	hold *exec.Cmd // keeps one connection open: see Start
	t    testing.TB
	sock string
}

// StartLibvirtd starts a private libvirtd; it is stopped when the test ends.
func StartLibvirtd(t testing.TB) *Libvirtd {
	t.Helper()
	if _, err := exec.LookPath("libvirtd"); err != nil {
		t.Skip("libvirtd is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("a private libvirtd is run as user nobody, which needs root")
	}
	dir, err := os.MkdirTemp("", "nimbus-libvirtd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	l := &Libvirtd{dir: dir, t: t, sock: filepath.Join(dir, "run", "libvirt", "libvirt-sock")}
	l.URI = "test+unix:///default?socket=" + l.sock
	l.Start()
	t.Cleanup(l.Kill)
	return l
}

// Start starts the daemon (again) and waits for its socket.
func (l *Libvirtd) Start() {
	l.t.Helper()
	os.Remove(l.sock)
	l.cmd = exec.Command("runuser", "-u", "nobody", "--", "env", "HOME="+l.dir, "XDG_RUNTIME_DIR="+filepath.Join(l.dir, "run"),
		"XDG_CONFIG_HOME="+filepath.Join(l.dir, "config"), "XDG_CACHE_HOME="+filepath.Join(l.dir, "cache"), "libvirtd")
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := l.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if out, err := exec.Command("virsh", "-c", l.URI, "version").CombinedOutput(); err == nil {
			break
		} else if time.Now().After(deadline) {
			l.t.Fatalf("private libvirtd did not start: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The daemon's test driver frees its domains when its last
	// connection closes: an interactive virsh waiting on its input holds
	// one for the daemon's life, so domains outlive the agents.
	l.hold = exec.Command("virsh", "-c", l.URI)
	if _, err := l.hold.StdinPipe(); err != nil {
		l.t.Fatal(err)
	}
	if err := l.hold.Start(); err != nil {
		l.t.Fatal(err)
	}
}

// Kill ends the daemon with SIGKILL.
func (l *Libvirtd) Kill() {
	if l.cmd == nil || l.cmd.Process == nil || l.cmd.ProcessState != nil {
		return
	}
	syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
	l.cmd.Wait()
	if l.hold != nil && l.hold.Process != nil {
		l.hold.Process.Kill()
		l.hold.Wait()
	}
}

// Domains lists the names of the daemon's domains, running or not.
func (l *Libvirtd) Domains() []string {
	l.t.Helper()
	out, err := exec.Command("virsh", "-c", l.URI, "list", "--all", "--name").Output()
	if err != nil {
		l.t.Fatalf("virsh list: %v", err)
	}
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if strings.HasPrefix(n, "nimbus-") {
			names = append(names, n)
		}
	}
	return names
}
