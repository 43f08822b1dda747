package compute

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/internal/console"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// consoleLogTimeout bounds how long the API waits for an agent to read a
// serial log.
const consoleLogTimeout = 5 * time.Second

// RemoteConsole returns the URL of the instance's console on the proxy,
// with a fresh single-use token, as Nova's remote-consoles API: protocol
// "vnc" with type "novnc" is what Nimbus serves.
func (s *Service) RemoteConsole(ctx context.Context, caller *model.Token, id, protocol, typ string) (string, error) {
	token, err := s.ConsoleToken(ctx, caller, id, protocol, typ)
	if err != nil {
		return "", err
	}
	// nova-novncproxy's form: noVNC's page finds the websocket path, with
	// the token, in its "path" parameter.
	return s.opt.ConsoleURL + "/vnc_lite.html?path=" + url.QueryEscape("?token="+token), nil
}

// ConsoleWebsocketURL is the websocket endpoint for a token, for pages
// that run noVNC themselves (the portal).
func (s *Service) ConsoleWebsocketURL(token string) string {
	return console.WebsocketBase(s.opt.ConsoleURL) + "/websockify?token=" + url.QueryEscape(token)
}

// ConsoleToken checks the caller may open the instance's console and that
// it has one now, and issues a token bound to the VNC address the
// instance's agent reported and naming the caller (user and token).
func (s *Service) ConsoleToken(ctx context.Context, caller *model.Token, id, protocol, typ string) (string, error) {
	if protocol != "vnc" {
		return "", fault.Invalid("protocol", "Unsupported console protocol %q: this cloud serves vnc consoles.", protocol)
	}
	if typ != "novnc" {
		return "", fault.Invalid("type", "Unsupported console type %q: this cloud serves novnc consoles.", typ)
	}
	in, err := s.visibleInstance(ctx, caller, id, policy.RemoteConsole)
	if err != nil {
		return "", err
	}
	if s.opt.Consoles == nil || s.opt.ConsoleURL == "" {
		return "", fault.Conflict("Consoles are not enabled in this cloud.")
	}
	if in.VMState != model.VMActive || in.PowerState != model.PowerRunning || in.Host == "" || in.VNCPort <= 0 {
		return "", fault.Conflict("Instance %s is not ready.", id)
	}
	agent, found, err := queue.Agent(ctx, s.opt.RDB, s.opt.RedisPrefix, in.Host)
	if err != nil {
		return "", err
	}
	if !found || agent.ConsoleAddr == "" {
		return "", fault.Conflict("The console of instance %s is not available.", id)
	}
	addr := net.JoinHostPort(agent.ConsoleAddr, strconv.Itoa(in.VNCPort))
	if err := console.CheckAddr(addr); err != nil {
		s.log.Warn("console address refused", "instance_id", in.ID, "host", in.Host, "error", err)
		return "", fault.Conflict("The console of instance %s is not available.", id)
	}
	// The user and the token that asked ride along: the proxy counts the
	// user's consoles and closes them when that access ends.
	return s.opt.Consoles.Issue(ctx, console.Target{InstanceID: in.ID, ProjectID: in.ProjectID, Host: in.Host, Addr: addr,
		UserID: caller.UserID, AuditIDs: append([]string{caller.AuditID}, caller.AuditChain...)})
}

// ConsoleOutput returns the end of the instance's serial console log
// (lines 0: all the agent keeps), read by its agent, as Nova's
// os-getConsoleOutput.
func (s *Service) ConsoleOutput(ctx context.Context, caller *model.Token, id string, lines int) (string, error) {
	out, _, err := s.ConsoleTail(ctx, caller, id, lines)
	return out, err
}

