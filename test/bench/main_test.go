package main

import (
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
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
