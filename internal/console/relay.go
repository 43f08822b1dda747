package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// Relay read sizes. VNC -> client carries the screen: one read of up to
// 256 KiB becomes one websocket message, so a framebuffer update crosses
// in few read/write calls and frames (64 KiB reads cost about a fifth
// more CPU per byte and measured 0.7-0.8x a plain TCP relay at one
// session; 256 KiB about 1x). Client -> VNC is key and pointer events and
// the odd paste: 16 KiB is plenty. An open session holds one buffer of
// each (about 276 KiB with gorilla's reader); the pools recycle them
// between sessions.
const (
	toClientBufSize = 256 << 10
	toServerBufSize = 16 << 10
)

var (
	toClientBufs = sync.Pool{New: func() any { b := make([]byte, toClientBufSize); return &b }}
	toServerBufs = sync.Pool{New: func() any { b := make([]byte, toServerBufSize); return &b }}
)

// MaxClientMessage is the largest websocket message a client may send
// (Options.MaxMessage's default). noVNC sends key and pointer events of a
// few bytes and flushes its send queue at 10 KiB; a larger message is no
// console's and closes the session with 1009.
const MaxClientMessage = 64 << 10

// Close reasons sent to the client in the websocket close frame (at most
// 123 bytes each).
const (
	ReasonIdle     = "console idle for too long; reconnect to continue"
	ReasonRevoked  = "the instance was stopped or deleted; its console is closed"
	ReasonServer   = "the VNC server closed the connection"
	ReasonStopped  = "the console proxy is shutting down"
	ReasonLifetime = "the console reached its maximum lifetime; reconnect to continue"
	ReasonAccess   = "your access ended (signed out, password changed, user disabled or role removed)"
	ReasonTooBig   = "message too big for a console"
	ReasonText     = "the console speaks binary websocket messages only"
	ReasonSlow     = "the client stopped reading the console"
)

// closeCode is the websocket close code sent with a reason.
func closeCode(reason string) int {
	switch reason {
	case ReasonStopped:
		return websocket.CloseGoingAway
	case ReasonTooBig:
		return websocket.CloseMessageTooBig
	case ReasonText:
		return websocket.CloseUnsupportedData
	}
	return websocket.CloseNormalClosure
}

// Options bound a session. Zero durations are no bound.
type Options struct {
	Idle     time.Duration // close after this long without a byte either way
	Lifetime time.Duration // close this long after opening, whatever the traffic
	// WriteTimeout closes a session whose client (or VNC server) takes
	// longer than this to accept one write: a browser that stops reading
	// would otherwise hold the relay's goroutine and buffers for ever.
	WriteTimeout time.Duration
	MaxMessage   int64 // largest client message; default MaxClientMessage
}

// Session is one relayed console connection.
type Session struct {
	Target // what the token opened, and for whom
	ws     *websocket.Conn
	tcp    net.Conn
	opt    Options
	last   atomic.Int64 // unix nanoseconds of the last byte either way
	once   sync.Once
	reason atomic.Value // string: why the session was closed by the proxy
	done   chan struct{}
}

// NewSession joins a websocket to a VNC connection for target; Run relays.
func NewSession(target Target, ws *websocket.Conn, tcp net.Conn, opt Options) *Session {
	if opt.MaxMessage <= 0 {
		opt.MaxMessage = MaxClientMessage
	}
	s := &Session{Target: target, ws: ws, tcp: tcp, opt: opt, done: make(chan struct{})}
	s.last.Store(time.Now().UnixNano())
	// gorilla refuses a larger message at the header of the frame that
	// takes it past the limit (for a message in one frame, before any of
	// it is read) and answers 1009 itself.
	ws.SetReadLimit(opt.MaxMessage)
	return s
}

// Close ends the session, telling the client why.
func (s *Session) Close(reason string) {
	s.once.Do(func() {
		s.reason.Store(reason)
		// gorilla has sent 1009 already when the read limit was passed,
		// and after a write timed out no frame can go.
		if reason != ReasonTooBig && reason != ReasonSlow {
			_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeCode(reason), reason), time.Now().Add(time.Second))
		}
		_ = s.ws.Close()
		_ = s.tcp.Close()
		close(s.done)
	})
}

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Reason says why the proxy closed the session ("" if the client did).
func (s *Session) Reason() string {
	r, _ := s.reason.Load().(string)
	return r
}

// Run relays until either side ends, ctx ends, or a bound of the
// session's Options is reached. Bytes are copied once each way: read into
// a pooled buffer, written out of it.
func (s *Session) Run(ctx context.Context) {
	go s.watch(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.toClient() }()
	go func() { defer wg.Done(); s.toServer() }()
	wg.Wait()
}

// watch closes the session when ctx ends, at its lifetime, or when idle.
func (s *Session) watch(ctx context.Context) {
	var idle, life <-chan time.Time
	var idleT *time.Timer
	if s.opt.Idle > 0 {
		idleT = time.NewTimer(s.opt.Idle)
		defer idleT.Stop()
		idle = idleT.C
	}
	if s.opt.Lifetime > 0 {
		t := time.NewTimer(s.opt.Lifetime)
		defer t.Stop()
		life = t.C
	}
	for {
		select {
		case <-s.done:
			return
		case <-ctx.Done():
			s.Close(ReasonStopped)
			return
		case <-life:
			s.Close(ReasonLifetime)
			return
		case <-idle:
			since := time.Since(time.Unix(0, s.last.Load()))
			if since >= s.opt.Idle {
				s.Close(ReasonIdle)
				return
			}
			idleT.Reset(s.opt.Idle - since)
		}
	}
}

