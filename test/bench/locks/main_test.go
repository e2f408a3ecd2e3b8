package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/test/bench/internal/benchkit"
)

func TestSummaryAndRender(t *testing.T) {
	r := results{Header: header{Rounds: 3, N: 10, ScriptN: 5, Clients: 50, BgClients: 20, Keyspace: 100, FgKeys: 10}}
	for round, f := range []float64{1, 1.2, 0.8} {
		add := func(part, work, target string, m measurement) {
			r.Samples = append(r.Samples, sample{Part: part, Workload: work, Target: target, Round: round, measurement: m})
		}
		for _, p := range passthroughPipelines {
			for _, test := range passthroughTests {
				w := passthroughWorkload(test, p)
				add(partPassthrough, w, targetDirect, measurement{RPS: 200 * f, P99ms: 1, RedisCPU: 5})
				add(partPassthrough, w, targetBaseline, measurement{RPS: 100 * f, P99ms: 2, ProxyCPU: 10})
				headRPS := 96.0 // within 5% at P1
				if p == 16 {
					headRPS = 90
				}
				add(partPassthrough, w, targetHead, measurement{RPS: headRPS * f, P99ms: 2, ProxyCPU: 10.5})
			}
		}
		for _, w := range []string{workDisjoint, workHot} {
			add(partScaling, w, targetNative, measurement{RPS: 1000 * f})
			add(partScaling, w, targetProcs1, measurement{RPS: 100 * f, ProxyCPU: 300})
			add(partScaling, w, targetProcs2, measurement{RPS: 180 * f, ProxyCPU: 310})
		}
		for _, test := range passthroughTests {
			add(partBackground, test, condAlone, measurement{RPS: 100 * f, P99ms: 1})
			add(partBackground, test, condOther, measurement{RPS: 50 * f, P99ms: 2})
			add(partBackground, test, condSame, measurement{RPS: 25 * f, P99ms: 4})
		}
	}
	r.summarize()
	if got, want := len(r.Rows), 4*3+2*3+2*3; got != want {
		t.Fatalf("%d rows, want %d", got, want)
	}
	if m, ok := r.find(partPassthrough, "get P16", targetHead); !ok || m.RPS != 90 || m.ProxyCPU != 10.5 {
		t.Errorf("get P16 luaproxy medians %+v, %v", m, ok)
	}
	if _, ok := r.find(partScaling, "nothing", targetNative); ok {
		t.Error("found a workload that was not measured")
	}
	table := r.render()
	for _, want := range []string{
		"ok   set P1  throughput 0.960 x baseline (-4.0%), proxy CPU 1.050 x baseline (+5.0%); 0.48 x direct",
		"FAIL get P16 throughput 0.900 x baseline (-10.0%)",
		"disjoint 1.80 x   (GOMAXPROCS=2 is 0.18 x native)",
		"set   bg same keys     25    0.250",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}

	only := results{Header: r.Header}
	for _, s := range r.Samples {
		if s.Part == partScaling {
			only.Samples = append(only.Samples, s)
		}
	}
	only.summarize()
	if table := only.render(); strings.Contains(table, "pass-through") || !strings.Contains(table, "script scaling") {
		t.Errorf("scaling-only table:\n%s", table)
	}
}

func TestLoadArgs(t *testing.T) {
	l := load{clients: 20, n: 7, keyspace: 100, command: evalsha("bg:__rand_int__")}
	got := strings.Join(l.args("127.0.0.1:7000", "--csv"), " ")
	want := "-h 127.0.0.1 -p 7000 -c 20 -n 7 --csv -r 100 EVALSHA " + scriptSHA() + " 1 bg:__rand_int__"
	if got != want {
		t.Errorf("args = %q, want %q", got, want)
	}
	l = load{clients: 50, n: 9, pipeline: 16, test: "get"}
	if got := strings.Join(l.args("127.0.0.1:7000"), " "); got != "-h 127.0.0.1 -p 7000 -c 50 -n 9 -P 16 -t get" {
		t.Errorf("args = %q", got)
	}
	if _, err := parseParts("scaling, background"); err != nil {
		t.Error(err)
	}
	if _, err := parseParts("scaling,nothing"); err == nil {
		t.Error("no error for an unknown part")
	}
}

// TestScriptOnRedis runs the benchmark's script on a real redis-server,
// so that a broken script fails here rather than in a benchmark.
func TestScriptOnRedis(t *testing.T) {
	s := redistest.Start(t)
	c := s.Dial(t)
	if err := loadScript(s.Addr); err != nil {
		t.Fatal(err)
	}
	c.MustDo(t, "SET", "x", "xxx") // what redis-benchmark's SET writes
	for i, want := range []string{":0\r\n", ":1\r\n", ":2\r\n"} {
		if got := string(c.MustDo(t, evalsha("k")...)); got != want {
			t.Errorf("call %d on k: %q, want %q", i, got, want)
		}
	}
	if got := string(c.MustDo(t, evalsha("x")...)); got != ":0\r\n" {
		t.Errorf("call on a non-number: %q", got)
	}
}

// TestQuick runs the whole benchmark with -quick, a smoke test of every
// part against real processes. It builds two luaproxies and takes a
// minute on a busy machine: -short skips it.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the smoke run builds two binaries and runs redis-benchmark")
	}
	if _, err := exec.LookPath("redis-benchmark"); err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip(err)
	}
	const baseline = "522852a"
	root, err := benchkit.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := benchkit.Git(root, "cat-file", "-e", baseline+"^{commit}"); err != nil {
		t.Skip("baseline revision not in this clone (shallow?):", err)
	}
	out := t.TempDir()
	o := options{rounds: 1, n: 2000, scriptN: 200, clients: 20, bgClients: 5, keyspace: 1000, fgKeys: 10,
		baseline: baseline, parts: allParts, outDir: out}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	md, _ := filepath.Glob(filepath.Join(out, "locks-*.md"))
	js, _ := filepath.Glob(filepath.Join(out, "locks-*.json"))
	if len(md) != 1 || len(js) != 1 {
		t.Fatalf("results %v %v", md, js)
	}
	b, err := os.ReadFile(md[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pass-through: lock cost", "script scaling", "background script load", "GOMAXPROCS=2"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("results lack %q:\n%s", want, b)
		}
	}
}
