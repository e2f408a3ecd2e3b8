// Command scripts is the scripting benchmark of issue 6: it runs the same
// Lua scripts on a native redis-server and through luaproxy (which runs
// them itself in front of a redis-server whose scripting commands are
// switched off), and reports throughput, latency and the CPU each process
// spends per call.
//
//	go run ./test/bench/scripts [-rounds 3] [-n 50000] [-quick] [-cpuprofile FILE]
//
// Workloads, each at 50 clients over 1000 keys: EVALSHA and FCALL of a
// 1-call GET script, of a 4-call token bucket and of a cjson round trip of a
// 2 KB document. The 1-call and token-bucket scripts are also measured
// through a no-op TCP forwarder in front of native Redis, the cost of any
// extra hop. Each round runs every workload on every target, in a target
// order that rotates across rounds; medians over rounds are reported with
// ratios to native and written to .bench/scripts-<time>.{md,json}.
package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/test/bench/internal/benchkit"
)

type options struct {
	rounds      int
	n           int
	clients     int
	workloads   []string
	forwarder   bool
	cpuprofile  string
	profileSecs int
	profileWork string
	outDir      string
	warmupCalls int
	proxyBin    string
	proxyArgs   []string
}

func main() {
	var o options
	quick := flag.Bool("quick", false, "one round of 5000 calls: a smoke test, not a measurement")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; medians are reported")
	flag.IntVar(&o.n, "n", 50000, "calls per redis-benchmark run (a quarter of it for the cjson workloads)")
	flag.IntVar(&o.clients, "c", 50, "redis-benchmark parallel connections")
	only := flag.String("workloads", "", "comma-separated workloads to run (default all: "+strings.Join(workloadNames(workloads()), ",")+")")
	flag.BoolVar(&o.forwarder, "forwarder", true, "also measure the no-op forwarder on the get and bucket scripts")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "after the rounds, write a CPU profile of luaproxy under -profile-workload to FILE")
	flag.IntVar(&o.profileSecs, "profile-seconds", 10, "length of the -cpuprofile capture")
	flag.StringVar(&o.profileWork, "profile-workload", "evalsha-cjson", "workload run against luaproxy during the -cpuprofile capture")
	flag.StringVar(&o.proxyBin, "luaproxy", "", "use this luaproxy binary instead of building ./cmd/proxy")
	proxyArgs := flag.String("luaproxy-args", "", "extra space-separated luaproxy flags, e.g. \"--lua-pool-size 64\"")
	flag.StringVar(&o.outDir, "out", ".bench", "directory for the JSON and markdown results, relative to the module root")
	flag.Parse()
	if *quick {
		o.rounds, o.n = 1, 5000
	}
	o.warmupCalls = min(o.n, 2000)
	o.proxyArgs = strings.Fields(*proxyArgs)
	if *only != "" {
		o.workloads = strings.Split(*only, ",")
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/scripts:", err)
		os.Exit(1)
	}
}

func workloadNames(ws []workload) []string {
	var names []string
	for _, w := range ws {
		names = append(names, w.Name)
	}
	return names
}

// selectWorkloads returns the workloads named in only, all if it is empty.
func selectWorkloads(only []string) ([]workload, error) {
	all := workloads()
	if len(only) == 0 {
		return all, nil
	}
	var ws []workload
	for _, name := range only {
		i := slices.IndexFunc(all, func(w workload) bool { return w.Name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("unknown workload %q (have %s)", name, strings.Join(workloadNames(all), ", "))
		}
		ws = append(ws, all[i])
	}
	return ws, nil
}

// target is one way of having the scripts run.
type target struct {
	name      string
	addr      string
	frontPID  int    // luaproxy or the forwarder; 0 for native
	redisPID  int    // the redis-server that executes the calls
	redisAddr string // its address
}

// env is the running processes of a benchmark.
type env struct {
	targets   []target
	proxyBin  string
	adminAddr string
	shas      map[string]string // script name -> SHA1
	cleanup   []func()
}

func (e *env) close() {
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		e.cleanup[i]()
	}
}

