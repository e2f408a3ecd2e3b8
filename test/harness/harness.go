// Package harness runs luaproxy end to end for tests: a real upstream
// redis-server, luaproxy in-process in front of it, and a second,
// independent redis-server to compare against. Diff sends the same command
// sequence to the direct Redis and through luaproxy and compares the raw
// reply bytes.
package harness

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/proxy"
)

// Harness is one luaproxy in front of one upstream, plus a direct Redis.
type Harness struct {
	// Direct is an independent redis-server with scripting enabled: the
	// reference that luaproxy's replies are compared with.
	Direct *redistest.Server
	// Upstream is the redis-server behind luaproxy. By default it has
	// every scripting command removed, to prove that luaproxy runs
	// scripts itself.
	Upstream *redistest.Server
	// ProxyAddr is where luaproxy accepts clients (127.0.0.1:port).
	ProxyAddr string
	// Proxy is the in-process luaproxy.
	Proxy *proxy.Server
	// AdminURL is the base URL of Proxy.AdminHandler (/healthz, /readyz,
	// /metrics), served by an httptest server.
	AdminURL string
	// Config is the configuration luaproxy was started with.
	Config config.Config
	// Gate is the TCP gate between luaproxy and Upstream if WithGate was
	// given, else nil.
	Gate *Gate

	serverAuth []string
}

type options struct {
	scripting     bool
	upstreamArgs  []string
	directArgs    []string
	configure     []func(*config.Config)
	gate          bool
	noUpstream    bool
	logger        *zap.Logger
	upstreamURL   func(addr string) string
	serverAuth    []string
	serverSetup   [][]string
	handler       proxy.Handler
	drainDeadline time.Duration
}

// Option changes how Start sets things up.
type Option func(*options)

// WithScripting keeps the scripting commands on the upstream.
func WithScripting() Option { return func(o *options) { o.scripting = true } }

// WithUpstreamArgs adds redis-server arguments to the upstream, such as
// "--requirepass", "secret".
func WithUpstreamArgs(args ...string) Option {
	return func(o *options) { o.upstreamArgs = append(o.upstreamArgs, args...) }
}

// WithDirectArgs adds redis-server arguments to the direct server; tests of
// AUTH give both servers the same users.
func WithDirectArgs(args ...string) Option {
	return func(o *options) { o.directArgs = append(o.directArgs, args...) }
}

// WithUpstreamURL builds the proxy's upstream URL from the address it
// should reach the upstream at, e.g. to add credentials:
// func(a string) string { return "redis://:secret@" + a }.
func WithUpstreamURL(f func(addr string) string) Option {
	return func(o *options) { o.upstreamURL = f }
}

// WithServerAuth gives the AUTH arguments (password, or user and
// password) that the harness's own control connections to the direct
// server and the upstream send first, for servers started with
// requirepass or ACL users.
func WithServerAuth(args ...string) Option {
	return func(o *options) { o.serverAuth = args }
}

// WithServerSetup sends commands to the direct server and to the upstream
// right after they start, before luaproxy does: CONFIG SET requirepass,
// ACL SETUSER. (Servers cannot start with requirepass, since the readiness
// check of redistest pings without AUTH.) Every reply must be +OK.
func WithServerSetup(cmds ...[]string) Option {
	return func(o *options) { o.serverSetup = append(o.serverSetup, cmds...) }
}

// WithConfig edits luaproxy's configuration after the harness filled in
// the listen and upstream addresses.
func WithConfig(f func(*config.Config)) Option {
	return func(o *options) { o.configure = append(o.configure, f) }
}

// WithGate puts a Gate between luaproxy and the upstream, so that tests
// can cut the upstream off and bring it back on the same address.
func WithGate() Option { return func(o *options) { o.gate = true } }

// WithoutUpstream points luaproxy at an address where nothing listens.
// Harness.Upstream is nil.
func WithoutUpstream() Option { return func(o *options) { o.noUpstream = true } }

// WithHandler installs h as luaproxy's Handler before it serves.
func WithHandler(h proxy.Handler) Option { return func(o *options) { o.handler = h } }

