package proxy

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/luaproxy/luaproxy/luavm"
)

func TestRunErrorKind(t *testing.T) {
	tests := []struct {
		reply, want string
	}{
		{"-ERR boom\r\n", "err"},
		{"-ERR\r\n", "err"},
		{"-err lower\r\n", "err"},
		{"-BUSY Redis is busy running a script.\r\n", "busy"},
		{"-NOSCRIPT No matching script. Please use EVAL.\r\n", "noscript"},
		{"-OOM command not allowed when used memory > 'maxmemory'.\r\n", "oom"},
		{"-NOPERM this user has no permissions\r\n", "noperm"},
		{"-READONLY You can't write against a read only replica.\r\n", "readonly"},
		{"-UNKILLABLE Sorry the script already executed write commands\r\n", "unkillable"},
		{"-ERR Script killed by user with SCRIPT KILL...\r\n", "killed"},
		{"-ERR Script killed by luaproxy: time limit exceeded...\r\n", "killed"},
		{"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", "other"},
		{"-NOAUTH Authentication required.\r\n", "other"},
		{"-ERRX\r\n", "other"},
		{"-KILLED\r\n", "other"}, // a code, not the kill message
		{"-OTHER x\r\n", "other"},
		{"-\r\n", "other"},
		{"-", "other"},
	}
	for _, tt := range tests {
		if got := runErrorKind([]byte(tt.reply)); got != tt.want {
			t.Errorf("runErrorKind(%q) = %q, want %q", tt.reply, got, tt.want)
		}
	}
}

func TestRunLabelsBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newFunctionMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < maxFunctionLabels+10; i++ {
		reply := []byte(":1\r\n")
		if i%2 == 0 {
			reply = []byte("-ERR no\r\n")
		}
		m.observe("f"+strconv.Itoa(i), reply, time.Millisecond, 3, 0)
	}
	m.observe("f0", []byte(":1\r\n"), time.Millisecond, 1, time.Second)
	runs := m.labels.m.runs
	if got := testutil.ToFloat64(runs.WithLabelValues("function", "f0")); got != 2 {
		t.Errorf("runs of f0 = %v, want 2", got)
	}
	if got := testutil.ToFloat64(runs.WithLabelValues("function", "other")); got != 10 {
		t.Errorf("runs under other = %v, want 10", got)
	}
	if got := testutil.ToFloat64(m.labels.m.errors.WithLabelValues("function", "f0", "err")); got != 1 {
		t.Errorf("errors of f0 = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.labels.m.lockWait.WithLabelValues("function", "f0")); got != 1 {
		t.Errorf("lock wait of f0 = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(runs); n != maxFunctionLabels+1 {
		t.Errorf("%d run series, want %d", n, maxFunctionLabels+1)
	}

	// Scripts share the vectors, with their own bound.
	s := newScriptMetrics(reg, 2)
	for i := 0; i < 4; i++ {
		s.counterFor("sha"+strconv.Itoa(i)).observe([]byte("+OK\r\n"), time.Millisecond, 0, 0)
	}
	if got := testutil.ToFloat64(runs.WithLabelValues("script", "other")); got != 2 {
		t.Errorf("script runs under other = %v, want 2", got)
	}
	if got := testutil.ToFloat64(runs.WithLabelValues("script", "sha1")); got != 1 {
		t.Errorf("runs of sha1 = %v, want 1", got)
	}
	if _, err := newFunctionMetrics(reg); err == nil {
		t.Error("registering luaproxy_function_not_found_total twice succeeded")
	}
}

// TestRunMetricsCollide: a collector of another kind under a per-run name
// is an error, not a panic.
func TestRunMetricsCollide(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "luaproxy_script_run_calls", Help: "x"}))
	if _, err := newRunMetrics(reg); err == nil {
		t.Fatal("newRunMetrics succeeded over a colliding collector")
	}
}

func TestScriptCacheMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newScriptMetrics(reg, 0)
	c := newScriptCache(2, m)
	for i := 0; i < 4; i++ {
		e, _ := c.forBody([]byte("return " + strconv.Itoa(i)))
		c.add(e, false)
	}
	e, _ := c.forBody([]byte("return 'loaded'"))
	if got := c.add(e, true); got.series == nil || got.series.name != got.script.SHA() {
		t.Errorf("loaded script's series: %+v", got.series)
	}
	want := `# HELP luaproxy_script_cache_evictions_total Scripts added by EVAL that the script cache dropped to stay within its size.
# TYPE luaproxy_script_cache_evictions_total counter
luaproxy_script_cache_evictions_total 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "luaproxy_script_cache_evictions_total"); err != nil {
		t.Error(err)
	}
	sizes := gatherValues(t, reg)
	if sizes[`luaproxy_script_cache_scripts{kind="eval"}`] != 2 || sizes[`luaproxy_script_cache_scripts{kind="load"}`] != 1 {
		t.Errorf("cache sizes: %v", sizes)
	}
	c.flush()
	if sizes := gatherValues(t, reg); sizes[`luaproxy_script_cache_scripts{kind="eval"}`] != 0 {
		t.Errorf("cache sizes after flush: %v", sizes)
	}
}

// BenchmarkScriptObserve is the metrics' cost per script run.
func BenchmarkScriptObserve(b *testing.B) {
	m := newScriptMetrics(prometheus.NewRegistry(), 0)
	e := &cachedScript{script: luavm.NewScript([]byte("return 1"))}
	e.series = m.counterFor(e.script.SHA())
	reply := []byte(":1\r\n")
	b.ReportAllocs()
	for b.Loop() {
		m.observe(e, reply, time.Millisecond, 2, 0)
	}
}
