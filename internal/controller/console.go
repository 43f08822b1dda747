package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"

	consoleproxy "github.com/nimbus-cloud/nimbus/handlers/console"
	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/console"
)

// consoleProxy is the console port: the proxy and its HTTP server.
type consoleProxy struct {
	proxy  *consoleproxy.Proxy
	server *http.Server
	done   chan struct{}
}

// startConsoleProxy serves the console proxy on ln until stop, closing
// the sessions of revoked instances and of ended access (a user disabled,
// a password changed, a role removed, a sign-out) as they are published.
func startConsoleProxy(ctx context.Context, cfg *config.Config, tokens *console.Tokens, ln net.Listener, log *slog.Logger) *consoleProxy {
	log = log.With("component", "console-proxy")
	pc := consoleproxy.Config{Tokens: tokens, Origins: consoleOrigins(cfg), Idle: cfg.ConsoleIdle, Log: log,
		Lifetime: cfg.ConsoleMaxLifetime, WriteTimeout: cfg.ConsoleWriteTimeout, PublicURL: cfg.ConsolePublicURL,
		Limits: console.Limits{PerUser: cfg.ConsoleMaxPerUser, PerInstance: cfg.ConsoleMaxPerInstance,
			PerProxy: cfg.ConsoleMaxPerProxy}}
	if cfg.ConsoleVerifyPort {
		pc.Verify = (&console.PortCheck{RDB: tokens.RDB, Prefix: cfg.RedisPrefix}).Verify
	}
	p := consoleproxy.New(pc)
	cp := &consoleProxy{proxy: p, done: make(chan struct{}),
		server: &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	watchCtx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(cp.done)
		defer cancel()
		if err := cp.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("console proxy", "error", err)
		}
	}()
	go p.Sessions().WatchRevoked(watchCtx, tokens, nil)
	return cp
}

// stop closes the listener and every open session.
func (cp *consoleProxy) stop() {
	_ = cp.server.Close() // hijacked websockets are not the server's to close
	cp.proxy.Close()
	<-cp.done
}

// consoleOrigins are the Origins whose pages may open consoles: the
// portal's, the proxy's public one, and any configured.
func consoleOrigins(cfg *config.Config) []string {
	var out []string
	for _, u := range append([]string{cfg.PublicURL, cfg.ConsolePublicURL}, cfg.ConsoleOrigins...) {
		if p, err := url.Parse(u); err == nil && p.Host != "" {
			out = append(out, p.Scheme+"://"+p.Host)
		}
	}
	return out
}

// runConsoleOnly runs the console proxy alone (-console-only): it needs
// Redis, where the tokens are, and nothing else.
func runConsoleOnly(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
	if cfg.ConsoleListen == "" {
		return errors.New("console-only needs a console listen address (NIMBUS_CONSOLE_LISTEN)")
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("redis URL: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.ConsoleListen)
	if err != nil {
		return err
	}
	tokens := &console.Tokens{RDB: rdb, Prefix: cfg.RedisPrefix, TTL: cfg.ConsoleTokenTTL}
	cp := startConsoleProxy(ctx, cfg, tokens, ln, log)
	fmt.Fprintf(out, "Nimbus console proxy on http://%s (only the proxy runs here)\n", ln.Addr())
	<-ctx.Done()
	cp.stop()
	return nil
}