// WithLogger gives luaproxy a logger. By default it logs nothing, unless
// LUAPROXY_TEST_LOG is set, which logs to the test at debug level.
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.logger = l } }

// Start starts the servers and luaproxy and stops them all when the test
// ends.
func Start(tb testing.TB, opts ...Option) *Harness {
	tb.Helper()
	o := options{drainDeadline: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	h := &Harness{serverAuth: o.serverAuth}
	h.Direct = redistest.Start(tb, o.directArgs...)

	var upstreamAddr string
	if o.noUpstream {
		port, err := redistest.FreePort()
		if err != nil {
			tb.Fatal(err)
		}
		upstreamAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	} else {
		args := append([]string(nil), o.upstreamArgs...)
		if !o.scripting {
			args = append(args, redistest.ScriptingDisabledArgs()...)
		}
		h.Upstream = redistest.Start(tb, args...)
		upstreamAddr = h.Upstream.Addr
	}
	for _, s := range []*redistest.Server{h.Direct, h.Upstream} {
		if s == nil || len(o.serverSetup) == 0 {
			continue
		}
		c := s.Dial(tb)
		for _, cmd := range o.serverSetup {
			if got := c.MustDo(tb, cmd...); string(got) != "+OK\r\n" {
				tb.Fatalf("server setup %q on %s: %q", cmd, s.Addr, got)
			}
		}
		c.NetConn().Close()
	}
	if o.gate {
		h.Gate = NewGate(tb, upstreamAddr)
		upstreamAddr = h.Gate.Addr()
	}

	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminListen = ""
	cfg.Upstream = "redis://" + upstreamAddr
	if o.upstreamURL != nil {
		cfg.Upstream = o.upstreamURL(upstreamAddr)
	}
	cfg.UpstreamDialTimeout = 2 * time.Second
	cfg.DrainTimeout = o.drainDeadline
	for _, f := range o.configure {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatalf("harness config: %v", err)
	}
	h.Config = cfg

	log := o.logger
	if log == nil {
		log = zap.NewNop()
		if os.Getenv("LUAPROXY_TEST_LOG") != "" {
			log = zaptest.NewLogger(tb)
		}
	}
	srv, err := proxy.New(cfg, log)
	if err != nil {
		tb.Fatalf("proxy.New: %v", err)
	}
	if o.handler != nil {
		srv.SetHandler(o.handler)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	h.Proxy = srv
	h.ProxyAddr = ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	admin := httptest.NewServer(srv.AdminHandler())
	h.AdminURL = admin.URL

	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), o.drainDeadline)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("proxy shutdown: %v", err)
		}
		select {
		case err := <-served:
			if err != nil && !errors.Is(err, proxy.ErrServerClosed) {
				tb.Errorf("proxy Serve: %v", err)
			}
		case <-time.After(o.drainDeadline):
			tb.Errorf("proxy Serve did not return after Shutdown")
		}
		admin.Close()
	})
	return h
}

// DialProxy opens a raw connection to luaproxy.
func (h *Harness) DialProxy(tb testing.TB) *redistest.Conn { return redistest.Dial(tb, h.ProxyAddr) }

// FlushAll empties the direct server and the upstream, bypassing luaproxy.
func (h *Harness) FlushAll(tb testing.TB) {
	tb.Helper()
	for _, s := range []*redistest.Server{h.Direct, h.Upstream} {
		if s == nil {
			continue
		}
		c := h.Control(tb, s)
		if got := c.MustDo(tb, "FLUSHALL"); string(got) != "+OK\r\n" {
			tb.Fatalf("FLUSHALL on %s: %q", s.Addr, got)
		}
		c.NetConn().Close()
	}
}

// Control opens a connection straight to s (Direct or Upstream), already
// authenticated if WithServerAuth was given.
func (h *Harness) Control(tb testing.TB, s *redistest.Server) *redistest.Conn {
	tb.Helper()
	c := s.Dial(tb)
	if len(h.serverAuth) > 0 {
		args := append([]string{"AUTH"}, h.serverAuth...)
		if got := c.MustDo(tb, args...); string(got) != "+OK\r\n" {
			tb.Fatalf("AUTH on %s: %q", s.Addr, got)
		}
	}
	return c
}
