// Command locks is the lock benchmark of issue 7: what the per-shard locks
// that make scripts atomic cost, and what they buy.
//
//	go run ./test/bench/locks [-rounds 3] [-n 100000] [-script-n 20000] [-quick]
//	                          [-baseline 14c6da8] [-parts passthrough,scaling,background]
//
// It has three parts:
//
//   - passthrough: redis-benchmark SET and GET at -P 1 and -P 16 through
//     luaproxy built from the working tree and from -baseline (a revision
//     without locks), both in front of one redis-server, and directly. The
//     issue's target: locking costs at most 5% of pass-through throughput
//     when no script runs.
//   - scaling: EVALSHA of a script with some Lua work, on disjoint keys and
//     on one hot key, through luaproxy run with GOMAXPROCS=1 and 2 in front
//     of a redis-server without scripting, and on native Redis.
//   - background: pass-through GET and SET alone, while a background
//     EVALSHA load runs on other keys, and while it runs on the same keys.
//
// Each round runs every target of a measurement in an order that alternates
// across rounds, so that drift on the shared machine does not favour one;
// medians over rounds are reported and written to .bench/locks-<time>.*.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/luaproxy/luaproxy/test/bench/internal/benchkit"
)

// Parts of the benchmark, in the order they run.
const (
	partPassthrough = "passthrough"
	partScaling     = "scaling"
	partBackground  = "background"
)

var allParts = []string{partPassthrough, partScaling, partBackground}

type options struct {
	rounds      int
	n           int    // requests per pass-through run
	scriptN     int    // calls per EVALSHA run
	clients     int    // foreground redis-benchmark connections
	bgClients   int    // background EVALSHA connections
	keyspace    int    // -r of the disjoint script keys
	fgKeys      int    // -r of the background part's GET/SET keys
	ptKeys      int    // -r of the passthrough part; 0: one key, as test/bench
	baseline    string // revision without locks
	head        string // revision to measure; "" for the working tree
	parts       []string
	cpuprofile  string
	profileSecs int
	profilePipe int
	outDir      string
}

func main() {
	var o options
	quick := flag.Bool("quick", false, "one round of few requests: a smoke test, not a measurement")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; medians are reported")
	flag.IntVar(&o.n, "n", 100000, "requests per pass-through redis-benchmark run")
	flag.IntVar(&o.scriptN, "script-n", 20000, "calls per EVALSHA redis-benchmark run")
	flag.IntVar(&o.clients, "c", 50, "redis-benchmark parallel connections")
	flag.IntVar(&o.bgClients, "bg-c", 20, "connections of the background EVALSHA load")
	flag.IntVar(&o.keyspace, "r", 100000, "keyspace (redis-benchmark -r) of the disjoint-key scripts")
	flag.IntVar(&o.fgKeys, "fg-keys", 100, "keyspace of the background part's GET/SET, shared with the conflicting script load")
	flag.IntVar(&o.ptKeys, "pt-keys", 0, "keyspace of the passthrough part's GET/SET; 0 uses one key, as test/bench does")
	// 14c6da8, the last commit before the locks, does not compile (its
	// proxy calls luavm's KillScripts with the signature it replaced,
	// fixed only by the locks' commit 8653709); its parent, 522852a,
	// differs from it by luavm only and from 8653709's parent, in the
	// pass-through path, by ten lines (no locks).
	flag.StringVar(&o.baseline, "baseline", "522852a", "revision of luaproxy without locks to compare with")
	flag.StringVar(&o.head, "head", "", "revision of luaproxy to measure; empty for the working tree")
	parts := flag.String("parts", strings.Join(allParts, ","), "comma-separated parts to run")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "after the passthrough rounds, write CPU profiles of luaproxy (FILE) and of the baseline (FILE.base) under SET/GET")
	flag.IntVar(&o.profileSecs, "profile-seconds", 10, "length of each -cpuprofile capture")
	flag.IntVar(&o.profilePipe, "profile-pipeline", 1, "redis-benchmark -P during the -cpuprofile captures")
	flag.StringVar(&o.outDir, "out", ".bench", "directory for the JSON and markdown results, relative to the module root")
	flag.Parse()
	if *quick {
		o.rounds, o.n, o.scriptN = 1, 5000, 500
	}
	var err error
	if o.parts, err = parseParts(*parts); err == nil {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/locks:", err)
		os.Exit(1)
	}
}

