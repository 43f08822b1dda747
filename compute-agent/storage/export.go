package storage

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A volume on one host reaches a guest on another through two
// qemu-storage-daemons (docs/volumes.md):
//
//	storage host: Export  — the volume's qcow2, served over NBD on TCP with
//	                        TLS-PSK whose only user is the attachment;
//	compute host: Relay   — an NBD client of that export (the same key),
//	                        re-exported on a unix socket the guest's QEMU
//	                        opens as its disk.
//
// libvirt's own NBD disks take x509 TLS only, set once per libvirtd in
// qemu.conf; the relay keeps the secret per attachment and libvirtd's
// configuration untouched. The relay also reconnects by itself when the
// storage host's daemon comes back.
//
// Both daemons are detached from the agent (--daemonize): an agent that
// restarts or dies does not take the guests' disks with it. Each one's
// record (its arguments and pid) is a file under the state directory, so
// Restore starts again any that died with their host.

// Remote says where an attachment reads a volume over NBD.
type Remote struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	Name string `json:"name"` // the export's name
	User string `json:"user"` // the PSK identity: the attachment's id
	Key  string `json:"key"`  // hex PSK, made per attachment by the controller
}

var (
	exportNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)
	pskUserRe    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func (r Remote) validate() error {
	k, err := hex.DecodeString(r.Key)
	switch {
	case !exportNameRe.MatchString(r.Name):
		return fmt.Errorf("export name %q: 16 to 64 letters, digits, - or _", r.Name)
	case !pskUserRe.MatchString(r.User):
		return fmt.Errorf("PSK identity %q", r.User)
	case err != nil || len(k) < 16:
		return errors.New("PSK: at least 16 bytes in hex")
	case net.ParseIP(r.Host) == nil:
		return fmt.Errorf("host %q: not an address", r.Host)
	case r.Port < 0 || r.Port > 65535:
		return fmt.Errorf("port %d", r.Port)
	}
	return nil
}

// daemon is one detached qemu-storage-daemon and its record.
type daemon struct {
	Args []string `json:"args"`
	Port int      `json:"port,omitempty"`
	dir  string   // its own directory: record, pid file, PSK file, socket
}

func (d daemon) pidFile() string { return filepath.Join(d.dir, "pid") }

// alive reports whether the daemon's process runs.
func (d daemon) alive() bool {
	b, err := os.ReadFile(d.pidFile())
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A pid reused by another program is not ours.
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.Contains(string(cmd), "qemu-storage-daemon")
}

