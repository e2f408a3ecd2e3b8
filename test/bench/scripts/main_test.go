package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

func TestFormatCmds(t *testing.T) {
	got := map[string]float64{"get": 2, "set": 0.5, "info": 0.001}
	if s := formatCmds(got); s != "get 2.00, set 0.50" {
		t.Errorf("formatCmds = %q", s)
	}
}

func TestSummaryAndTargets(t *testing.T) {
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
