package proxy

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/redistest"
)

// testProxy is a Server listening on a free port.
type testProxy struct {
	*Server
	Addr string
	done chan error
}

// startProxy starts a Server in front of upstream (an address or a URL).
func startProxy(tb testing.TB, upstream string, h Handler, edit ...func(*config.Config)) *testProxy {
	tb.Helper()
	cfg := config.Default()
	if len(upstream) > 0 && upstream[0] != 'r' {
		upstream = "redis://" + upstream
	}
	cfg.Upstream = upstream
	cfg.UpstreamDialTimeout = 2 * time.Second
	cfg.DrainTimeout = 5 * time.Second
	for _, f := range edit {
		f(&cfg)
	}
	srv, err := New(cfg, zaptest.NewLogger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	if h != nil {
		srv.SetHandler(h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &testProxy{Server: srv, Addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { p.done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-p.done; !errors.Is(err, ErrServerClosed) {
			tb.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return p
}

func (p *testProxy) dial(tb testing.TB) *redistest.Conn { return redistest.Dial(tb, p.Addr) }

// rawConn is a client that writes raw bytes.
func rawDial(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}