// start runs the daemon unless it runs already; it returns once the
// daemon serves (--daemonize: the parent exits after start-up).
func (d daemon) start(ctx context.Context) error {
	if d.alive() {
		return nil
	}
	args := append([]string{"--daemonize", "--pidfile", d.pidFile()}, d.Args...)
	cmd := exec.CommandContext(ctx, "qemu-storage-daemon", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// Its output goes to a file, not a pipe: the daemon keeps what it
	// inherited open, and a pipe would never reach its end.
	logf, err := os.OpenFile(filepath.Join(d.dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(logf.Name())
		return fmt.Errorf("qemu-storage-daemon: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// save writes the record, then starts the daemon.
func (d daemon) save(ctx context.Context) error {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(d)
	if err := os.WriteFile(filepath.Join(d.dir, "daemon.json"), b, 0o600); err != nil {
		return err
	}
	return d.start(ctx)
}

// stop ends the daemon and removes its record; one already gone is fine.
func stopDaemon(dir string) error {
	d := daemon{dir: dir}
	if b, err := os.ReadFile(d.pidFile()); err == nil && d.alive() {
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for deadline := time.Now().Add(5 * time.Second); d.alive() && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if d.alive() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return os.RemoveAll(dir)
}

// loadDaemon reads the record in dir.
func loadDaemon(dir string) (daemon, error) {
	d := daemon{dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, "daemon.json"))
	if err != nil {
		return d, err
	}
	err = json.Unmarshal(b, &d)
	return d, err
}

// restoreAll starts again every recorded daemon under root that is not
// running (after the host restarted); it returns the first error.
func restoreAll(ctx context.Context, root string) error {
	dirs, _ := filepath.Glob(filepath.Join(root, "*", "daemon.json"))
	var first error
	for _, f := range dirs {
		d, err := loadDaemon(filepath.Dir(f))
		if err == nil {
			err = d.start(ctx)
		}
		if err != nil && first == nil {
			first = fmt.Errorf("restore %s: %w", filepath.Dir(f), err)
		}
	}
	return first
}

func writePSK(dir, user, key string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "keys.psk"), []byte(user+":"+key+"\n"), 0o600)
}

func (l Local) exportDir(name string) string { return filepath.Join(l.Dir, "exports", name) }

// Export serves volume id to one attachment at r.Host (r.Port 0: a free
// port) as export r.Name, to the PSK identity r.User with key r.Key, and
// returns the port. Idempotent: an export of that name already recorded
// is started if it died and its port returned.
func (l Local) Export(ctx context.Context, id string, r Remote) (int, error) {
	p, err := l.Path(id)
	if err != nil {
		return 0, err
	}
	if err := r.validate(); err != nil {
		return 0, err
	}
	dir := l.exportDir(r.Name)
	if d, err := loadDaemon(dir); err == nil {
		return d.Port, d.start(ctx)
	}
	if _, err := os.Stat(p); err != nil {
		return 0, ErrNotFound
	}
	if r.Port == 0 {
		if r.Port, err = freePort(r.Host); err != nil {
			return 0, err
		}
	}
	if err := writePSK(dir, r.User, r.Key); err != nil {
		return 0, err
	}
	d := daemon{dir: dir, Port: r.Port, Args: []string{
		"--object", "tls-creds-psk,id=tls0,endpoint=server,dir=" + dir,
		"--blockdev", "driver=file,filename=" + p + ",node-name=file0",
		"--blockdev", "driver=qcow2,file=file0,node-name=vol0",
		"--nbd-server", "addr.type=inet,addr.host=" + r.Host + ",addr.port=" + strconv.Itoa(r.Port) + ",tls-creds=tls0",
		"--export", "type=nbd,id=e0,node-name=vol0,name=" + r.Name + ",writable=on"}}
	if err := d.save(ctx); err != nil {
		os.RemoveAll(dir)
		return 0, err
	}
	return r.Port, nil
}

// Unexport stops serving export name: its attachment's relay loses the
// volume. One not served is fine.
func (l Local) Unexport(name string) error {
	if !exportNameRe.MatchString(name) {
		return fmt.Errorf("export name %q", name)
	}
	return stopDaemon(l.exportDir(name))
}

// Exported reports whether export name is recorded and its daemon runs.
func (l Local) Exported(name string) bool {
	d, err := loadDaemon(l.exportDir(name))
	return err == nil && d.alive()
}

// RestoreExports starts again the exports whose daemon is gone (after the
// storage host restarted).
func (l Local) RestoreExports(ctx context.Context) error {
	return restoreAll(ctx, filepath.Join(l.Dir, "exports"))
}

// Relays are a compute host's NBD clients of remote volumes, each
// re-exported on a unix socket its guest's disk reads.
type Relays struct{ Dir string }

var relayNameRe = regexp.MustCompile(`^[0-9a-f-]{36}$`)

// Open starts the relay of attachment att (a UUID) to r and returns the
// unix socket (export name "vol") the guest's disk opens. Idempotent.
func (rs Relays) Open(ctx context.Context, att string, r Remote) (string, error) {
	if !relayNameRe.MatchString(att) {
		return "", fmt.Errorf("attachment %q", att)
	}
	if err := r.validate(); err != nil {
		return "", err
	}
	dir := filepath.Join(rs.Dir, att)
	sock := filepath.Join(dir, "s") // short: a unix socket path has 108 bytes
	if len(sock) >= 108 {
		return "", fmt.Errorf("relay socket %s: longer than a unix socket path may be", sock)
	}
	if d, err := loadDaemon(dir); err == nil {
		return sock, d.start(ctx)
	}
	if err := writePSK(dir, r.User, r.Key); err != nil {
		return "", err
	}
	d := daemon{dir: dir, Args: []string{
		"--object", "tls-creds-psk,id=tls0,endpoint=client,dir=" + dir + ",username=" + r.User,
		// reconnect-delay: while the storage host's daemon is away, I/O
		// waits up to this long for it instead of failing at once.
		"--blockdev", "driver=nbd,node-name=n0,server.type=inet,server.host=" + r.Host + ",server.port=" +
			strconv.Itoa(r.Port) + ",export=" + r.Name + ",tls-creds=tls0,reconnect-delay=30",
		"--nbd-server", "addr.type=unix,addr.path=" + sock,
		"--export", "type=nbd,id=e0,node-name=n0,name=vol,writable=on"}}
	if err := d.save(ctx); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return sock, nil
}

// Close stops attachment att's relay; one not running is fine.
func (rs Relays) Close(att string) error {
	if !relayNameRe.MatchString(att) {
		return fmt.Errorf("attachment %q", att)
	}
	return stopDaemon(filepath.Join(rs.Dir, att))
}

// Restore starts again the relays whose daemon is gone.
func (rs Relays) Restore(ctx context.Context) error { return restoreAll(ctx, rs.Dir) }

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
