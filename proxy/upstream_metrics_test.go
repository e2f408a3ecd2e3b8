package proxy

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkPassthroughRTTSampling is what the round-trip sampling adds per
// forwarded command: a counter, and for one command in 64 a stamp and an
// observation.
func BenchmarkPassthroughRTTSampling(b *testing.B) {
	m := newRTTMetrics(prometheus.NewRegistry())
	var tick uint8
	var e pending
	b.ReportAllocs()
	for b.Loop() {
		if tick++; tick%rttSampleEvery == 0 {
			e.sent = m.stamp()
		}
		if e.sent != 0 {
			m.observePassthrough(e.sent)
			e.sent = 0
		}
	}
}