func run(o options) error {
	ws, err := selectWorkloads(o.workloads)
	if err != nil {
		return err
	}
	space, err := benchkit.NewWorkspace("luaproxy-bench-scripts-")
	if err != nil {
		return err
	}
	defer space.Close()
	benchBin, root, tmp := space.Benchmark, space.Root, space.Tmp

	e, err := start(root, tmp, o)
	if e != nil {
		defer e.close()
	}
	if err != nil {
		return err
	}
	if err := e.prepare(); err != nil {
		return err
	}

	plan := func(w workload) []target {
		var ts []target
		for _, t := range e.targets {
			if t.name != forwarder || w.forwarder {
				ts = append(ts, t)
			}
		}
		return ts
	}
	fmt.Printf("warming up: %d calls of every workload on every target\n", o.warmupCalls)
	for _, w := range ws {
		for _, t := range plan(w) {
			if _, err := measure(benchBin, t, w, e.shas[w.script.name], o.warmupCalls, o.clients); err != nil {
				return err
			}
		}
	}

	fmt.Printf("redis-benchmark -c %d -n %d -r %d, %d round(s)\n", o.clients, o.n, keyspace, o.rounds)
	var samples []sample
	for round := 0; round < o.rounds; round++ {
		for _, w := range ws {
			ts := plan(w)
			for i := range ts {
				t := ts[(i+round)%len(ts)]
				n := o.n
				if w.script.name == "cjson" {
					n = cjsonCalls(o.n)
				}
				s, err := measure(benchBin, t, w, e.shas[w.script.name], n, o.clients)
				if err != nil {
					return err
				}
				s.Round = round
				samples = append(samples, s)
				fmt.Printf("  round %d  %-15s %-9s %8.0f calls/s  p50 %6.3f ms  p99 %7.3f ms  proxy %6.1f µs/call  redis %6.1f µs/call\n",
					round+1, w.Name, t.name, s.RPS, s.P50ms, s.P99ms, s.FrontCPU, s.RedisCPU)
			}
		}
	}

	var top string
	if o.cpuprofile != "" {
		i := slices.IndexFunc(workloads(), func(w workload) bool { return w.Name == o.profileWork })
		if i < 0 {
			return fmt.Errorf("unknown -profile-workload %q", o.profileWork)
		}
		w := workloads()[i]
		if err := profile(benchBin, e.targets[1], w, e.shas[w.script.name], e.adminAddr, o); err != nil {
			return err
		}
		fmt.Printf("\nCPU profile of luaproxy under %s written to %s\n", w.Name, o.cpuprofile)
		top, err = pprofTop(e.proxyBin, o.cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "go tool pprof:", err)
		}
	}

	h := header{Rounds: o.rounds, Calls: o.n, Clients: o.clients}
	rows := summarize(samples, workloadNames(ws))
	table := render(rows, h)
	fmt.Println()
	fmt.Print(table)
	if top != "" {
		fmt.Printf("\nluaproxy CPU profile (%s, go tool pprof -top):\n%s", o.profileWork, top)
	}
	outDir := o.outDir
	if !filepath.IsAbs(outDir) {
		outDir = filepath.Join(root, outDir)
	}
	return writeResults(outDir, h, samples, rows, table, top)
}

