package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/proxy"
	"github.com/luaproxy/luaproxy/registry"
)

// activeStandby runs the proxy in active/standby mode (cfg.LeaseKey set):
// the client listener is open only while this process holds the lease in
// the upstream. A standby keeps its admin server up, answers /healthz and
// reports not ready, so that orchestrators send it no traffic, and clients
// that try anyway are refused. When the lease is lost the process closes
// the listener and every client connection at once, without a drain,
// because another instance may start serving within TTL/6.
type activeStandby struct {
	lease  *registry.Lease
	srv    *proxy.Server
	key    string
	listen string
	log    *zap.Logger

	cancel    context.CancelFunc // stops acquiring
	releasing chan struct{}      // closed by release
	done      chan struct{}      // closed when run returns

	mu   sync.Mutex
	term *registry.LeaseTerm // the term being served; nil while standing by
	ln   *trackingListener   // its listener
}

// newActiveStandby prepares the lease; start begins the election.
func newActiveStandby(cfg config.Config, up config.Upstream, srv *proxy.Server, log *zap.Logger) (*activeStandby, error) {
	db := cfg.RegistryDB
	if db < 0 {
		db = up.DB
	}
	llog := log.Named("lease")
	opt := upstreamOptions(cfg, up, srv, db)
	opt.OnError = func(err error) { llog.Warn("lease", zap.Error(err)) }
	lease, err := registry.NewLease(registry.LeaseOptions{Options: opt, Key: cfg.LeaseKey, TTL: cfg.LeaseTTL})
	if err != nil {
		return nil, fmt.Errorf("active/standby: %w", err)
	}
	a := &activeStandby{
		lease:     lease,
		srv:       srv,
		key:       cfg.LeaseKey,
		listen:    cfg.Listen,
		log:       llog,
		releasing: make(chan struct{}),
		done:      make(chan struct{}),
	}
	srv.Registry().MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "luaproxy_lease_active",
			Help: "1 while this instance holds the active/standby lease and serves clients.",
		}, func() float64 {
			if a.serving() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "luaproxy_lease_epoch",
			Help: "Fencing epoch of the lease holder as last seen (this instance's own while active).",
		}, func() float64 { return float64(lease.Status().Epoch) }),
	)
	return a, nil
}

// start runs the election in the background; unexpected failures of the
// client listener go to errc.
func (a *activeStandby) start(errc chan<- error) {
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.log.Info("standby: waiting for the lease",
		zap.String("key", a.key), zap.String("holder", a.lease.Holder()),
		zap.Duration("ttl", a.lease.TTL()))
	go a.run(ctx, errc)
}

// run alternates between standing by and serving until ctx ends. A term
// held when ctx ends stays held, and is watched, until release.
func (a *activeStandby) run(ctx context.Context, errc chan<- error) {
	defer close(a.done)
	for {
		term, err := a.lease.Acquire(ctx)
		if err != nil {
			return // ctx ended
		}
		ln, err := net.Listen("tcp", a.listen)
		if err != nil {
			rctx, cancel := context.WithTimeout(context.Background(), a.lease.TTL())
			_ = term.Release(rctx)
			cancel()
			errc <- fmt.Errorf("listen: %w", err)
			return
		}
		tl := newTrackingListener(ln)
		a.mu.Lock()
		a.term, a.ln = term, tl
		a.mu.Unlock()
		a.log.Info("lease acquired: serving",
			zap.Int64("epoch", term.Epoch()), zap.String("listen", ln.Addr().String()),
			zap.Duration("grace", term.Grace()))
		served := make(chan error, 1)
		go func() { served <- a.srv.Serve(tl) }()
		select {
		case <-term.Lost():
			a.drop(term)
			<-served // the listener is closed: Serve has returned or will
		case err := <-served:
			if !errors.Is(err, proxy.ErrServerClosed) {
				errc <- fmt.Errorf("serve: %w", err)
			}
			a.hold(term)
			return
		case <-ctx.Done():
			a.hold(term)
			return
		}
	}
}

// hold keeps watching term while the server drains, until release.
func (a *activeStandby) hold(term *registry.LeaseTerm) {
	select {
	case <-term.Lost():
		a.drop(term)
	case <-a.releasing:
	}
}

// drop stops serving term at once: no new connections, and every client
// connection closed without waiting for its requests.
func (a *activeStandby) drop(term *registry.LeaseTerm) {
	a.mu.Lock()
	tl := a.ln
	a.term, a.ln = nil, nil
	a.mu.Unlock()
	n := 0
	if tl != nil {
		n = tl.closeAll()
	}
	a.log.Error("lease lost: stopped serving and closed every client connection; standing by",
		zap.Int64("epoch", term.Epoch()), zap.Error(term.Err()), zap.Int("clients_closed", n))
}

// stop stops acquiring; a term being served stays held until release.
func (a *activeStandby) stop() {
	if a.cancel != nil {
		a.cancel()
	}
}

// release gives up the lease, once the server has drained, so that a
// standby can take over at once, and closes the lease's connections.
func (a *activeStandby) release(timeout time.Duration) error {
	a.stop()
	close(a.releasing)
	if a.cancel != nil {
		<-a.done
	}
	a.mu.Lock()
	term := a.term
	a.term, a.ln = nil, nil
	a.mu.Unlock()
	var err error
	if term != nil {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err = term.Release(ctx)
		cancel()
		if err == nil {
			a.log.Info("lease released", zap.Int64("epoch", term.Epoch()))
		}
	}
	if cerr := a.lease.Close(); err == nil {
		err = cerr
	}
	return err
}

// serving reports whether this process holds the lease and serves.
func (a *activeStandby) serving() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.term != nil
}

// standbyReason says why the process does not serve, "" when it does.
func (a *activeStandby) standbyReason() string {
	if a.serving() {
		return ""
	}
	st := a.lease.Status()
	switch {
	case !st.GraceUntil.IsZero():
		return fmt.Sprintf("standby: lease acquired (epoch %d), waiting %v for any holder from before a wipe to stop",
			st.Epoch, time.Until(st.GraceUntil).Round(time.Millisecond))
	case st.Holder == "":
		return "standby: lease free, acquiring"
	case st.Holder == a.lease.Holder():
		return "standby: lease lost, acquiring again"
	}
	return "standby: lease held by " + st.Holder
}

// adminHandler wraps the proxy's admin handler: /readyz answers 503 with
// the reason while standing by, and the proxy's own check while serving.
func (a *activeStandby) adminHandler(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if reason := a.standbyReason(); reason != "" {
			http.Error(w, reason, http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
	return mux
}

// trackingListener remembers the connections it accepted so that they
// can all be closed when the lease is lost.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{}
}

func newTrackingListener(ln net.Listener) *trackingListener {
	return &trackingListener{Listener: ln, conns: make(map[*trackedConn]struct{})}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

// closeAll closes the listener and every connection it accepted; it
// returns how many connections were open.
func (l *trackingListener) closeAll() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	_ = l.Listener.Close()
	n := len(l.conns)
	for c := range l.conns {
		_ = c.Conn.Close()
	}
	clear(l.conns)
	return n
}

// trackedConn leaves its listener's set when closed.
type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
