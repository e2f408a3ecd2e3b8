package proxy

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// maxFunctionLabels bounds the distinct function names the per-function
// metrics carry; calls of functions beyond it are counted under "other",
// so that loading many libraries cannot grow the metrics without end.
const maxFunctionLabels = 256

// functionMetrics counts FCALLs per function.
type functionMetrics struct {
	calls    *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	notFound prometheus.Counter

	labels  sync.Map // function name -> struct{}: names with a label
	nLabels atomic.Int32
}

func newFunctionMetrics(reg prometheus.Registerer) (*functionMetrics, error) {
	m := &functionMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "luaproxy_function_calls_total",
			Help: "FCALL and FCALL_RO calls of loaded functions, by function.",
		}, []string{"function"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "luaproxy_function_errors_total",
			Help: "FCALL and FCALL_RO calls that returned an error reply, by function.",
		}, []string{"function"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "luaproxy_function_duration_seconds",
			Help:    "Time FCALL and FCALL_RO took, by function.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10),
		}, []string{"function"}),
		notFound: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "luaproxy_function_not_found_total",
			Help: "FCALL and FCALL_RO calls of a function that is not loaded.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.calls, m.errors, m.duration, m.notFound} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register function metrics: %w", err)
			}
		}
	}
	return m, nil
}

// label returns the metric label for a function name.
func (m *functionMetrics) label(name string) string {
	if _, ok := m.labels.Load(name); ok {
		return name
	}
	if m.nLabels.Add(1) > maxFunctionLabels {
		m.nLabels.Add(-1)
		return "other"
	}
	if _, loaded := m.labels.LoadOrStore(name, struct{}{}); loaded {
		m.nLabels.Add(-1)
	}
	return name
}

func (m *functionMetrics) observe(name string, d time.Duration, failed bool) {
	l := m.label(name)
	m.calls.WithLabelValues(l).Inc()
	m.duration.WithLabelValues(l).Observe(d.Seconds())
	if failed {
		m.errors.WithLabelValues(l).Inc()
	}
}
