package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the proxy's own series, kept on a per-Server registry.
type metrics struct {
	reg              *prometheus.Registry
	clients          prometheus.Gauge
	clientsTotal     prometheus.Counter
	passthrough      prometheus.Counter
	script           prometheus.Counter
	upstreamErrors   *prometheus.CounterVec
	dialSeconds      prometheus.Histogram
	upstreamUp       prometheus.Gauge
	busyReplies      prometheus.Counter
	escalatedScripts prometheus.Counter
	lockWait         *prometheus.HistogramVec // by who waited: command, script, function
	rtt              *rttMetrics
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.clients = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "luaproxy_client_connections", Help: "Client connections currently open."})
	m.clientsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "luaproxy_client_connections_total", Help: "Client connections accepted."})
	commands := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "luaproxy_commands_total", Help: "Commands received, by who answered them."}, []string{"route"})
	m.passthrough = commands.WithLabelValues("passthrough")
	m.script = commands.WithLabelValues("script")
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "luaproxy_upstream_errors_total", Help: "Upstream failures by kind (dial, io, auth)."}, []string{"kind"})
	for _, k := range []string{"dial", "io", "auth"} {
		m.upstreamErrors.WithLabelValues(k)
	}
	m.dialSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "luaproxy_upstream_dial_seconds", Help: "Time to open an upstream connection.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)})
	m.upstreamUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "luaproxy_upstream_up", Help: "1 if the last upstream dial succeeded."})
	m.busyReplies = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "luaproxy_busy_replies_total", Help: "Commands answered -BUSY because a script holding their keys ran past busy-reply-threshold."})
	m.lockWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "luaproxy_lock_wait_seconds", Help: "Time spent waiting for shard locks, when not granted at once, by who waited.",
		Buckets: prometheus.ExponentialBuckets(0.00001, 4, 12)}, []string{"waiter"})
	m.reg.MustRegister(m.clients, m.clientsTotal, commands, m.upstreamErrors, m.dialSeconds, m.upstreamUp,
		m.busyReplies, m.lockWait,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.rtt = newRTTMetrics(m.reg)
	return m
}

// registerLocks adds the lock manager's series.
func (m *metrics) registerLocks(lm *lockManager, global *sync.Map) {
	m.escalatedScripts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "luaproxy_lock_escalated_scripts_total",
		Help: "Scripts and functions found touching keys they do not declare; their later runs lock the whole keyspace."})
	escalations := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "luaproxy_lock_escalations_total",
		Help: "Times a running script took a lock on a key it had not declared."},
		func() float64 { return float64(lm.escalations.Load()) })
	globals := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "luaproxy_lock_global_scripts",
		Help: "Scripts and functions that lock the whole keyspace (configured or learnt)."},
		func() float64 {
			n := 0
			global.Range(func(any, any) bool { n++; return true })
			return float64(n)
		})
	m.reg.MustRegister(m.escalatedScripts, escalations, globals)
}

// Registry returns the Server's own Prometheus registry, which /metrics
// serves; other packages register their metrics on it.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// readiness remembers the last time the upstream was seen working, so
// that /readyz does not dial on every probe.
type readiness struct {
	mu     sync.Mutex
	lastOK time.Time
}

// readyFresh is how long a successful dial vouches for the upstream.
const readyFresh = time.Second

func (r *readiness) succeeded() {
	r.mu.Lock()
	r.lastOK = time.Now()
	r.mu.Unlock()
}

func (r *readiness) recent() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.lastOK.IsZero() && time.Since(r.lastOK) < readyFresh
}

// AdminHandler serves GET /healthz (200 while the server runs), /readyz
// (200 only if the upstream answers PING, 503 with the reason otherwise)
// and /metrics.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if s.closing.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.closing.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		if err := s.checkUpstream(); err != nil {
			http.Error(w, "upstream unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}

// checkUpstream dials the upstream and PINGs it, unless that succeeded
// very recently.
func (s *Server) checkUpstream() error {
	if s.ready.recent() {
		return nil
	}
	reply, err := s.doOnce([][]byte{[]byte("PING")})
	if err != nil {
		s.metrics.upstreamUp.Set(0)
		return err
	}
	// NOAUTH still proves the upstream answers: clients authenticate themselves.
	if len(reply) == 0 || reply[0] == '-' && !bytes.HasPrefix(reply, []byte("-NOAUTH")) {
		s.metrics.upstreamUp.Set(0)
		return fmt.Errorf("PING: %s", sanitize(reply))
	}
	s.ready.succeeded()
	return nil
}

func newBufioReader(r io.Reader, size int) *bufio.Reader { return bufio.NewReaderSize(r, size) }
