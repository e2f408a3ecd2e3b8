package proxy

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/luavm"
)

// gatherValues returns every sample of reg by its name and labels in the
// text format's order (name{a="x",b="y"}); a histogram gives its _count
// and _sum.
func gatherValues(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, l.GetName()+`="`+l.GetValue()+`"`)
			}
			sort.Strings(pairs)
			labels := ""
			if len(pairs) > 0 {
				labels = "{" + strings.Join(pairs, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[f.GetName()+labels] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[f.GetName()+labels] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[f.GetName()+"_count"+labels] = float64(m.GetHistogram().GetSampleCount())
				out[f.GetName()+"_sum"+labels] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func shaOf(body string) string {
	sum := sha1.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

// TestMetricsAfterMixedWorkload runs pass-through commands, scripts (one
// failing, one killed by the time limit, one past the label bound, an
// unknown EVALSHA) and functions through a proxy, then checks the value
// of every series the workload should have moved.
func TestMetricsAfterMixedWorkload(t *testing.T) {
	up := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	vm, err := luavm.New(luavm.Config{PoolSize: 1, TimeLimit: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Close)
	cfg := config.Default()
	cfg.Upstream = "redis://" + up.Addr
	srv, err := New(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	fns, err := NewFunctions(vm, FunctionsOptions{}, nil, srv.Registry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fns.Close)
	srv.SetHandler(NewScripting(vm, ScriptingOptions{Functions: fns, CacheSize: 2, MetricSHAs: 3}, nil, srv.Registry()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	c := redistest.Dial(t, ln.Addr().String())

	// A pipeline of pass-through commands: 1 in 64 is timed.
	const pipelined = 200
	for i := 0; i < pipelined; i++ {
		if err := c.Send("SET", "k"+strconv.Itoa(i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < pipelined; i++ {
		if r, err := c.Read(); err != nil || string(r) != "+OK\r\n" {
			t.Fatalf("SET %d: %q %v", i, r, err)
		}
	}

	get := "return redis.call('GET', KEYS[1])"
	noperm := "return redis.error_reply('NOPERM not you')"
	loop := "while true do end"
	beyond := "return 'past the label bound'"
	loaded := "return 'loaded'"
	lib := "#!lua name=m\n" +
		"redis.register_function('ok', function(keys) return redis.call('SET', keys[1], 'f') end)\n" +
		"redis.register_function('fail', function() return redis.error_reply('ERR no') end)\n"
	for _, step := range []struct {
		args []string
		want string // reply prefix
	}{
		{[]string{"EVAL", get, "1", "k1"}, "$1\r\nv"},
		{[]string{"EVALSHA", shaOf(get), "1", "k1"}, "$1\r\nv"},
		{[]string{"EVAL", noperm, "0"}, "-NOPERM not you"},
		{[]string{"EVAL", loop, "0"}, "-ERR Script killed by luaproxy: time limit exceeded"},
		{[]string{"EVAL", beyond, "0"}, "$"},
		{[]string{"SCRIPT", "LOAD", loaded}, "$40"},
		{[]string{"EVALSHA", strings.Repeat("ab", 20), "0"}, "-NOSCRIPT"},
		{[]string{"FUNCTION", "LOAD", lib}, "$1\r\nm"},
		{[]string{"FCALL", "ok", "1", "fk"}, "+OK"},
		{[]string{"FCALL", "fail", "0"}, "-ERR no"},
		{[]string{"FCALL", "missing", "0"}, "-ERR Function not found"},
	} {
		if r := c.MustDo(t, step.args...); !strings.HasPrefix(string(r), step.want) {
			t.Fatalf("%.20q: %q, want %q...", step.args, r, step.want)
		}
	}

	got := gatherValues(t, srv.Registry())
	script := func(name string) string { return `name="` + name + `",type="script"` }
	function := func(name string) string { return `name="` + name + `",type="function"` }
	want := map[string]float64{
		"luaproxy_client_connections":                                                    1,
		`luaproxy_commands_total{route="passthrough"}`:                                   pipelined,
		`luaproxy_script_runs_total{` + script(shaOf(get)) + `}`:                         2,
		`luaproxy_script_run_duration_seconds_count{` + script(shaOf(get)) + `}`:         2,
		`luaproxy_script_run_calls_count{` + script(shaOf(get)) + `}`:                    2,
		`luaproxy_script_run_calls_sum{` + script(shaOf(get)) + `}`:                      2,
		`luaproxy_script_runs_total{` + script(shaOf(noperm)) + `}`:                      1,
		`luaproxy_script_run_errors_total{error="noperm",` + script(shaOf(noperm)) + `}`: 1,
		`luaproxy_script_run_errors_total{error="killed",` + script(shaOf(loop)) + `}`:   1,
		// The fourth script and the unknown EVALSHA.
		`luaproxy_script_runs_total{` + script("other") + `}`:                        2,
		`luaproxy_script_run_errors_total{error="noscript",` + script("other") + `}`: 1,
		`luaproxy_script_run_duration_seconds_count{` + script("other") + `}`:        1,
		`luaproxy_script_runs_total{` + function("ok") + `}`:                         1,
		`luaproxy_script_run_calls_sum{` + function("ok") + `}`:                      1,
		`luaproxy_script_runs_total{` + function("fail") + `}`:                       1,
		`luaproxy_script_run_errors_total{error="err",` + function("fail") + `}`:     1,
		"luaproxy_function_not_found_total":                                          1,
		`luaproxy_script_cache_scripts{kind="eval"}`:                                 2,
		`luaproxy_script_cache_scripts{kind="load"}`:                                 1,
		"luaproxy_script_cache_evictions_total":                                      2,
		`luaproxy_upstream_rtt_seconds_count{path="script"}`:                         3,
		`luaproxy_upstream_rtt_seconds_count{path="passthrough"}`:                    pipelined / rttSampleEvery,
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s missing", k)
		} else if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	// Durations are positive and below the run's own bound.
	for _, k := range []string{
		`luaproxy_script_run_duration_seconds_sum{` + script(shaOf(get)) + `}`,
		`luaproxy_script_run_duration_seconds_sum{` + script(shaOf(loop)) + `}`,
		`luaproxy_script_run_duration_seconds_sum{` + function("ok") + `}`,
		`luaproxy_upstream_rtt_seconds_sum{path="script"}`,
		`luaproxy_upstream_rtt_seconds_sum{path="passthrough"}`,
	} {
		if g := got[k]; g <= 0 || g > 60 {
			t.Errorf("%s = %v, want a positive duration", k, g)
		}
	}
	// Nothing contends for the locks: acquiring them is quick.
	for _, k := range []string{
		`luaproxy_script_run_lock_wait_seconds_total{` + script(shaOf(get)) + `}`,
		`luaproxy_script_run_lock_wait_seconds_total{` + function("ok") + `}`,
	} {
		if g, ok := got[k]; !ok || g < 0 || g > 10 {
			t.Errorf("%s = %v (present: %v), want a small duration", k, g, ok)
		}
	}
	if g := got[`luaproxy_script_run_duration_seconds_sum{`+script(shaOf(loop))+`}`]; g < 0.02 {
		t.Errorf("the killed script ran %vs, less than its time limit", g)
	}
	for k := range got {
		if strings.HasPrefix(k, "luaproxy_script_run") && strings.Contains(k, `error="`) {
			kind := k[strings.Index(k, `error="`)+7:]
			kind = kind[:strings.IndexByte(kind, '"')]
			if !slices.Contains(runErrorKinds, kind) {
				t.Errorf("%s: error kind outside the fixed set", k)
			}
		}
	}
}
