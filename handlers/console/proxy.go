// Package console is the console proxy's HTTP side, on its own port like
// nova-novncproxy: the websocket endpoint (/websockify, and / for clients
// that put the token in noVNC's "path"), the console page
// (/vnc_lite.html, as Nova's URLs name it), a token check the page asks
// before connecting, and the static files the page needs. It is plain
// net/http because gorilla/websocket needs connection hijacking.
package console

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/a-h/templ"
	"github.com/gorilla/websocket"

	"github.com/nimbus-cloud/nimbus/internal/console"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/static"
	"github.com/nimbus-cloud/nimbus/views"
)

// Config configures the proxy.
type Config struct {
	Tokens   *console.Tokens
	Sessions *console.Sessions
	// Origins are the websocket Origins accepted (scheme://host[:port]),
	// besides the proxy's own (the Host the request came to).
	Origins  []string
	Idle     time.Duration // close a session with no traffic for this long
	Lifetime time.Duration // close a session this long after it opened (0: never)
	// WriteTimeout closes a session whose browser (or VNC server) does
	// not take a write within it; default 30 s.
	WriteTimeout time.Duration
	MaxMessage   int64         // largest client message; default console.MaxClientMessage
	DialTimeout  time.Duration // default 5 s
	// Limits caps open consoles per user and instance (counted in Redis
	// across proxies) and on this proxy; over a cap a connect gets 429.
	Limits console.Limits
	// Lease is how long a session counts without being refreshed, so a
	// dead proxy's sessions stop counting; default 30 s.
	Lease time.Duration
	// PublicURL is the proxy's base URL as browsers reach it; its ws(s)
	// form is allowed in the console page's Content-Security-Policy.
	PublicURL string
	// Verify, when set, confirms at connect time that a token's address
	// still is its instance's VNC server (console.PortCheck.Verify).
	Verify func(ctx context.Context, t console.Target) error
	Log    *slog.Logger
}

// Proxy serves the console port.
type Proxy struct {
	cfg      Config
	origins  map[string]bool
	upgrader websocket.Upgrader
	leases   *console.Leases
	open     atomic.Int64    // sessions open and connects under way (Limits.PerProxy)
	csp      string          // the console page's Content-Security-Policy
	ctx      context.Context // ends every session on shutdown
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// New returns the proxy; Close ends its sessions.
func New(cfg Config) *Proxy {
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.Sessions == nil {
		cfg.Sessions = &console.Sessions{}
	}
	p := &Proxy{cfg: cfg, origins: map[string]bool{}, csp: pageCSP(cfg.PublicURL),
		leases: &console.Leases{RDB: cfg.Tokens.RDB, Prefix: cfg.Tokens.Prefix, Lease: cfg.Lease, Log: cfg.Log}}
	for _, o := range cfg.Origins {
		p.origins[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	p.ctx, p.stop = context.WithCancel(context.Background())
	p.upgrader = websocket.Upgrader{
		// Client -> VNC messages are small: 0 reuses the 4 KiB reader
		// net/http hijacked instead of keeping 64 KiB per session.
		ReadBufferSize: 0,
		// Only a message's first 4 KiB is copied into the write buffer;
		// the rest goes from the relay's buffer to the socket in one
		// writev. Held only while a message is written.
		WriteBufferSize:   4 << 10,
		WriteBufferPool:   &sync.Pool{},
		Subprotocols:      []string{"binary"},
		HandshakeTimeout:  10 * time.Second,
		CheckOrigin:       func(*http.Request) bool { return true }, // checked before the upgrade, with a clear answer
		EnableCompression: false,                                    // VNC data is compressed already
	}
	return p
}

// Sessions returns the open-session registry.
func (p *Proxy) Sessions() *console.Sessions { return p.cfg.Sessions }

// Close ends every open session and waits for them.
func (p *Proxy) Close() {
	p.stop()
	p.wg.Wait()
}

// Handler returns the routes.
func (p *Proxy) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("/websockify", p.websocket)
	mux.HandleFunc("/vnc_lite.html", p.page)
	mux.HandleFunc("/vnc.html", p.page)
	mux.HandleFunc("/check", p.check)
	mux.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.FS(static.FS()))))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) { // noVNC with path "?token=..." connects to "/"
			p.websocket(w, r)
			return
		}
		if r.URL.Path == "/" {
			p.page(w, r)
			return
		}
		http.NotFound(w, r)
	})
	return mux
}