func parseParts(s string) ([]string, error) {
	var parts []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(allParts, p) {
			return nil, fmt.Errorf("unknown part %q (have %s)", p, strings.Join(allParts, ", "))
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// bench is what every part needs: redis-benchmark, the luaproxy binaries
// and a scratch directory, and the cleanups of what the parts started.
type bench struct {
	o         options
	benchBin  string
	root, tmp string
	headBin   string
	baseBin   string
	headRev   string // how the measured luaproxy is described
	baseRev   string
	cleanup   []func()
}

func (b *bench) close() {
	for i := len(b.cleanup) - 1; i >= 0; i-- {
		b.cleanup[i]()
	}
	b.cleanup = nil
}

func run(o options) error {
	ws, err := benchkit.NewWorkspace("luaproxy-bench-locks-")
	if err != nil {
		return err
	}
	defer ws.Close()
	b := &bench{o: o, benchBin: ws.Benchmark, root: ws.Root, tmp: ws.Tmp}
	defer b.close()
	if err := b.build(); err != nil {
		return err
	}

	res := results{Header: header{
		Rounds: o.rounds, N: o.n, ScriptN: o.scriptN, Clients: o.clients, BgClients: o.bgClients,
		Keyspace: o.keyspace, FgKeys: o.fgKeys, PtKeys: o.ptKeys, Head: b.headRev, Baseline: b.baseRev,
		LoadBefore: loadAverage(),
	}}
	for _, p := range o.parts {
		var err error
		switch p {
		case partPassthrough:
			err = b.passthrough(&res)
		case partScaling:
			err = b.scaling(&res)
		case partBackground:
			err = b.background(&res)
		}
		b.close() // each part starts its own processes
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	res.Header.LoadAfter = loadAverage()

	res.summarize()
	table := res.render()
	fmt.Println()
	fmt.Print(table)
	outDir := o.outDir
	if !filepath.IsAbs(outDir) {
		outDir = filepath.Join(b.root, outDir)
	}
	return res.write(outDir, table)
}

// build builds luaproxy from the working tree (or -head) and from the
// baseline revision, both with -trimpath so that they differ by their
// sources only.
func (b *bench) build() error {
	var err error
	b.headBin = filepath.Join(b.tmp, "luaproxy-head")
	if b.o.head == "" {
		rev, err := benchkit.Git(b.root, "describe", "--always", "--dirty")
		if err != nil {
			return err
		}
		b.headRev = "working tree " + rev
		fmt.Println("building luaproxy from the working tree", rev, "...")
		if err := benchkit.BuildTrimmed(b.root, b.headBin, "./cmd/proxy"); err != nil {
			return err
		}
	} else if b.headRev, err = b.buildRevision(b.o.head, b.headBin); err != nil {
		return err
	}
	if !slices.Contains(b.o.parts, partPassthrough) {
		return nil // only the pass-through part compares with the baseline
	}
	b.baseBin = filepath.Join(b.tmp, "luaproxy-base")
	b.baseRev, err = b.buildRevision(b.o.baseline, b.baseBin)
	return err
}

func (b *bench) buildRevision(rev, out string) (string, error) {
	desc, err := benchkit.Git(b.root, "log", "-1", "--format=%h %s", rev)
	if err != nil {
		return "", err
	}
	fmt.Println("building luaproxy from", desc, "...")
	src := out + "-src"
	if err := benchkit.ExportRevision(b.root, rev, src); err != nil {
		return "", err
	}
	return desc, benchkit.BuildTrimmed(src, out, "./cmd/proxy")
}

// proxy is a running luaproxy.
type proxy struct {
	name  string
	addr  string
	admin string
	pid   int
}

// startProxy starts bin in front of upstream with env added to its
// environment; it is stopped by close.
func (b *bench) startProxy(name, bin, upstream string, env []string) (proxy, error) {
	p := proxy{name: name}
	var err error
	if p.addr, err = benchkit.FreeAddr(); err != nil {
		return p, err
	}
	if p.admin, err = benchkit.FreeAddr(); err != nil {
		return p, err
	}
	cmd, err := benchkit.StartChildEnv(env, bin, "--listen", p.addr, "--upstream", "redis://"+upstream,
		"--admin-listen", p.admin, "--pprof", "--log-level", "error")
	if err != nil {
		return p, err
	}
	b.cleanup = append(b.cleanup, func() { benchkit.StopChild(cmd) })
	p.pid = cmd.Process.Pid
	if err := benchkit.WaitPing(p.addr, 15*time.Second); err != nil {
		return p, fmt.Errorf("%s at %s: %w", name, p.addr, err)
	}
	return p, nil
}

// loadAverage returns the first three fields of /proc/loadavg: the
// machine is shared, and the figures mean little without it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
