package proxy

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// maxFunctionLabels bounds the distinct function names the per-run
// metrics carry; calls of functions beyond it are counted under "other",
// so that loading many libraries cannot grow the metrics without end.
const maxFunctionLabels = 256

// functionMetrics are Functions' series: the per-run series of functions
// (run_metrics.go) and calls of functions that are not loaded.
type functionMetrics struct {
	labels   *runLabels
	notFound prometheus.Counter
}

func newFunctionMetrics(reg prometheus.Registerer) (*functionMetrics, error) {
	runs, err := newRunMetrics(reg)
	if err != nil {
		return nil, err
	}
	m := &functionMetrics{
		labels: newRunLabels(runs, runTypeFunction, maxFunctionLabels),
		notFound: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "luaproxy_function_not_found_total",
			Help: "FCALL and FCALL_RO calls of a function that is not loaded.",
		}),
	}
	if reg != nil {
		if err := reg.Register(m.notFound); err != nil {
			return nil, fmt.Errorf("register function metrics: %w", err)
		}
	}
	return m, nil
}

// observe records one call of the function name.
func (m *functionMetrics) observe(name string, reply []byte, elapsed time.Duration, calls int, lockWait time.Duration) {
	m.labels.get(name).observe(reply, elapsed, calls, lockWait)
}