// start builds luaproxy and the forwarder and starts the processes: native
// Redis, the scripting-less upstream, luaproxy in front of it and the
// forwarder in front of native Redis. The returned env, even with an
// error, must be closed.
func start(root, tmp string, o options) (*env, error) {
	e := &env{proxyBin: o.proxyBin}
	fwdBin := filepath.Join(tmp, "forwarder")
	builds := [][2]string{{fwdBin, "./test/bench/forwarder"}}
	if e.proxyBin == "" {
		e.proxyBin = filepath.Join(tmp, "luaproxy")
		builds = append(builds, [2]string{e.proxyBin, "./cmd/proxy"})
	}
	fmt.Println("building", len(builds), "binaries ...")
	for _, b := range builds {
		if err := benchkit.Build(root, b[0], b[1]); err != nil {
			return e, err
		}
	}

	startRedis := func(name string, extra ...string) (*redistest.Server, int, error) {
		s, pid, err := benchkit.StartRedis(tmp, name, extra...)
		if err == nil {
			e.cleanup = append(e.cleanup, s.Stop)
		}
		return s, pid, err
	}
	nat, natPID, err := startRedis("native")
	if err != nil {
		return e, err
	}
	up, upPID, err := startRedis("upstream", redistest.ScriptingDisabledArgs()...)
	if err != nil {
		return e, err
	}

	proxyAddr, err := benchkit.FreeAddr()
	if err != nil {
		return e, err
	}
	proxyArgs := []string{"--listen", proxyAddr, "--upstream", "redis://" + up.Addr, "--log-level", "warn", "--admin-listen", ""}
	if o.cpuprofile != "" {
		if e.adminAddr, err = benchkit.FreeAddr(); err != nil {
			return e, err
		}
		proxyArgs = append(proxyArgs[:len(proxyArgs)-1], e.adminAddr, "--pprof")
	}
	proxyArgs = append(proxyArgs, o.proxyArgs...)
	proxyCmd, err := benchkit.StartChild(e.proxyBin, proxyArgs...)
	if err != nil {
		return e, err
	}
	e.cleanup = append(e.cleanup, func() { benchkit.StopChild(proxyCmd) })
	e.targets = []target{
		{name: native, addr: nat.Addr, redisPID: natPID, redisAddr: nat.Addr},
		{name: luaproxy, addr: proxyAddr, frontPID: proxyCmd.Process.Pid, redisPID: upPID, redisAddr: up.Addr},
	}

	if o.forwarder {
		fwdAddr, err := benchkit.FreeAddr()
		if err != nil {
			return e, err
		}
		fwdCmd, err := benchkit.StartChild(fwdBin, "-listen", fwdAddr, "-target", nat.Addr)
		if err != nil {
			return e, err
		}
		e.cleanup = append(e.cleanup, func() { benchkit.StopChild(fwdCmd) })
		e.targets = append(e.targets, target{name: forwarder, addr: fwdAddr, frontPID: fwdCmd.Process.Pid, redisPID: natPID, redisAddr: nat.Addr})
	}
	for _, t := range e.targets {
		if err := benchkit.WaitPing(t.addr, 10*time.Second); err != nil {
			return e, fmt.Errorf("%s at %s: %w", t.name, t.addr, err)
		}
	}
	return e, nil
}

