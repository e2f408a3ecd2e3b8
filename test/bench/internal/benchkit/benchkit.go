// Package benchkit holds what the luaproxy benchmarks (test/bench and
// test/bench/scripts) share: reading redis-benchmark's CSV output and the
// CPU time of processes from /proc, starting and stopping the processes
// under test, talking raw RESP to them, capturing a CPU profile under load
// and writing the results.
package benchkit

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"sort"
	"strconv"
)

// Result is what the benchmarks read from one redis-benchmark run.
type Result struct {
	RPS   float64 // requests per second
	P50ms float64 // median latency in milliseconds
	P99ms float64 // 99th percentile latency in milliseconds
}

// ParseCSV reads redis-benchmark 7's --csv output: a header naming the
// columns ("test", "rps", "avg_latency_ms", "p50_latency_ms",
// "p99_latency_ms", ...) and one row, that of the single test run.
func ParseCSV(out []byte) (Result, error) {
	var r Result
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		return r, err
	}
	if len(recs) != 2 {
		return r, fmt.Errorf("want a header and one row, got %d rows", len(recs))
	}
	col := make(map[string]int, len(recs[0]))
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, c := range []struct {
		name string
		dst  *float64
	}{{"rps", &r.RPS}, {"p50_latency_ms", &r.P50ms}, {"p99_latency_ms", &r.P99ms}} {
		i, ok := col[c.name]
		if !ok || i >= len(recs[1]) {
			return Result{}, fmt.Errorf("no column %q", c.name)
		}
		v, err := strconv.ParseFloat(recs[1][i], 64)
		if err != nil {
			return Result{}, fmt.Errorf("column %s: %w", c.name, err)
		}
		*c.dst = v
	}
	return r, nil
}

// Median returns the median of v (the mean of the middle two for an even
// count), 0 for none. Rounds are summarised by medians so that one run
// disturbed by the shared machine does not move the result.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Ratio returns a/b, or 0 where b is 0 (a reference that was not measured).
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
