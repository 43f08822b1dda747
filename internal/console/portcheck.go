package console

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// ErrStaleTarget means a token's address is no longer the instance's VNC
// server: the instance powered off (from inside, say) and its port may
// now be another instance's screen, or the address is not one a
// registered hypervisor serves consoles on.
var ErrStaleTarget = errors.New("console address is no longer the instance's")

// The VNC port range libvirt allocates from (qemu.conf
// remote_display_port_min/max); a token never opens anything else.
const (
	MinVNCPort = 5900
	MaxVNCPort = 65535
)

// CheckAddr refuses an address outside the VNC port range.
func CheckAddr(addr string) error {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("console address %q: %w", addr, ErrStaleTarget)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < MinVNCPort || n > MaxVNCPort {
		return fmt.Errorf("console port %q outside %d-%d: %w", p, MinVNCPort, MaxVNCPort, ErrStaleTarget)
	}
	return nil
}

// PortCheck confirms, when a console is opened, that the token's address
// still is the instance's VNC server, as Nova's validate_console_port
// does: the host is a registered hypervisor whose console address is the
// token's, and its agent says the instance's domain listens on that port
// now. The token was bound to the port the database held, which a power
// sync refreshes only every few seconds.
type PortCheck struct {
	RDB     *redis.Client
	Prefix  string
	Timeout time.Duration // how long to wait for the agent; default 3 s
}

// Verify returns nil when t may be dialled, an error wrapping
// ErrStaleTarget when it may not, or another error when the agent could
// not be asked.
func (c *PortCheck) Verify(ctx context.Context, t Target) error {
	if err := CheckAddr(t.Addr); err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(t.Addr)
	if t.Host == "" {
		return fmt.Errorf("console token names no compute host: %w", ErrStaleTarget)
	}
	agent, found, err := queue.Agent(ctx, c.RDB, c.Prefix, t.Host)
	if err != nil {
		return err
	}
	if !found || agent.ConsoleAddr != host {
		return fmt.Errorf("console address %s is not host %s's: %w", host, t.Host, ErrStaleTarget)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	rep, err := queue.Call(ctx, c.RDB, c.Prefix, t.Host, queue.Request{Kind: queue.CallConsolePort, InstanceID: t.InstanceID}, timeout)
	if err != nil {
		return err
	}
	if rep.Error != "" {
		return fmt.Errorf("console port of %s: %s", t.InstanceID, rep.Error)
	}
	if strconv.Itoa(rep.Port) != port {
		return fmt.Errorf("instance %s has VNC port %d on %s, not %s: %w", t.InstanceID, rep.Port, t.Host, port, ErrStaleTarget)
	}
	return nil
}
