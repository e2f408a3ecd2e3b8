package harness

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// Gate is a TCP forwarder between luaproxy and its upstream that a test
// can close and reopen on the same address: Cut makes the upstream look
// dead (connections drop, new ones are refused), Open brings it back,
// possibly in front of a different redis-server.
type Gate struct {
	tb     testing.TB
	addr   string
	mu     sync.Mutex
	target string
	ln     net.Listener
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// NewGate listens on a free 127.0.0.1 port and forwards to target. It is
// closed when the test ends.
func NewGate(tb testing.TB, target string) *Gate {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("gate: %v", err)
	}
	g := &Gate{tb: tb, addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	g.start(ln)
	tb.Cleanup(func() {
		g.Cut()
		g.wg.Wait()
	})
	return g
}

// Addr is the gate's address, which luaproxy uses as its upstream.
func (g *Gate) Addr() string { return g.addr }

// Cut closes the listener and every forwarded connection.
func (g *Gate) Cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		c.Close()
	}
}

// Open listens again on the same address, forwarding to target (empty
// keeps the previous one).
func (g *Gate) Open(target string) {
	g.tb.Helper()
	g.mu.Lock()
	if target != "" {
		g.target = target
	}
	g.mu.Unlock()
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		g.tb.Fatalf("gate: listen again on %s: %v", g.addr, err)
	}
	g.start(ln)
}

func (g *Gate) start(ln net.Listener) {
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				g.forward(c)
			}()
		}
	}()
}

func (g *Gate) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln == nil {
		c.Close()
		return false
	}
	g.conns[c] = struct{}{}
	return true
}

func (g *Gate) untrack(c net.Conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	c.Close()
}

func (g *Gate) forward(c net.Conn) {
	if !g.track(c) {
		return
	}
	defer g.untrack(c)
	g.mu.Lock()
	target := g.target
	g.mu.Unlock()
	u, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	if !g.track(u) {
		return
	}
	defer g.untrack(u)
	done := make(chan struct{})
	go func() {
		copyHalf(u, c)
		close(done)
	}()
	copyHalf(c, u)
	<-done
}

func copyHalf(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil && !errors.Is(err, net.ErrClosed) {
		src.Close()
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
