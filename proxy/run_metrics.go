package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Per-run series, shared by scripts (EVAL, EVALSHA and their _RO forms)
// and functions (FCALL, FCALL_RO). Each series carries type="script" or
// "function" and name=<SHA1 or function name>; names beyond a bound share
// name="other", so that a client sending endless distinct scripts cannot
// grow the metrics without end.
const (
	runTypeScript   = "script"
	runTypeFunction = "function"
	otherName       = "other"
)

// Error kinds of luaproxy_script_run_errors_total: the error reply's first
// word, lower-cased, when it is one of these; "killed" for a script ended
// by SCRIPT KILL or luaproxy's time limit; "other" for any other code. The
// set is fixed so that error texts cannot create series.
var runErrorKinds = []string{"err", "busy", "noscript", "oom", "noperm", "readonly", "unkillable", "killed", "other"}

// scriptKilledPrefix starts the reply of a script interrupted by SCRIPT
// KILL ("by user") or by luaproxy itself ("by luaproxy").
var scriptKilledPrefix = []byte("-ERR Script killed by ")

// runErrorKind classifies an error reply (starting with '-').
func runErrorKind(reply []byte) string {
	if bytes.HasPrefix(reply, scriptKilledPrefix) {
		return "killed"
	}
	word := reply[1:]
	if i := bytes.IndexAny(word, " \r\n"); i >= 0 {
		word = word[:i]
	}
	for i, code := range runErrorCodes {
		if equalFold(word, code) {
			return runErrorKinds[i]
		}
	}
	return "other"
}

// runErrorCodes are the error codes with a kind of their own, in the
// order of runErrorKinds.
var runErrorCodes = []string{"ERR", "BUSY", "NOSCRIPT", "OOM", "NOPERM", "READONLY", "UNKILLABLE"}

// runMetrics are the vectors of the per-run series. Scripting and
// Functions each create theirs on the same registry; the second finds the
// first's vectors registered and shares them.
type runMetrics struct {
	runs     *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	calls    *prometheus.HistogramVec
	lockWait *prometheus.CounterVec
}

func newRunMetrics(reg prometheus.Registerer) (*runMetrics, error) {
	labels := []string{"type", "name"}
	m := &runMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "luaproxy_script_runs_total",
			Help: "Script (EVAL, EVALSHA and _RO forms) and function (FCALL, FCALL_RO) runs, by type and SHA1 or function name.",
		}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "luaproxy_script_run_errors_total",
			Help: "Runs whose reply was an error, by type, name and error kind (the error code lower-cased, killed, or other).",
		}, []string{"type", "name", "error"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "luaproxy_script_run_duration_seconds",
			Help:    "Time to run a script or function, lock waits and redis.call round trips included.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10),
		}, labels),
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "luaproxy_script_run_calls",
			Help:    "Commands one run sent to Redis (redis.call and redis.pcall).",
			Buckets: []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 1024},
		}, labels),
		lockWait: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "luaproxy_script_run_lock_wait_seconds_total",
			Help: "Time runs spent waiting for their shard locks.",
		}, labels),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.runs, err = registerShared(reg, m.runs)
	if err == nil {
		m.errors, err = registerShared(reg, m.errors)
	}
	if err == nil {
		m.duration, err = registerShared(reg, m.duration)
	}
	if err == nil {
		m.calls, err = registerShared(reg, m.calls)
	}
	if err == nil {
		m.lockWait, err = registerShared(reg, m.lockWait)
	}
	if err != nil {
		return nil, fmt.Errorf("register script run metrics: %w", err)
	}
	return m, nil
}

// registerShared registers c on reg, or returns the collector of the same
// kind already registered there.
func registerShared[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// runSeries are the resolved series of one name, so that a run costs a
// few atomic adds and no label lookup.
type runSeries struct {
	m         *runMetrics
	typ, name string
	runs      prometheus.Counter
	duration  prometheus.Observer
	calls     prometheus.Observer
	lockWait  prometheus.Counter
}

// observe records one run: its reply, how long it took, how many commands
// it sent and how long it waited for its locks.
func (s *runSeries) observe(reply []byte, elapsed time.Duration, calls int, lockWait time.Duration) {
	s.runs.Inc()
	if len(reply) > 0 && reply[0] == '-' {
		s.m.errors.WithLabelValues(s.typ, s.name, runErrorKind(reply)).Inc()
	}
	s.duration.Observe(elapsed.Seconds())
	s.calls.Observe(float64(calls))
	if lockWait > 0 {
		s.lockWait.Add(lockWait.Seconds())
	}
}

// runLabels hands out the series of one type's names: the first max
// distinct names get their own, the rest share "other".
type runLabels struct {
	m     *runMetrics
	typ   string
	max   int
	names sync.Map // name -> *runSeries
	mu    sync.Mutex
	n     int // names with their own series
	other *runSeries
}

func newRunLabels(m *runMetrics, typ string, max int) *runLabels {
	l := &runLabels{m: m, typ: typ, max: max}
	l.other = l.series(otherName)
	return l
}

func (l *runLabels) series(name string) *runSeries {
	return &runSeries{
		m: l.m, typ: l.typ, name: name,
		runs:     l.m.runs.WithLabelValues(l.typ, name),
		duration: l.m.duration.WithLabelValues(l.typ, name),
		calls:    l.m.calls.WithLabelValues(l.typ, name),
		lockWait: l.m.lockWait.WithLabelValues(l.typ, name),
	}
}

// get returns the series of name.
func (l *runLabels) get(name string) *runSeries {
	if s, ok := l.names.Load(name); ok {
		return s.(*runSeries)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.names.Load(name); ok {
		return s.(*runSeries)
	}
	if l.n >= l.max {
		return l.other
	}
	s := l.series(name)
	l.names.Store(name, s)
	l.n++
	return s
}
