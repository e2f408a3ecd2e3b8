package benchkit

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseCSV(t *testing.T) {
	out := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"EVALSHA d3c21d0c2b9ca22f82737626a27bcaf5d288f99f 1 k:__rand_int__","24449.88","1.591","0.152","0.703","5.351","16.799","66.431"
`
	r, err := ParseCSV([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Result{RPS: 24449.88, P50ms: 0.703, P99ms: 16.799}); r != want {
		t.Errorf("ParseCSV = %+v, want %+v", r, want)
	}
	for _, bad := range []string{
		"",
		`"test","rps"` + "\n",
		strings.Replace(out, `"16.799"`, `"x"`, 1),
		`"test","rps","p50_latency_ms","p99_latency_ms"` + "\n" + `"GET","1","2"` + "\n",
		"\"a\n",
	} {
		if r, err := ParseCSV([]byte(bad)); err == nil {
			t.Errorf("ParseCSV(%q) = %+v, no error", bad, r)
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
		got, err := ParseStat([]byte(tt.stat))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseStat(%q) = %d, %v; want %d, ok %v", tt.stat, got, err, tt.want, tt.ok)
		}
	}
}

func TestCPUTicks(t *testing.T) {
	n, err := CPUTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if n < 0 {
		t.Errorf("ticks %d", n)
	}
	if _, err := CPUTicks(-1); err == nil {
		t.Error("no error for pid -1")
	}
	if hz := ClockTicks(); hz <= 0 {
		t.Errorf("ClockTicks = %v", hz)
	}
	if got, want := USPerCall(int64(ClockTicks()), 1000), 1000.0; got != want {
		t.Errorf("USPerCall(1 s of ticks, 1000) = %v, want %v", got, want)
	}
}

func TestMeasure(t *testing.T) {
	csv := "\"test\",\"rps\",\"p50_latency_ms\",\"p99_latency_ms\"\n\"GET\",\"1000\",\"0.5\",\"0.9\"\n"
	pids := []int{os.Getpid(), os.Getpid()}
	r, cpu, err := Measure(100, pids, func() ([]byte, error) { return []byte(csv), nil })
	if err != nil {
		t.Fatal(err)
	}
	if r != (Result{RPS: 1000, P50ms: 0.5, P99ms: 0.9}) || len(cpu) != 2 || cpu[0] < 0 {
		t.Errorf("Measure = %+v, %v", r, cpu)
	}
	runErr := errors.New("run failed")
	if _, _, err := Measure(1, pids, func() ([]byte, error) { return nil, runErr }); err != runErr {
		t.Errorf("Measure error %v, want %v", err, runErr)
	}
	if _, _, err := Measure(1, pids, func() ([]byte, error) { return []byte("x"), nil }); err == nil || !strings.Contains(err.Error(), "redis-benchmark output") {
		t.Errorf("Measure error %v for bad output", err)
	}
	if _, _, err := Measure(1, []int{-1}, func() ([]byte, error) { return []byte(csv), nil }); err == nil {
		t.Error("Measure: no error for pid -1")
	}
}

func TestBuild(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "forwarder")
	if err := Build(root, out, "./test/bench/forwarder"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}
	if err := Build(root, out, "./no/such/package"); err == nil || !strings.Contains(err.Error(), "go build ./no/such/package") {
		t.Errorf("Build error %v", err)
	}
	if _, err := exec.LookPath("redis-benchmark"); err != nil {
		t.Skip(err)
	}
	ws, err := NewWorkspace("benchkit-")
	if err != nil {
		t.Fatal(err)
	}
	if ws.Root != root || ws.Benchmark == "" {
		t.Errorf("workspace %+v", ws)
	}
	if err := ws.Close(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(ws.Tmp); !os.IsNotExist(err) {
		t.Errorf("scratch directory left: %v", err)
	}
}

func TestMedianRatio(t *testing.T) {
	tests := []struct {
		v    []float64
		want float64
	}{{nil, 0}, {[]float64{5}, 5}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}}
	for _, tt := range tests {
		if got := Median(tt.v); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.v, got, tt.want)
		}
	}
	v := []float64{3, 1, 2}
	Median(v)
	if v[0] != 3 {
		t.Error("Median sorted its argument")
	}
	if Ratio(1, 4) != 0.25 || Ratio(1, 0) != 0 {
		t.Error("Ratio")
	}
}

func TestCommandStats(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_get:calls=10,usec=5,usec_per_call=0.50,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=3,usec=90\r\ncmdstat_config|get:calls=2,usec=1\r\n"
	before, err := ParseCommandStats(info)
	if err != nil {
		t.Fatal(err)
	}
	if before["get"] != 10 || before["info"] != 3 || before["config|get"] != 2 || len(before) != 3 {
		t.Errorf("ParseCommandStats = %v", before)
	}
	after := map[string]int64{"get": 30, "info": 4, "config|get": 2, "set": 5}
	got := PerCall(before, after, 10)
	if len(got) != 2 || got["get"] != 2 || got["set"] != 0.5 {
		t.Errorf("PerCall = %v, want get 2, set 0.5", got)
	}
	for _, bad := range []string{"cmdstat_get:usec=1\r\n", "cmdstat_get\r\n", "cmdstat_get:calls=x,usec=1\r\n"} {
		if _, err := ParseCommandStats(bad); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestAppendCommand(t *testing.T) {
	got := string(AppendCommand([]byte("x"), []string{"SET", "k", ""}))
	if want := "x*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"; got != want {
		t.Errorf("AppendCommand = %q, want %q", got, want)
	}
}

// TestRedis checks the raw RESP helpers against a real redis-server.
func TestRedis(t *testing.T) {
	dir := t.TempDir()
	s, pid, err := StartRedis(dir, "r")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if err := WaitPing(s.Addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, err := ServerPID(s.Addr); err != nil || got != pid || pid <= 0 {
		t.Fatalf("ServerPID = %d, %v; StartRedis said %d", got, err, pid)
	}
	if _, _, err := StartRedis(dir, "r"); err == nil {
		t.Error("StartRedis: no error for a directory that exists")
	}
	if _, err := CPUTicks(pid); err != nil {
		t.Error(err)
	}
	before, err := CommandStats(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := Pipeline(s.Addr, [][]string{{"SET", "a", "1"}, {"SET", "b", "2"}, {"INCR", "a"}}); err != nil {
		t.Fatal(err)
	}
	if err := Pipeline(s.Addr, [][]string{{"INCR", "a"}, {"NOSUCH"}}); err == nil {
		t.Error("Pipeline: no error for an error reply")
	}
	reply, err := Do(s.Addr, "GET", "a")
	if err != nil || string(reply) != "$1\r\n3\r\n" {
		t.Errorf("GET a = %q, %v", reply, err)
	}
	if _, err := Do(s.Addr, "NOSUCH"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("Do(NOSUCH) error %v", err)
	}
	after, err := CommandStats(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	per := PerCall(before, after, 1)
	if per["set"] != 2 || per["incr"] != 2 || per["get"] != 1 || per["info"] != 0 {
		t.Errorf("PerCall = %v", per)
	}
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitPing(addr, 100*time.Millisecond); err == nil {
		t.Errorf("WaitPing(%s): no error with nothing listening", addr)
	}
}

func TestChild(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	cmd, err := StartChild(sleep, "60")
	if err != nil {
		t.Fatal(err)
	}
	StopChild(cmd)
	if cmd.ProcessState == nil {
		t.Error("StopChild returned before the child exited")
	}
	if _, err := StartChild(filepath.Join(t.TempDir(), "nothing")); err == nil {
		t.Error("no error starting a missing binary")
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(root, "test", "bench", "internal", "benchkit")); err != nil {
		t.Error(err)
	}
}

func TestCaptureCPUProfile(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/pprof/profile" || r.URL.Query().Get("seconds") != "7" {
			http.NotFound(w, r)
			return
		}
		<-release
		w.Write([]byte("profile"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	file := filepath.Join(t.TempDir(), "cpu.pprof")
	loads := 0
	err := CaptureCPUProfile(addr, 7, file, func() error {
		loads++
		if loads == 3 {
			close(release)
		}
		runtime.Gosched()
		return nil
	})
	if loads < 3 {
		t.Errorf("load called %d times before the profile arrived", loads)
	}
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "profile" {
		t.Errorf("profile file %q, %v", b, err)
	}
}

func TestWriteResults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	data := map[string]any{"rounds": 3, "medians": []int{1, 2}}
	if err := WriteResults(dir, "x", data, func(stamp string) string { return "# x " + stamp + "\n\n" + CodeBlock("t\n") }); err != nil {
		t.Fatal(err)
	}
	if _, ok := data["time"]; ok {
		t.Error("WriteResults changed data")
	}
	js, _ := filepath.Glob(filepath.Join(dir, "x-*.json"))
	mds, _ := filepath.Glob(filepath.Join(dir, "x-*.md"))
	if len(js) != 1 || len(mds) != 1 {
		t.Fatalf("files %v %v", js, mds)
	}
	stamp := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(js[0]), "x-"), ".json")
	var got map[string]any
	b, _ := os.ReadFile(js[0])
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["time"] != stamp || got["rounds"] != 3.0 {
		t.Errorf("json %s", b)
	}
	if md, _ := os.ReadFile(mds[0]); string(md) != "# x "+stamp+"\n\n```\nt\n```\n" {
		t.Errorf("markdown %q", md)
	}
}

func TestCaptureCPUProfileErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	file := filepath.Join(t.TempDir(), "cpu.pprof")
	if err := CaptureCPUProfile(addr, 1, file, func() error { return nil }); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("error %v, want a 404", err)
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("profile written despite the error")
	}
}