// prepare fills both redis-servers with the keys the scripts read, loads
// the scripts and the function library through native Redis and luaproxy,
// and calls every workload once on every target to prove it answers.
func (e *env) prepare() error {
	doc := document()
	var data [][]string
	for i := 0; i < keyspace; i++ {
		data = append(data,
			[]string{"SET", randKey("k:__rand_int__", i), fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", 48))},
			[]string{"SET", randKey("doc:__rand_int__", i), doc})
	}
	// Write straight into each redis-server, not through luaproxy, which
	// has no reason to be in the way of setting up data.
	loaded := map[string]bool{}
	for _, t := range e.targets {
		if loaded[t.redisAddr] {
			continue
		}
		loaded[t.redisAddr] = true
		if err := benchkit.Pipeline(t.redisAddr, data); err != nil {
			return fmt.Errorf("loading keys into the redis-server of %s: %w", t.name, err)
		}
	}

	e.shas = map[string]string{}
	for _, t := range e.targets {
		if t.name == forwarder {
			continue // same Redis as native
		}
		for _, s := range scripts {
			sum := sha1.Sum([]byte(s.body))
			want := hex.EncodeToString(sum[:])
			reply, err := benchkit.Do(t.addr, "SCRIPT", "LOAD", s.body)
			if err != nil {
				return fmt.Errorf("SCRIPT LOAD %s on %s: %w", s.name, t.name, err)
			}
			if got := string(reply); got != fmt.Sprintf("$40\r\n%s\r\n", want) {
				return fmt.Errorf("SCRIPT LOAD %s on %s: reply %q, want SHA1 %s", s.name, t.name, got, want)
			}
			e.shas[s.name] = want
		}
		reply, err := benchkit.Do(t.addr, "FUNCTION", "LOAD", "REPLACE", library())
		if err != nil {
			return fmt.Errorf("FUNCTION LOAD on %s: %w", t.name, err)
		}
		if string(reply) != fmt.Sprintf("$%d\r\n%s\r\n", len(libraryName), libraryName) {
			return fmt.Errorf("FUNCTION LOAD on %s: reply %q", t.name, reply)
		}
	}
	return nil
}

// measure runs redis-benchmark once and charges the CPU time the front
// process and the redis-server used meanwhile to the calls made.
func measure(bin string, t target, w workload, sha string, n, clients int) (sample, error) {
	host, port, _ := net.SplitHostPort(t.addr)
	args := []string{"-h", host, "-p", port, "-c", strconv.Itoa(clients), "-n", strconv.Itoa(n),
		"-r", strconv.Itoa(keyspace), "--csv"}
	args = append(args, w.command(sha)...)
	pids := []int{t.redisPID}
	if t.frontPID != 0 {
		pids = append(pids, t.frontPID)
	}
	statsBefore, err := benchkit.CommandStats(t.redisAddr)
	if err != nil {
		return sample{}, err
	}
	r, cpu, err := benchkit.Measure(n, pids, func() ([]byte, error) {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("redis-benchmark %s against %s: %w: %s%s", w.Name, t.name, err, out, stderr.Bytes())
		}
		return out, nil
	})
	if err != nil {
		return sample{}, err
	}
	statsAfter, err := benchkit.CommandStats(t.redisAddr)
	if err != nil {
		return sample{}, err
	}
	s := sample{Workload: w.Name, Target: t.name, Calls: n, RPS: r.RPS, P50ms: r.P50ms, P99ms: r.P99ms, RedisCPU: cpu[0]}
	if t.frontPID != 0 {
		s.FrontCPU = cpu[1]
	}
	s.RedisCmds = benchkit.PerCall(statsBefore, statsAfter, n)
	return s, nil
}

// profile captures a CPU profile of luaproxy from its pprof endpoint while
// redis-benchmark runs w against it. It runs after the measured rounds so
// that profiling does not slow them down.
func profile(bin string, t target, w workload, sha, adminAddr string, o options) error {
	host, port, _ := net.SplitHostPort(t.addr)
	return benchkit.CaptureCPUProfile(adminAddr, o.profileSecs, o.cpuprofile, func() error {
		// Short runs, so that the loop notices the profile's end soon.
		args := []string{"-h", host, "-p", port, "-c", strconv.Itoa(o.clients), "-n", "5000",
			"-r", strconv.Itoa(keyspace), "-q"}
		cmd := exec.Command(bin, append(args, w.command(sha)...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("redis-benchmark during profile: %w: %s", err, out)
		}
		return nil
	})
}

// pprofTop returns `go tool pprof -top` of a profile of bin, by
// cumulative time (which path the time goes down) and then by flat time
// (which functions burn it).
func pprofTop(bin, prof string) (string, error) {
	var b strings.Builder
	for _, sort := range []string{"-cum", "-flat"} {
		out, err := exec.Command("go", "tool", "pprof", "-top", sort, "-nodecount=30", bin, prof).Output()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "$ go tool pprof -top %s -nodecount=30\n%s\n", sort, out)
	}
	return b.String(), nil
}
