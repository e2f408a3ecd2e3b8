package proxy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// rttSampleEvery is how many forwarded commands a session sends per timed
// one: timing every command would cost two clock reads on the
// pass-through path, and a sample is enough for a latency histogram.
const rttSampleEvery = 64

// rttMetrics is luaproxy_upstream_rtt_seconds{path}: the time from a
// command being queued for the upstream to its whole reply being read.
// Scripts' redis.call round trips are all timed (they cost a network
// round trip each anyway); pass-through commands are sampled.
type rttMetrics struct {
	base        time.Time // stamps are durations since base: monotonic, 8 bytes
	passthrough prometheus.Observer
	script      prometheus.Observer
}

func newRTTMetrics(reg prometheus.Registerer) *rttMetrics {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "luaproxy_upstream_rtt_seconds",
		Help: "Upstream round trips: passthrough (1 forwarded command in 64, from queued to its reply read) and script (every redis.call).",
		// 20µs to 0.65s.
		Buckets: prometheus.ExponentialBuckets(0.00002, 2, 16),
	}, []string{"path"})
	reg.MustRegister(h)
	return &rttMetrics{
		base:        time.Now(),
		passthrough: h.WithLabelValues("passthrough"),
		script:      h.WithLabelValues("script"),
	}
}

// stamp returns a nonzero timestamp for pending.sent.
func (m *rttMetrics) stamp() int64 { return int64(time.Since(m.base)) | 1 }

// observePassthrough records the round trip of a command stamped at sent.
func (m *rttMetrics) observePassthrough(sent int64) {
	m.passthrough.Observe(time.Duration(int64(time.Since(m.base)) - sent).Seconds())
}

// observeScript records one redis.call round trip that began at start.
func (m *rttMetrics) observeScript(start time.Time) {
	m.script.Observe(time.Since(start).Seconds())
}
