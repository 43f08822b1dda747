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
	Origins     []string
	Idle        time.Duration // close a session with no traffic for this long
	DialTimeout time.Duration // default 5 s
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
	ctx      context.Context // ends every session on shutdown
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// New returns the proxy; Close ends its sessions.
func New(cfg Config) *Proxy {
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Sessions == nil {
		cfg.Sessions = &console.Sessions{}
	}
	p := &Proxy{cfg: cfg, origins: map[string]bool{}}
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
	log := p.cfg.Log.With("remote", r.RemoteAddr)
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, i18n.T(r.Context(), "console.error.not_websocket"), http.StatusBadRequest)
		return
	}
	if !p.originAllowed(r) {
		log.Warn("console refused: origin not allowed", "origin", r.Header.Get("Origin"))
		http.Error(w, i18n.T(r.Context(), "console.error.origin"), http.StatusForbidden)
		return
	}
	target, err := p.cfg.Tokens.Redeem(r.Context(), r.URL.Query().Get("token"))
	if errors.Is(err, console.ErrInvalidToken) {
		http.Error(w, i18n.T(r.Context(), "console.error.token"), http.StatusForbidden)
		return
	}
	if err != nil {
		log.Error("console token", "error", err)
		http.Error(w, i18n.T(r.Context(), "console.error.unavailable"), http.StatusServiceUnavailable)
		return
	}
	log = log.With("instance_id", target.InstanceID)
	if p.cfg.Verify != nil {
		if err := p.cfg.Verify(r.Context(), target); errors.Is(err, console.ErrStaleTarget) {
			log.Warn("console refused: address no longer the instance's", "addr", target.Addr, "error", err)
			http.Error(w, i18n.T(r.Context(), "console.error.moved"), http.StatusForbidden)
			return
		} else if err != nil {
			log.Warn("console: could not confirm the VNC port with the host", "error", err)
			http.Error(w, i18n.T(r.Context(), "console.error.unreachable"), http.StatusBadGateway)
			return
		}
	}
	// Only the address bound to the token: never one the client names.
	tcp, err := net.DialTimeout("tcp", target.Addr, p.cfg.DialTimeout)
	if err != nil {
		log.Warn("console: VNC server unreachable", "addr", target.Addr, "error", err)
		http.Error(w, i18n.T(r.Context(), "console.error.unreachable"), http.StatusBadGateway)
		return
	}
	ws, err := p.upgrader.Upgrade(w, r, nil)
	if err != nil {
		tcp.Close()
		return // the upgrader has answered
	}
	s := console.NewSession(target.InstanceID, ws, tcp)
	remove := p.cfg.Sessions.Add(s)
	p.wg.Add(1)
	defer p.wg.Done()
	defer remove()
	log.Info("console session opened")
	s.Run(p.ctx, p.cfg.Idle)
	log.Info("console session closed", "reason", s.Reason())
}

// check answers whether a token could still open a console, without
// using it, so the page can say why instead of failing to connect.
func (p *Proxy) check(w http.ResponseWriter, r *http.Request) {
	ok, err := p.cfg.Tokens.Valid(r.Context(), r.URL.Query().Get("token"))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	res := map[string]any{"valid": ok && err == nil}
	if err != nil {
		res["message"] = i18n.T(r.Context(), "console.error.unavailable")
	} else if !ok {
		res["message"] = i18n.T(r.Context(), "console.error.token")
	}
	_ = json.NewEncoder(w).Encode(res)
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
	templ.Handler(views.ConsolePage(views.ConsoleView{
		Token:    token,
		CheckURL: "/check?token=" + url.QueryEscape(token),
		WSPath:   "/websockify?token=" + url.QueryEscape(token),
	})).ServeHTTP(w, r)
}
