package proxy

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scriptMetrics are Scripting's series: the per-run series of scripts
// (run_metrics.go), resolved once per cached script, and the script
// cache's size and evictions.
type scriptMetrics struct {
	labels *runLabels
	cache  atomic.Pointer[scriptCache] // set by newScriptCache
}

func newScriptMetrics(reg prometheus.Registerer, maxSHAs int) *scriptMetrics {
	if maxSHAs <= 0 {
		maxSHAs = 100
	}
	runs, err := newRunMetrics(reg)
	if err != nil {
		panic("luaproxy: " + err.Error())
	}
	m := &scriptMetrics{labels: newRunLabels(runs, runTypeScript, maxSHAs)}
	if reg != nil {
		reg.MustRegister(&cacheCollector{m: m,
			size: prometheus.NewDesc("luaproxy_script_cache_scripts",
				"Scripts in the script cache, by how they got there: eval (EVAL, bounded, least recently used out) or load (SCRIPT LOAD, kept until SCRIPT FLUSH).",
				[]string{"kind"}, nil),
			evictions: prometheus.NewDesc("luaproxy_script_cache_evictions_total",
				"Scripts added by EVAL that the script cache dropped to stay within its size.",
				nil, nil),
		})
	}
	return m
}

// counterFor returns the series of a script, labelled with its SHA1 while
// there is room.
func (m *scriptMetrics) counterFor(sha string) *runSeries { return m.labels.get(sha) }

// observe records one run of e (which may not be cached: a script that did
// not compile counts as "other").
func (m *scriptMetrics) observe(e *cachedScript, reply []byte, elapsed time.Duration, calls int, lockWait time.Duration) {
	s := e.series
	if s == nil {
		s = m.labels.other
	}
	s.observe(reply, elapsed, calls, lockWait)
}

// noScript records an EVALSHA of a script that is not cached: a run of
// "other" that failed with NOSCRIPT before running anything.
func (m *scriptMetrics) noScript() {
	s := m.labels.other
	s.runs.Inc()
	s.m.errors.WithLabelValues(s.typ, s.name, "noscript").Inc()
}

// cacheCollector reads the script cache's size and evictions at scrape
// time, so that the cache pays nothing for them.
type cacheCollector struct {
	m         *scriptMetrics
	size      *prometheus.Desc
	evictions *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.evictions
}

// Collect implements prometheus.Collector.
func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	var eval, load int
	var evicted uint64
	if sc := c.m.cache.Load(); sc != nil {
		eval, load = sc.sizes()
		evicted = sc.evictions.Load()
	}
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(eval), "eval")
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(load), "load")
	ch <- prometheus.MustNewConstMetric(c.evictions, prometheus.CounterValue, float64(evicted))
}
