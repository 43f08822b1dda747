package storage

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// Export is one volume served over NBD to one attachment: its own
// qemu-storage-daemon, with mutual x509 TLS (the client must show a
// certificate of the same CA) and an export name only that attachment
// is told.
type Export struct {
	Host string
	Port int
	Name string
	cmd  *exec.Cmd
	done chan struct{}
}

var exportNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// Export serves volume id at host:port (0: a free one) under name, with
// the server certificate directory certDir (pki.WriteDir's Server).
func (l Local) Export(ctx context.Context, id, name, host string, port int, certDir string) (*Export, error) {
	p, err := l.Path(id)
	if err != nil {
		return nil, err
	}
	if !exportNameRe.MatchString(name) {
		return nil, fmt.Errorf("export name %q: 16 to 64 letters, digits, - or _", name)
	}
	if port == 0 {
		if port, err = freePort(host); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command("qemu-storage-daemon",
		"--object", "tls-creds-x509,id=tls0,endpoint=server,verify-peer=on,dir="+certDir,
		"--blockdev", "driver=file,filename="+p+",node-name=file0",
		"--blockdev", "driver=qcow2,file=file0,node-name=vol0",
		"--nbd-server", "addr.type=inet,addr.host="+host+",addr.port="+strconv.Itoa(port)+",tls-creds=tls0",
		"--export", "type=nbd,id=e0,node-name=vol0,name="+name+",writable=on")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu-storage-daemon: %w", err)
	}
	e := &Export{Host: host, Port: port, Name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(e.done) }()
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return e, nil
		}
		select {
		case <-e.done:
			return nil, fmt.Errorf("qemu-storage-daemon for %s exited: %v", id, cmd.ProcessState)
		case <-ctx.Done():
			e.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.Close()
			return nil, fmt.Errorf("qemu-storage-daemon for %s: no NBD server at %s", id, addr)
		}
	}
}

// Close stops serving: the attachment's client loses the volume.
func (e *Export) Close() error {
	select {
	case <-e.done:
		return nil
	default:
	}
	e.cmd.Process.Kill()
	<-e.done
	return nil
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