// deadline is the write deadline for a write starting now.
func (s *Session) deadline() time.Time {
	if s.opt.WriteTimeout <= 0 {
		return time.Time{}
	}
	return time.Now().Add(s.opt.WriteTimeout)
}

// writeFailed closes after a failed write, saying so when it timed out.
func (s *Session) writeFailed(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.Close(ReasonSlow)
		return
	}
	s.Close("")
}

// toClient copies VNC bytes into binary websocket messages.
func (s *Session) toClient() {
	bp := toClientBufs.Get().(*[]byte)
	defer toClientBufs.Put(bp)
	buf := *bp
	for {
		n, err := s.tcp.Read(buf)
		if n > 0 {
			s.last.Store(time.Now().UnixNano())
			_ = s.ws.SetWriteDeadline(s.deadline())
			if werr := s.ws.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
				s.writeFailed(werr)
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				s.Close(ReasonServer)
			} else {
				s.Close("")
			}
			return
		}
	}
}

// toServer copies the payload of every websocket message to VNC.
func (s *Session) toServer() {
	bp := toServerBufs.Get().(*[]byte)
	defer toServerBufs.Put(bp)
	buf := *bp
	for {
		typ, r, err := s.ws.NextReader()
		if errors.Is(err, websocket.ErrReadLimit) {
			s.Close(ReasonTooBig)
			return
		}
		if err != nil {
			s.Close("")
			return
		}
		if typ != websocket.BinaryMessage {
			// noVNC sends binary only; text (websockify's old base64
			// mode) is not spoken here.
			s.Close(ReasonText)
			return
		}
		for {
			n, rerr := r.Read(buf)
			if n > 0 {
				s.last.Store(time.Now().UnixNano())
				_ = s.tcp.SetWriteDeadline(s.deadline())
				if _, werr := s.tcp.Write(buf[:n]); werr != nil {
					s.writeFailed(werr)
					return
				}
			}
			if rerr == io.EOF {
				break
			}
			if errors.Is(rerr, websocket.ErrReadLimit) {
				s.Close(ReasonTooBig)
				return
			}
			if rerr != nil {
				s.Close("")
				return
			}
		}
	}
}

// Sessions tracks the open sessions of one proxy by instance, so a
// revoked instance's consoles close at once.
type Sessions struct {
	mu         sync.Mutex
	byInstance map[string]map[*Session]struct{}
}

// Add registers s until it ends; the returned func forgets it.
func (ss *Sessions) Add(s *Session) (remove func()) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.byInstance == nil {
		ss.byInstance = map[string]map[*Session]struct{}{}
	}
	m := ss.byInstance[s.InstanceID]
	if m == nil {
		m = map[*Session]struct{}{}
		ss.byInstance[s.InstanceID] = m
	}
	m[s] = struct{}{}
	return func() {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		delete(m, s)
		if len(m) == 0 {
			delete(ss.byInstance, s.InstanceID)
		}
	}
}

// Count is the number of open sessions.
func (ss *Sessions) Count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := 0
	for _, m := range ss.byInstance {
		n += len(m)
	}
	return n
}

// CloseInstance closes every open session of the instance.
func (ss *Sessions) CloseInstance(instanceID, reason string) int {
	ss.mu.Lock()
	list := make([]*Session, 0, len(ss.byInstance[instanceID]))
	for s := range ss.byInstance[instanceID] {
		list = append(list, s)
	}
	ss.mu.Unlock()
	for _, s := range list {
		s.Close(reason)
	}
	return len(list)
}

// CloseAccess closes every open session a matches.
func (ss *Sessions) CloseAccess(a Access, reason string) int {
	ss.mu.Lock()
	var list []*Session
	for _, m := range ss.byInstance {
		for s := range m {
			if a.Matches(s.Target) {
				list = append(list, s)
			}
		}
	}
	ss.mu.Unlock()
	for _, s := range list {
		s.Close(reason)
	}
	return len(list)
}

func (ss *Sessions) dispatch(t *Tokens, m *redis.Message) {
	if m.Channel == t.RevokedChannel() {
		ss.CloseInstance(m.Payload, ReasonRevoked)
		return
	}
	var a Access
	if err := json.Unmarshal([]byte(m.Payload), &a); err == nil {
		ss.CloseAccess(a, ReasonAccess)
	}
}

// WatchRevoked closes the sessions of every instance published on the
// tokens' revoked channel, and those of every ended access published on
// their access channel, until ctx ends. ready, if not nil, is closed once
// subscribed.
func (ss *Sessions) WatchRevoked(ctx context.Context, t *Tokens, ready chan<- struct{}) {
	for ctx.Err() == nil {
		sub := t.RDB.Subscribe(ctx, t.RevokedChannel(), t.AccessChannel())
		if _, err := sub.Receive(ctx); err == nil {
			if ready != nil {
				close(ready)
				ready = nil
			}
			ch := sub.Channel()
		loop:
			for {
				select {
				case <-ctx.Done():
					break loop
				case m, ok := <-ch:
					if !ok {
						break loop
					}
					ss.dispatch(t, m)
				}
			}
		}
		_ = sub.Close()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