// originAllowed: browsers always send Origin on a websocket; a page on
// another site must not open a console with the user's token (OpenStack
// advisory OSSA-2015-010, cross-site websocket hijacking). Clients that
// are not browsers send none and cannot be fooled into sending a token.
func (p *Proxy) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if p.origins[strings.ToLower(u.Scheme+"://"+u.Host)] {
		return true
	}
	// The proxy's own page: same host and port the request came to.
	return strings.EqualFold(u.Host, r.Host)
}

func (p *Proxy) websocket(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	log := p.cfg.Log.With("remote", r.RemoteAddr)
	// A refused handshake ends the connection, as websockify does: a
	// client that reads on after the refusal (tempest's bad-token test)
	// sees it closed instead of waiting on a kept-alive connection. The
	// upgrade itself writes its own headers, so this touches only refusals.
	w.Header().Set("Connection", "close")
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, i18n.T(ctx, "console.error.not_websocket"), http.StatusBadRequest)
		return
	}
	if !p.originAllowed(r) {
		log.Warn("console refused: origin not allowed", "origin", r.Header.Get("Origin"))
		http.Error(w, i18n.T(ctx, "console.error.origin"), http.StatusForbidden)
		return
	}
	target, lease, ok := p.admit(w, r, log)
	if !ok {
		return
	}
	// uncount gives the console's places under the caps back; it runs
	// before the session is forgotten, so once Sessions no longer counts
	// it another console may take its place.
	uncount := func() {
		p.leases.Release(lease)
		p.open.Add(-1)
	}
	log = log.With("instance_id", target.InstanceID, "user_id", target.UserID)
	tcp, ok := p.dial(w, r, log, target)
	if !ok {
		uncount()
		return
	}
	ws, err := p.upgrader.Upgrade(w, r, nil)
	if err != nil {
		tcp.Close()
		uncount()
		return // the upgrader has answered
	}
	s := console.NewSession(target, ws, tcp, console.Options{Idle: p.cfg.Idle, Lifetime: p.cfg.Lifetime,
		WriteTimeout: p.cfg.WriteTimeout, MaxMessage: p.cfg.MaxMessage})
	remove := p.cfg.Sessions.Add(s)
	p.wg.Add(1)
	defer p.wg.Done()
	go p.leases.Keep(lease, s.Done())
	// Access revoked while this connect was under way: its notice may
	// have gone out before the session was registered to hear it.
	if revoked, err := p.cfg.Tokens.Revoked(context.WithoutCancel(ctx), target); err != nil {
		log.Warn("console: read revocations", "error", err)
	} else if revoked {
		s.Close(console.ReasonAccess)
	}
	log.Info("console session opened")
	s.Run(p.ctx)
	uncount()
	remove()
	log.Info("console session closed", "reason", s.Reason())
}

// admit checks the caps and takes the token: the proxy's own cap first
// (it guards this process, before any Redis work; connects under way
// count too), then the user's and the instance's, then the token is used.
// The token is read before the caps and used after them, so a console
// refused for a cap leaves its token good for a retry. When it answers
// the client itself it returns false and holds nothing.
func (p *Proxy) admit(w http.ResponseWriter, r *http.Request, log *slog.Logger) (console.Target, *console.Lease, bool) {
	ctx := r.Context()
	if n := p.open.Add(1); p.cfg.Limits.PerProxy > 0 && n > int64(p.cfg.Limits.PerProxy) {
		p.open.Add(-1)
		log.Warn("console refused: proxy at its cap", "max", p.cfg.Limits.PerProxy)
		p.tooMany(w, r, &console.Refusal{Cap: "proxy", Max: p.cfg.Limits.PerProxy})
		return console.Target{}, nil, false
	}
	token := r.URL.Query().Get("token")
	target, err := p.cfg.Tokens.Peek(ctx, token)
	if p.tokenRefused(w, r, log, err) {
		p.open.Add(-1)
		return console.Target{}, nil, false
	}
	lease, err := p.leases.Acquire(ctx, target, p.cfg.Limits)
	if err != nil {
		p.open.Add(-1)
		if errors.Is(err, console.ErrTooMany) {
			log.Warn("console refused: too many open consoles", "instance_id", target.InstanceID, "user_id", target.UserID, "error", err)
			p.tooMany(w, r, err)
		} else {
			log.Error("console: count open consoles", "error", err)
			http.Error(w, i18n.T(ctx, "console.error.unavailable"), http.StatusServiceUnavailable)
		}
		return console.Target{}, nil, false
	}
	target, err = p.cfg.Tokens.Redeem(ctx, token)
	if p.tokenRefused(w, r, log, err) {
		p.leases.Release(lease)
		p.open.Add(-1)
		return console.Target{}, nil, false
	}
	return target, lease, true
}

