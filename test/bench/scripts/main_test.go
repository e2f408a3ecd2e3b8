package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

func TestParseCSV(t *testing.T) {
	out := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"EVALSHA d3c21d0c2b9ca22f82737626a27bcaf5d288f99f 1 k:__rand_int__","24449.88","1.591","0.152","0.703","5.351","16.799","66.431"
`
	var s sample
	if err := parseCSV([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.RPS != 24449.88 || s.P50ms != 0.703 || s.P99ms != 16.799 {
		t.Errorf("parsed %+v", s)
	}
	for _, bad := range []string{"", `"test","rps"` + "\n", strings.Replace(out, `"16.799"`, `"x"`, 1)} {
		if err := parseCSV([]byte(bad), &s); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		stat string
		want int64
		ok   bool
	}{
		{"1234 (luaproxy) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 9 0 100 0 0", 281, true},
		{"1234 (a) b) c) R 1 1 1 0 -1 0 0 0 0 0 7 5 0 0", 12, true},
		{"1234 (x) S 1 2", 0, false},
		{"no parenthesis", 0, false},
		{"1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 5 0", 0, false},
	}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.stat))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseStat(%q) = %d, %v; want %d, ok %v", tt.stat, got, err, tt.want, tt.ok)
		}
	}
}

func TestCommandStats(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_get:calls=10,usec=5,usec_per_call=0.50,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=3,usec=90\r\ncmdstat_config|get:calls=2,usec=1\r\n"
	before, err := parseCommandStats(info)
	if err != nil {
		t.Fatal(err)
	}
	after := map[string]int64{"get": 30, "info": 4, "config|get": 2, "set": 5}
	got := perCall(before, after, 10)
	want := map[string]float64{"get": 2, "set": 0.5}
	if len(got) != len(want) || got["get"] != 2 || got["set"] != 0.5 {
		t.Errorf("perCall = %v, want %v", got, want)
	}
	if s := formatCmds(got); s != "get 2.00, set 0.50" {
		t.Errorf("formatCmds = %q", s)
	}
	if _, err := parseCommandStats("cmdstat_get:usec=1\r\n"); err == nil {
		t.Error("no error for a line without calls")
	}
}

func TestSummaryAndTargets(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median = %v", m)
	}
	var samples []sample
	for round, rps := range []float64{100, 120, 80} {
		samples = append(samples,
			sample{Workload: "evalsha-get", Target: native, Round: round, RPS: rps, RedisCPU: 10, RedisCmds: map[string]float64{"evalsha": 1, "get": 1}},
			sample{Workload: "evalsha-get", Target: luaproxy, Round: round, RPS: rps / 2, FrontCPU: 20, RedisCPU: 4, RedisCmds: map[string]float64{"get": 1}},
			sample{Workload: "evalsha-cjson", Target: native, Round: round, RPS: rps, RedisCPU: 40},
			sample{Workload: "evalsha-cjson", Target: luaproxy, Round: round, RPS: rps, FrontCPU: 100, RedisCPU: 20})
	}
	rows := summarize(samples, []string{"evalsha-get", "evalsha-cjson"})
	if len(rows) != 4 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	lp, _ := find(rows, "evalsha-get", luaproxy)
	if lp.RPS != 50 || lp.RPSRatio != 0.5 || lp.RedisCPURatio != 0.4 || lp.TotalCPURatio != 2.4 || lp.RedisCmds["get"] != 1 {
		t.Errorf("luaproxy row %+v", lp)
	}
	table := render(rows, header{Rounds: 3, Calls: 100, Clients: 50})
	for _, want := range []string{
		"ok   evalsha-get     throughput 0.50 x native >= 0.50",
		"ok   evalsha-get     redis CPU  0.40 x native <= 0.50",
		"FAIL evalsha-cjson   redis CPU  0.50 x native <= 0.25",
		"evalsha-get     native    evalsha 1.00, get 1.00",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestWorkloads(t *testing.T) {
	ws, err := selectWorkloads([]string{"fcall-cjson", " evalsha-get"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ws[0].command("sha"), " "); got != "FCALL cjson 1 doc:__rand_int__ 2026-11-25T21:00:00Z" {
		t.Errorf("fcall-cjson command %q", got)
	}
	if got := strings.Join(ws[1].command("abc"), " "); got != "EVALSHA abc 1 k:__rand_int__" {
		t.Errorf("evalsha-get command %q", got)
	}
	if _, err := selectWorkloads([]string{"eval-nothing"}); err == nil {
		t.Error("no error for an unknown workload")
	}
	if got := randKey("k:__rand_int__", 42); got != "k:000000000042" {
		t.Errorf("randKey = %q", got)
	}
	doc := document()
	if n := len(doc); n < 2000 || n > 2300 || !json.Valid([]byte(doc)) {
		t.Errorf("document: %d bytes, valid %v", n, json.Valid([]byte(doc)))
	}
}

// TestScriptsOnRedis runs every script, by EVAL and by FCALL, on a real
// redis-server, so that a broken script fails here rather than in the
// middle of a benchmark.
func TestScriptsOnRedis(t *testing.T) {
	s := redistest.Start(t)
	c := s.Dial(t)
	key := randKey("doc:__rand_int__", 7)
	c.MustDo(t, "SET", randKey("k:__rand_int__", 7), "v7")
	c.MustDo(t, "SET", key, document())
	if got := string(c.MustDo(t, "FUNCTION", "LOAD", library())); got != "$13\r\nluaproxybench\r\n" {
		t.Fatalf("FUNCTION LOAD: %q", got)
	}
	for _, sc := range scripts {
		k := randKey(sc.key, 7)
		eval := append([]string{"EVAL", sc.body, "1", k}, sc.argv...)
		fcall := append([]string{"FCALL", sc.name, "1", k}, sc.argv...)
		for _, cmd := range [][]string{eval, fcall} {
			got := string(c.MustDo(t, cmd...))
			switch sc.name {
			case "get":
				if got != "$2\r\nv7\r\n" {
					t.Errorf("%s %s: %q", cmd[0], sc.name, got)
				}
			case "bucket":
				if got != ":1\r\n" {
					t.Errorf("%s %s: %q", cmd[0], sc.name, got)
				}
			case "cjson":
				if !strings.HasPrefix(got, ":") {
					t.Errorf("%s %s: %q", cmd[0], sc.name, got)
				}
			}
		}
	}
	if got := string(c.MustDo(t, "HGET", randKey("bucket:__rand_int__", 7), "tokens")); !strings.HasPrefix(got, "$") {
		t.Errorf("bucket tokens: %q", got)
	}
	if got := string(c.MustDo(t, "PTTL", randKey("bucket:__rand_int__", 7))); got == ":-1\r\n" || got == ":-2\r\n" {
		t.Errorf("bucket PTTL: %q", got)
	}
	doc := string(c.MustDo(t, "GET", key))
	if !strings.Contains(doc, `"visits":2`) || !strings.Contains(doc, `"updated_at":"2026-11-25T21:00:00Z"`) {
		t.Errorf("document after two rewrites: %s", doc)
	}
}
