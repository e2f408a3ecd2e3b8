// Command bench compares luaproxy with a direct Redis connection and with a
// no-op TCP forwarder, using redis-benchmark, and reports throughput,
// latency percentiles and CPU time per operation.
//
//	go run ./test/bench [-rounds 3] [-n 100000] [-quick] [-cpuprofile FILE]
//
// Each round runs every target once per pipeline depth, in an order that
// rotates across rounds so that no target always runs first (cold) or last
// (after the machine warmed up). Medians over rounds are reported, with
// ratios to the direct connection, and written under .bench/.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

type options struct {
	rounds      int
	n           int
	clients     int
	pipelines   []int
	tests       []string
	cpuprofile  string
	profileSecs int
	profilePipe int
	outDir      string
}

func main() {
	var o options
	quick := flag.Bool("quick", false, "one round of 20000 requests: a smoke test, not a measurement")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; medians are reported")
	flag.IntVar(&o.n, "n", 100000, "requests per redis-benchmark run")
	flag.IntVar(&o.clients, "c", 50, "redis-benchmark parallel connections")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of luaproxy under load to this file")
	flag.IntVar(&o.profileSecs, "profile-seconds", 10, "length of the -cpuprofile capture")
	flag.IntVar(&o.profilePipe, "profile-pipeline", 1, "redis-benchmark -P during the -cpuprofile capture")
	flag.StringVar(&o.outDir, "out", ".bench", "directory for the JSON and markdown results")
	flag.Parse()
	if *quick {
		o.rounds, o.n = 1, 20000
	}
	o.pipelines = []int{1, 16}
	o.tests = []string{"set", "get"}
	if err := runBench(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// target is one way of reaching Redis.
type target struct {
	name string
	addr string
	pid  int // the process in front of Redis; 0 for direct
}

// sample is one redis-benchmark run.
type sample struct {
	Target   string  `json:"target"`
	Pipeline int     `json:"pipeline"`
	Test     string  `json:"test"`
	Round    int     `json:"round"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	ProxyCPU float64 `json:"proxy_cpu_us_per_op"` // 0 for direct
	RedisCPU float64 `json:"redis_cpu_us_per_op"`
}

func runBench(o options) error {
	benchBin, err := exec.LookPath("redis-benchmark")
	if err != nil {
		return errors.New("redis-benchmark not found in PATH: install it with `apt-get install -y redis-tools`")
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "luaproxy-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Println("building luaproxy and the forwarder ...")
	proxyBin := filepath.Join(tmp, "luaproxy")
	fwdBin := filepath.Join(tmp, "forwarder")
	for _, b := range [][2]string{{proxyBin, "./cmd/proxy"}, {fwdBin, "./test/bench/forwarder"}} {
		cmd := exec.Command("go", "build", "-o", b[0], b[1])
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", b[1], err)
		}
	}

	redisDir := filepath.Join(tmp, "redis")
	if err := os.Mkdir(redisDir, 0o700); err != nil {
		return err
	}
	redis, err := redistest.StartProcess(redisDir)
	if err != nil {
		return err
	}
	defer redis.Stop()
	redisPID, err := serverPID(redis.Addr)
	if err != nil {
		return err
	}

	proxyPort, err := redistest.FreePort()
	if err != nil {
		return err
	}
	adminPort, err := redistest.FreePort()
	if err != nil {
		return err
	}
	proxyAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(proxyPort))
	adminAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(adminPort))
	proxyArgs := []string{"--listen", proxyAddr, "--upstream", "redis://" + redis.Addr,
		"--admin-listen", adminAddr, "--log-level", "warn"}
	if o.cpuprofile != "" {
		proxyArgs = append(proxyArgs, "--pprof")
	}
	proxyCmd, err := startChild(proxyBin, proxyArgs...)
	if err != nil {
		return err
	}
	defer stopChild(proxyCmd)

	fwdPort, err := redistest.FreePort()
	if err != nil {
		return err
	}
	fwdAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(fwdPort))
	fwdCmd, err := startChild(fwdBin, "-listen", fwdAddr, "-target", redis.Addr)
	if err != nil {
		return err
	}
	defer stopChild(fwdCmd)

	targets := []target{
		{name: "direct", addr: redis.Addr},
		{name: "luaproxy", addr: proxyAddr, pid: proxyCmd.Process.Pid},
		{name: "forwarder", addr: fwdAddr, pid: fwdCmd.Process.Pid},
	}
	for _, t := range targets {
		if err := waitPing(t.addr, 10*time.Second); err != nil {
			return fmt.Errorf("%s at %s: %w", t.name, t.addr, err)
		}
	}

	fmt.Printf("redis-benchmark -c %d -n %d, pipelines %v, %d round(s)\n", o.clients, o.n, o.pipelines, o.rounds)
	var samples []sample
	for round := 0; round < o.rounds; round++ {
		for _, p := range o.pipelines {
			for i := range targets {
				t := targets[(i+round)%len(targets)]
				for _, test := range o.tests {
					s, err := measure(benchBin, t, redisPID, o, p, test)
					if err != nil {
						return err
					}
					s.Round = round
					samples = append(samples, s)
					fmt.Printf("  round %d  P%-2d %-9s %-3s %10.0f req/s  p50 %.3f ms  p99 %.3f ms\n",
						round+1, p, t.name, test, s.RPS, s.P50ms, s.P99ms)
				}
			}
		}
	}

	if o.cpuprofile != "" {
		if err := profile(benchBin, targets[1], adminAddr, o); err != nil {
			return err
		}
		fmt.Printf("CPU profile of luaproxy written to %s (symbolized: go tool pprof -top %s)\n", o.cpuprofile, o.cpuprofile)
	}

	rows := summarize(samples, o)
	table := render(rows, o)
	fmt.Println()
	fmt.Print(table)
	return writeResults(filepath.Join(root, o.outDir), o, samples, rows, table)
}

// measure runs redis-benchmark once against t and charges the CPU time the
// proxy process and redis-server used meanwhile to the requests made.
func measure(bin string, t target, redisPID int, o options, pipeline int, test string) (sample, error) {
	host, port, _ := net.SplitHostPort(t.addr)
	args := []string{"-h", host, "-p", port, "-c", strconv.Itoa(o.clients), "-n", strconv.Itoa(o.n),
		"-P", strconv.Itoa(pipeline), "-t", test, "--csv"}
	redisBefore, err := cpuTicks(redisPID)
	if err != nil {
		return sample{}, err
	}
	var proxyBefore int64
	if t.pid != 0 {
		if proxyBefore, err = cpuTicks(t.pid); err != nil {
			return sample{}, err
		}
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return sample{}, fmt.Errorf("redis-benchmark %s: %w", strings.Join(args, " "), err)
	}
	redisAfter, err := cpuTicks(redisPID)
	if err != nil {
		return sample{}, err
	}
	s := sample{Target: t.name, Pipeline: pipeline, Test: test}
	if t.pid != 0 {
		proxyAfter, err := cpuTicks(t.pid)
		if err != nil {
			return sample{}, err
		}
		s.ProxyCPU = usPerOp(proxyAfter-proxyBefore, o.n)
	}
	s.RedisCPU = usPerOp(redisAfter-redisBefore, o.n)
	if err := parseCSV(out, &s); err != nil {
		return sample{}, fmt.Errorf("redis-benchmark output %q: %w", out, err)
	}
	return s, nil
}

// parseCSV reads redis-benchmark 7's --csv output: a header
// "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
// "p95_latency_ms","p99_latency_ms","max_latency_ms" and one row per test.
func parseCSV(out []byte, s *sample) error {
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		return err
	}
	if len(recs) != 2 {
		return fmt.Errorf("want a header and one row, got %d rows", len(recs))
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for name, dst := range map[string]*float64{"rps": &s.RPS, "p50_latency_ms": &s.P50ms, "p99_latency_ms": &s.P99ms} {
		i, ok := col[name]
		if !ok {
			return fmt.Errorf("no column %q", name)
		}
		v, err := strconv.ParseFloat(recs[1][i], 64)
		if err != nil {
			return fmt.Errorf("column %s: %w", name, err)
		}
		*dst = v
	}
	return nil
}

// clockTicks is sysconf(_SC_CLK_TCK), the unit of /proc/PID/stat times;
// getconf reports it, and it is 100 on every Linux this runs on.
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}

func usPerOp(ticks int64, ops int) float64 {
	return float64(ticks) * 1e6 / clockTicks() / float64(ops)
}

// cpuTicks returns utime+stime of a process from /proc/PID/stat.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("CPU time of %d: %w", pid, err)
	}
	// The command name (field 2) may contain spaces: fields are counted
	// from the closing parenthesis, after which field 3 (state) starts.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("CPU time of %d: bad stat %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("CPU time of %d: short stat %q", pid, b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("CPU time of %d: bad stat %q", pid, b)
	}
	return utime + stime, nil
}

// profile captures a CPU profile of luaproxy from its pprof endpoint while
// redis-benchmark keeps it busy. It runs after the measured rounds so that
// profiling does not slow them down.
func profile(bin string, t target, adminAddr string, o options) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", adminAddr, o.profileSecs)
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s: %s", url, resp.Status, data)
		}
		done <- result{data, err}
	}()
	host, port, _ := net.SplitHostPort(t.addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		select {
		case r := <-done:
			if r.err != nil {
				return fmt.Errorf("CPU profile: %w", r.err)
			}
			return os.WriteFile(o.cpuprofile, r.data, 0o644)
		default:
		}
		cmd := exec.CommandContext(ctx, bin, "-h", host, "-p", port, "-c", strconv.Itoa(o.clients),
			"-n", strconv.Itoa(o.n), "-P", strconv.Itoa(o.profilePipe), "-t", "set,get", "-q")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("redis-benchmark during profile: %w", err)
		}
	}
}

// row is the median of one target, pipeline depth and test over rounds.
type row struct {
	Target   string  `json:"target"`
	Pipeline int     `json:"pipeline"`
	Test     string  `json:"test"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	ProxyCPU float64 `json:"proxy_cpu_us_per_op"`
	RedisCPU float64 `json:"redis_cpu_us_per_op"`
	// Ratios to the direct connection (throughput, p50, p99) and, for the
	// proxy CPU, to the forwarder.
	RPSRatio      float64 `json:"rps_ratio_to_direct"`
	P50Ratio      float64 `json:"p50_ratio_to_direct"`
	P99Ratio      float64 `json:"p99_ratio_to_direct"`
	RedisCPURatio float64 `json:"redis_cpu_ratio_to_direct"`
}

func summarize(samples []sample, o options) []row {
	var rows []row
	for _, p := range o.pipelines {
		for _, test := range o.tests {
			var direct row
			for _, name := range []string{"direct", "luaproxy", "forwarder"} {
				var rps, p50, p99, pc, rc []float64
				for _, s := range samples {
					if s.Target == name && s.Pipeline == p && s.Test == test {
						rps, p50, p99 = append(rps, s.RPS), append(p50, s.P50ms), append(p99, s.P99ms)
						pc, rc = append(pc, s.ProxyCPU), append(rc, s.RedisCPU)
					}
				}
				r := row{Target: name, Pipeline: p, Test: test, RPS: median(rps), P50ms: median(p50),
					P99ms: median(p99), ProxyCPU: median(pc), RedisCPU: median(rc)}
				if name == "direct" {
					direct = r
				}
				r.RPSRatio = ratio(r.RPS, direct.RPS)
				r.P50Ratio = ratio(r.P50ms, direct.P50ms)
				r.P99Ratio = ratio(r.P99ms, direct.P99ms)
				r.RedisCPURatio = ratio(r.RedisCPU, direct.RedisCPU)
				rows = append(rows, r)
			}
		}
	}
	return rows
}

func median(v []float64) float64 {
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

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func find(rows []row, name string, p int, test string) row {
	for _, r := range rows {
		if r.Target == name && r.Pipeline == p && r.Test == test {
			return r
		}
	}
	return row{}
}

// render formats the medians and checks the targets.
func render(rows []row, o options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "medians of %d round(s), redis-benchmark -c %d -n %d\n\n", o.rounds, o.clients, o.n)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "P\ttest\ttarget\treq/s\tx direct\tp50 ms\tx direct\tp99 ms\tx direct\tproxy µs CPU/op\tredis µs CPU/op\tx direct\t")
	for _, r := range rows {
		proxyCPU := "-"
		if r.Target != "direct" {
			proxyCPU = fmt.Sprintf("%.2f", r.ProxyCPU)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.0f\t%.2f\t%.3f\t%.2f\t%.3f\t%.2f\t%s\t%.2f\t%.2f\t\n",
			r.Pipeline, r.Test, r.Target, r.RPS, r.RPSRatio, r.P50ms, r.P50Ratio, r.P99ms, r.P99Ratio, proxyCPU, r.RedisCPU, r.RedisCPURatio)
	}
	tw.Flush()

	fmt.Fprintf(&b, "\ntargets:\n")
	check := func(ok bool, format string, args ...any) {
		mark := "FAIL"
		if ok {
			mark = "ok  "
		}
		fmt.Fprintf(&b, "  %s %s\n", mark, fmt.Sprintf(format, args...))
	}
	for _, test := range o.tests {
		lp, fw := find(rows, "luaproxy", 1, test), find(rows, "forwarder", 1, test)
		check(lp.RPSRatio >= fw.RPSRatio, "P1 %s throughput: luaproxy %.2f x direct >= forwarder %.2f x direct", test, lp.RPSRatio, fw.RPSRatio)
		for _, p := range o.pipelines {
			lp, fw := find(rows, "luaproxy", p, test), find(rows, "forwarder", p, test)
			check(lp.ProxyCPU <= fw.ProxyCPU, "P%d %s proxy CPU: luaproxy %.2f µs/op <= forwarder %.2f µs/op", p, test, lp.ProxyCPU, fw.ProxyCPU)
			check(lp.P99ms <= 1.2*fw.P99ms, "P%d %s p99: luaproxy %.3f ms <= 1.2 x forwarder %.3f ms", p, test, lp.P99ms, fw.P99ms)
		}
		lp16 := find(rows, "luaproxy", 16, test)
		check(lp16.RPSRatio >= 0.85, "P16 %s throughput: luaproxy %.2f x direct >= 0.85", test, lp16.RPSRatio)
	}
	return b.String()
}

func writeResults(dir string, o options, samples []sample, rows []row, table string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("20060102-150405")
	j, err := json.MarshalIndent(map[string]any{
		"time": stamp, "rounds": o.rounds, "n": o.n, "clients": o.clients,
		"medians": rows, "samples": samples,
	}, "", "  ")
	if err != nil {
		return err
	}
	jsonPath := filepath.Join(dir, "bench-"+stamp+".json")
	mdPath := filepath.Join(dir, "bench-"+stamp+".md")
	if err := os.WriteFile(jsonPath, append(j, '\n'), 0o644); err != nil {
		return err
	}
	md := "# luaproxy benchmark " + stamp + "\n\n```\n" + table + "```\n"
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nresults: %s, %s\n", jsonPath, mdPath)
	return nil
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the luaproxy module")
		}
		dir = parent
	}
}

func startChild(bin string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	return cmd, nil
}

func stopChild(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// waitPing waits until addr answers PING.
func waitPing(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		reply, err := do(addr, "PING")
		if err == nil && string(reply) == "+PONG\r\n" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %v (last: %q, %v)", timeout, reply, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serverPID asks redis-server for its process id.
func serverPID(addr string) (int, error) {
	reply, err := do(addr, "INFO", "server")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(reply), "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("no process_id in INFO server of %s", addr)
}

// do sends one command on a fresh connection and returns the raw reply.
func do(addr string, args ...string) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write(b.Bytes()); err != nil {
		return nil, err
	}
	return redistest.ReadReply(bufio.NewReader(c))
}
