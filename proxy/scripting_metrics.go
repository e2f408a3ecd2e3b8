package proxy

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scriptMetrics are Scripting's series. The per-script counter is resolved
// once per cached script, so a run costs a few atomic adds.
type scriptMetrics struct {
	runs     *prometheus.CounterVec
	errors   prometheus.Counter
	duration prometheus.Histogram
	calls    prometheus.Histogram

	mu      sync.Mutex
	maxSHAs int
	shas    map[string]prometheus.Counter
	other   prometheus.Counter
}

func newScriptMetrics(reg prometheus.Registerer, maxSHAs int) *scriptMetrics {
	if maxSHAs <= 0 {
		maxSHAs = 100
	}
	m := &scriptMetrics{maxSHAs: maxSHAs, shas: make(map[string]prometheus.Counter)}
	m.runs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "luaproxy_scripts_total",
		Help: "Script runs (EVAL, EVALSHA and _RO forms) by SHA1; scripts past the first few share sha=\"other\"."},
		[]string{"sha"})
	m.other = m.runs.WithLabelValues("other")
	m.errors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "luaproxy_script_errors_total", Help: "Script runs whose reply was an error."})
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "luaproxy_script_duration_seconds", Help: "Time to run a script, its redis.call round trips included.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10)})
	m.calls = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "luaproxy_script_calls", Help: "Commands a script run sent to Redis (redis.call and redis.pcall).",
		Buckets: []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 1024}})
	if reg != nil {
		reg.MustRegister(m.runs, m.errors, m.duration, m.calls)
	}
	return m
}

// counterFor returns the run counter for a script, labelled with its SHA1
// while there is room.
func (m *scriptMetrics) counterFor(sha string) prometheus.Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.shas[sha]; ok {
		return c
	}
	if len(m.shas) >= m.maxSHAs {
		return m.other
	}
	c := m.runs.WithLabelValues(sha)
	m.shas[sha] = c
	return c
}

// observe records one run of e (which may not be cached: a script that did
// not compile).
func (m *scriptMetrics) observe(e *cachedScript, reply []byte, elapsed time.Duration, calls int) {
	if e.runs != nil {
		e.runs.Inc()
	} else {
		m.other.Inc()
	}
	if len(reply) > 0 && reply[0] == '-' {
		m.errors.Inc()
	}
	m.duration.Observe(elapsed.Seconds())
	m.calls.Observe(float64(calls))
}