// ConsoleTail is ConsoleOutput with the log's length when it was read,
// from which FollowLog continues.
func (s *Service) ConsoleTail(ctx context.Context, caller *model.Token, id string, lines int) (string, int64, error) {
	in, err := s.logHost(ctx, caller, id)
	if err != nil {
		return "", 0, err
	}
	rep, err := queue.Call(ctx, s.opt.RDB, s.opt.RedisPrefix, in.Host, queue.Request{Kind: queue.CallConsoleLog,
		InstanceID: in.ID, Lines: lines}, consoleLogTimeout)
	if errors.Is(err, queue.ErrNoReply) {
		return "", 0, fault.Conflict("The compute host of instance %s did not answer; try again later.", id)
	}
	if err != nil {
		return "", 0, err
	}
	if rep.Error != "" {
		s.log.Warn("console output", "instance_id", id, "host", in.Host, "error", rep.Error)
		return "", 0, fault.Conflict("Console output of instance %s is not available.", id)
	}
	return rep.Output, rep.Size, nil
}

// logHost is the instance whose serial log the caller may read, on a host.
func (s *Service) logHost(ctx context.Context, caller *model.Token, id string) (model.Instance, error) {
	in, err := s.visibleInstance(ctx, caller, id, policy.ConsoleOutput)
	if err != nil {
		return in, err
	}
	if in.Host == "" || in.VMState == model.VMBuilding && in.TaskState != model.TaskSpawning {
		return in, fault.Conflict("Instance %s is not ready.", id)
	}
	if s.opt.RDB == nil {
		return in, fault.Conflict("Console output is not available.")
	}
	return in, nil
}

// CanReadLog says whether the caller may read the instance's serial log
// now, as ConsoleOutput and FollowLog would: an event stream checks
// before it answers 200 and can no longer say no.
func (s *Service) CanReadLog(ctx context.Context, caller *model.Token, id string) error {
	_, err := s.logHost(ctx, caller, id)
	return err
}

// logWatchLife is how long a watch lasts unless renewed; FollowLog renews
// it three times as often, so a page that went away stops costing its
// agent a read within that time.
const logWatchLife = 30 * time.Second

// FollowLog sends out the serial log's output after offset (ConsoleTail's
// length) as the instance's agent pushes it (queue.LogWatch), until ctx
// ends or out fails.
func (s *Service) FollowLog(ctx context.Context, caller *model.Token, id string, offset int64, out func(string) error) error {
	in, err := s.logHost(ctx, caller, id)
	if err != nil {
		return err
	}
	viewer := uuid.NewString()
	sub := s.opt.RDB.Subscribe(ctx, queue.LogChannel(s.opt.RedisPrefix, viewer))
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // subscribed before the agent may publish
		return err
	}
	key, member := queue.LogWatchKey(s.opt.RedisPrefix, in.Host), queue.LogWatch{InstanceID: in.ID, Viewer: viewer, Offset: offset}.Member()
	watch := func() error {
		now := time.Now()
		pipe := s.opt.RDB.Pipeline()
		pipe.ZAdd(ctx, key, redis.Z{Score: float64(now.Add(logWatchLife).UnixMilli()), Member: member})
		pipe.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now.UnixMilli(), 10)) // lapsed watches
		pipe.Expire(ctx, key, 2*logWatchLife)
		_, err := pipe.Exec(ctx)
		return err
	}
	if err := watch(); err != nil {
		return err
	}
	defer s.opt.RDB.ZRem(context.WithoutCancel(ctx), key, member)
	renew := time.NewTicker(logWatchLife / 3)
	defer renew.Stop()
	msgs := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-renew.C:
			if err := watch(); err != nil {
				return err
			}
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			if err := out(m.Payload); err != nil {
				return err
			}
		}
	}
}

// revokeConsoles ends the instance's consoles after a change that leaves
// no screen to show (stop, delete, power off from inside). Failure is
// logged, not returned: the change itself is committed, and a token left
// behind still expires with its TTL.
func (s *Service) revokeConsoles(ctx context.Context, id string) {
	if s.opt.Consoles == nil {
		return
	}
	if err := s.opt.Consoles.RevokeInstance(context.WithoutCancel(ctx), id); err != nil {
		s.log.Warn("revoke console tokens", "instance_id", id, "error", err)
	}
}
