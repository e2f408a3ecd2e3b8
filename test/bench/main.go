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
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/luaproxy/luaproxy/test/bench/internal/benchkit"
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
	ws, err := benchkit.NewWorkspace("luaproxy-bench-")
	if err != nil {
		return err
	}
	defer ws.Close()
	benchBin, root, tmp := ws.Benchmark, ws.Root, ws.Tmp

	fmt.Println("building luaproxy and the forwarder ...")
	proxyBin := filepath.Join(tmp, "luaproxy")
	fwdBin := filepath.Join(tmp, "forwarder")
	for _, b := range [][2]string{{proxyBin, "./cmd/proxy"}, {fwdBin, "./test/bench/forwarder"}} {
		if err := benchkit.Build(root, b[0], b[1]); err != nil {
			return err
		}
	}

	redis, redisPID, err := benchkit.StartRedis(tmp, "redis")
	if err != nil {
		return err
	}
	defer redis.Stop()

	proxyAddr, err := benchkit.FreeAddr()
	if err != nil {
		return err
	}
	adminAddr, err := benchkit.FreeAddr()
	if err != nil {
		return err
	}
	proxyArgs := []string{"--listen", proxyAddr, "--upstream", "redis://" + redis.Addr,
		"--admin-listen", adminAddr, "--log-level", "warn"}
	if o.cpuprofile != "" {
		proxyArgs = append(proxyArgs, "--pprof")
	}
	proxyCmd, err := benchkit.StartChild(proxyBin, proxyArgs...)
	if err != nil {
		return err
	}
	defer benchkit.StopChild(proxyCmd)

	fwdAddr, err := benchkit.FreeAddr()
	if err != nil {
		return err
	}
	fwdCmd, err := benchkit.StartChild(fwdBin, "-listen", fwdAddr, "-target", redis.Addr)
	if err != nil {
		return err
	}
	defer benchkit.StopChild(fwdCmd)

	targets := []target{
		{name: "direct", addr: redis.Addr},
		{name: "luaproxy", addr: proxyAddr, pid: proxyCmd.Process.Pid},
		{name: "forwarder", addr: fwdAddr, pid: fwdCmd.Process.Pid},
	}
	for _, t := range targets {
		if err := benchkit.WaitPing(t.addr, 10*time.Second); err != nil {
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
	pids := []int{redisPID}
	if t.pid != 0 {
		pids = append(pids, t.pid)
	}
	r, cpu, err := benchkit.Measure(o.n, pids, func() ([]byte, error) {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			return nil, fmt.Errorf("redis-benchmark %s: %w", strings.Join(args, " "), err)
		}
		return out, nil
	})
	if err != nil {
		return sample{}, err
	}
	s := sample{Target: t.name, Pipeline: pipeline, Test: test, RedisCPU: cpu[0]}
	if t.pid != 0 {
		s.ProxyCPU = cpu[1]
	}
	s.RPS, s.P50ms, s.P99ms = r.RPS, r.P50ms, r.P99ms
	return s, nil
}

// profile captures a CPU profile of luaproxy from its pprof endpoint while
// redis-benchmark keeps it busy. It runs after the measured rounds so that
// profiling does not slow them down.
func profile(bin string, t target, adminAddr string, o options) error {
	host, port, _ := net.SplitHostPort(t.addr)
	return benchkit.CaptureCPUProfile(adminAddr, o.profileSecs, o.cpuprofile, func() error {
		cmd := exec.Command(bin, "-h", host, "-p", port, "-c", strconv.Itoa(o.clients),
			"-n", strconv.Itoa(o.n), "-P", strconv.Itoa(o.profilePipe), "-t", "set,get", "-q")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("redis-benchmark during profile: %w", err)
		}
		return nil
	})
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
				r := row{Target: name, Pipeline: p, Test: test, RPS: benchkit.Median(rps), P50ms: benchkit.Median(p50),
					P99ms: benchkit.Median(p99), ProxyCPU: benchkit.Median(pc), RedisCPU: benchkit.Median(rc)}
				if name == "direct" {
					direct = r
				}
				r.RPSRatio = benchkit.Ratio(r.RPS, direct.RPS)
				r.P50Ratio = benchkit.Ratio(r.P50ms, direct.P50ms)
				r.P99Ratio = benchkit.Ratio(r.P99ms, direct.P99ms)
				r.RedisCPURatio = benchkit.Ratio(r.RedisCPU, direct.RedisCPU)
				rows = append(rows, r)
			}
		}
	}
	return rows
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

// writeResults stores the run as dir/bench-<time>.json and .md.
func writeResults(dir string, o options, samples []sample, rows []row, table string) error {
	data := map[string]any{"rounds": o.rounds, "n": o.n, "clients": o.clients, "medians": rows, "samples": samples}
	return benchkit.WriteResults(dir, "bench", data, func(stamp string) string {
		return "# luaproxy benchmark " + stamp + "\n\n" + benchkit.CodeBlock(table)
	})
}