// tokenRefused answers for a token that cannot open a console (403) or
// could not be read (503); false when err is nil.
func (p *Proxy) tokenRefused(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, console.ErrInvalidToken):
		http.Error(w, i18n.T(r.Context(), "console.error.token"), http.StatusForbidden)
	default:
		log.Error("console token", "error", err)
		http.Error(w, i18n.T(r.Context(), "console.error.unavailable"), http.StatusServiceUnavailable)
	}
	return true
}

// dial confirms the token's address (when Verify is set) and connects to
// it, answering the client itself when it cannot.
func (p *Proxy) dial(w http.ResponseWriter, r *http.Request, log *slog.Logger, target console.Target) (net.Conn, bool) {
	if p.cfg.Verify != nil {
		if err := p.cfg.Verify(r.Context(), target); errors.Is(err, console.ErrStaleTarget) {
			log.Warn("console refused: address no longer the instance's", "addr", target.Addr, "error", err)
			http.Error(w, i18n.T(r.Context(), "console.error.moved"), http.StatusForbidden)
			return nil, false
		} else if err != nil {
			log.Warn("console: could not confirm the VNC port with the host", "error", err)
			http.Error(w, i18n.T(r.Context(), "console.error.unreachable"), http.StatusBadGateway)
			return nil, false
		}
	}
	// Only the address bound to the token: never one the client names.
	tcp, err := net.DialTimeout("tcp", target.Addr, p.cfg.DialTimeout)
	if err != nil {
		log.Warn("console: VNC server unreachable", "addr", target.Addr, "error", err)
		http.Error(w, i18n.T(r.Context(), "console.error.unreachable"), http.StatusBadGateway)
		return nil, false
	}
	return tcp, true
}

// tooMany answers 429 for a cap, in the catalogue's words.
func (p *Proxy) tooMany(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Retry-After", "10")
	http.Error(w, tooManyMessage(r.Context(), err), http.StatusTooManyRequests)
}

func tooManyMessage(ctx context.Context, err error) string {
	var ref *console.Refusal
	if !errors.As(err, &ref) {
		return i18n.T(ctx, "console.error.unavailable")
	}
	return i18n.T(ctx, "console.error.too_many_"+ref.Cap, ref.Max)
}

// check answers whether a token could still open a console, without
// using it, so the page can say why instead of failing to connect.
func (p *Proxy) check(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	target, err := p.cfg.Tokens.Peek(ctx, r.URL.Query().Get("token"))
	if limit := p.cfg.Limits.PerProxy; err == nil && limit > 0 && p.open.Load() >= int64(limit) {
		err = &console.Refusal{Cap: "proxy", Max: limit}
	}
	if err == nil {
		err = p.leases.Check(ctx, target, p.cfg.Limits)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	res := map[string]any{"valid": err == nil}
	switch {
	case err == nil:
	case errors.Is(err, console.ErrInvalidToken):
		res["message"] = i18n.T(ctx, "console.error.token")
	case errors.Is(err, console.ErrTooMany):
		res["message"] = tooManyMessage(ctx, err)
	default:
		res["message"] = i18n.T(ctx, "console.error.unavailable")
	}
	_ = json.NewEncoder(w).Encode(res)
}

// pageCSP is the console page's Content-Security-Policy: scripts, styles
// and images from the proxy itself only (noVNC is served from the binary),
// no plugins, forms or <base>, framed only by its own origin, and
// connections to the proxy's own websocket. 'self' covers ws(s) to the
// same host in current browsers; the public ws(s) URL is named too for
// those that do not, and for a proxy reached under another name.
// noVNC sets styles from script and draws the cursor from data: URLs.
func pageCSP(publicURL string) string {
	connect := "'self'"
	if ws := console.WebsocketBase(publicURL); ws != "" {
		connect += " " + ws
	}
	return "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
		"connect-src " + connect + "; frame-ancestors 'self'; form-action 'none'; base-uri 'none'; object-src 'none'"
}

// page is the console page for URLs handed out by the API: noVNC with
// the token taken from "path" (Nova's form) or "token".
func (p *Proxy) page(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	token := q.Get("token")
	if path := q.Get("path"); path != "" && token == "" {
		if u, err := url.Parse(path); err == nil {
			token = u.Query().Get("token")
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the token is in the URL
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", p.csp)
	templ.Handler(views.ConsolePage(views.ConsoleView{
		Token:    token,
		CheckURL: "/check?token=" + url.QueryEscape(token),
		WSPath:   "/websockify?token=" + url.QueryEscape(token),
	})).ServeHTTP(w, r)
}
