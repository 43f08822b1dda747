package console

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
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

// Close reasons sent to the client in the websocket close frame.
const (
	ReasonIdle    = "console idle for too long; reconnect to continue"
	ReasonRevoked = "the instance was stopped or deleted; its console is closed"
	ReasonServer  = "the VNC server closed the connection"
	ReasonStopped = "the console proxy is shutting down"
)

// Session is one relayed console connection.
type Session struct {
	InstanceID string
	ws         *websocket.Conn
	tcp        net.Conn
	last       atomic.Int64 // unix nanoseconds of the last byte either way
	once       sync.Once
	reason     atomic.Value // string: why the session was closed by the proxy
	done       chan struct{}
}

// NewSession joins a websocket to a VNC connection; Run relays.
func NewSession(instanceID string, ws *websocket.Conn, tcp net.Conn) *Session {
	s := &Session{InstanceID: instanceID, ws: ws, tcp: tcp, done: make(chan struct{})}
	s.last.Store(time.Now().UnixNano())
	return s
}

// Close ends the session, telling the client why.
func (s *Session) Close(reason string) {
	s.once.Do(func() {
		s.reason.Store(reason)
		code := websocket.CloseNormalClosure
		if reason == ReasonStopped {
			code = websocket.CloseGoingAway
		}
		_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
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

// Run relays until either side ends, ctx ends, or nothing crosses either
// way for idle (0: never). Bytes are copied once each way: read into a
// pooled buffer, written out of it.
func (s *Session) Run(ctx context.Context, idle time.Duration) {
	go func() {
		select {
		case <-ctx.Done():
			s.Close(ReasonStopped)
		case <-s.done:
		}
	}()
	if idle > 0 {
		go s.watchIdle(idle)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.toClient() }()
	go func() { defer wg.Done(); s.toServer() }()
	wg.Wait()
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
			if werr := s.ws.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
				s.Close("")
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
		if err != nil {
			s.Close("")
			return
		}
		if typ != websocket.BinaryMessage {
			continue // noVNC sends binary only; text (websockify's base64) is not spoken here
		}
		for {
			n, rerr := r.Read(buf)
			if n > 0 {
				s.last.Store(time.Now().UnixNano())
				if _, werr := s.tcp.Write(buf[:n]); werr != nil {
					s.Close("")
					return
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				s.Close("")
				return
			}
		}
	}
}

func (s *Session) watchIdle(idle time.Duration) {
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			since := time.Since(time.Unix(0, s.last.Load()))
			if since >= idle {
				s.Close(ReasonIdle)
				return
			}
			t.Reset(idle - since)
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

// WatchRevoked closes the sessions of every instance published on the
// tokens' revoked channel until ctx ends. ready, if not nil, is closed
// once subscribed.
func (ss *Sessions) WatchRevoked(ctx context.Context, t *Tokens, ready chan<- struct{}) {
	for ctx.Err() == nil {
		sub := t.RDB.Subscribe(ctx, t.RevokedChannel())
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
					ss.CloseInstance(m.Payload, ReasonRevoked)
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
