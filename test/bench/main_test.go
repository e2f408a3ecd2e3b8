package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseCSV(t *testing.T) {
	out := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","59523.81","0.514","0.032","0.471","0.831","1.815","4.479"
`
	var s sample
	if err := parseCSV([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.RPS != 59523.81 || s.P50ms != 0.471 || s.P99ms != 1.815 {
		t.Errorf("parsed %+v", s)
	}
	for _, bad := range []string{"", `"test","rps"` + "\n", strings.Replace(out, `"1.815"`, `"x"`, 1)} {
		if err := parseCSV([]byte(bad), &s); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestCPUTicks(t *testing.T) {
	n, err := cpuTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if n < 0 {
		t.Errorf("ticks %d", n)
	}
	if _, err := cpuTicks(-1); err == nil {
		t.Error("no error for pid -1")
	}
}

func TestMedianAndSummary(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median = %v", m)
	}
	o := options{rounds: 1, n: 10, clients: 1, pipelines: []int{1}, tests: []string{"get"}}
	rows := summarize([]sample{
		{Target: "direct", Pipeline: 1, Test: "get", RPS: 100, P50ms: 1, P99ms: 2, RedisCPU: 4},
		{Target: "luaproxy", Pipeline: 1, Test: "get", RPS: 50, P50ms: 2, P99ms: 3, ProxyCPU: 5, RedisCPU: 4},
		{Target: "forwarder", Pipeline: 1, Test: "get", RPS: 80, P50ms: 1.5, P99ms: 2.4, ProxyCPU: 4, RedisCPU: 4},
	}, o)
	lp := find(rows, "luaproxy", 1, "get")
	if lp.RPSRatio != 0.5 || lp.P50Ratio != 2 || lp.P99Ratio != 1.5 || lp.RedisCPURatio != 1 {
		t.Errorf("luaproxy row %+v", lp)
	}
	table := render(rows, o)
	for _, want := range []string{"FAIL P1 get throughput", "FAIL P1 get proxy CPU", "FAIL P1 get p99"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}
