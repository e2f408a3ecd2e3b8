package main

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"

	"github.com/luaproxy/luaproxy/test/bench/internal/benchkit"
)

// Targets of the passthrough part.
const (
	targetDirect   = "direct"
	targetBaseline = "baseline"
	targetHead     = "luaproxy"
)

var passthroughTests = []string{"set", "get"}

var passthroughPipelines = []int{1, 16}

// passthroughRequests is the number of requests of a run at a pipeline
// depth: ten times n when pipelined, so that the proxy's CPU time per
// request (about a tenth of that at P1) still spans hundreds of clock
// ticks and the run lasts about as long.
func passthroughRequests(n, pipeline int) int {
	if pipeline > 1 {
		return 10 * n
	}
	return n
}

func passthroughWorkload(test string, pipeline int) string {
	return fmt.Sprintf("%s P%d", test, pipeline)
}

// passthrough measures SET and GET through luaproxy with and without
// locks, in front of one redis-server with scripting on (no script runs),
// and directly. Within a round the two luaproxies run back to back in an
// order that alternates across rounds.
func (b *bench) passthrough(res *results) error {
	redis, redisPID, err := benchkit.StartRedis(b.tmp, "passthrough")
	if err != nil {
		return err
	}
	b.cleanup = append(b.cleanup, redis.Stop)
	head, err := b.startProxy(targetHead, b.headBin, redis.Addr, nil)
	if err != nil {
		return err
	}
	base, err := b.startProxy(targetBaseline, b.baseBin, redis.Addr, nil)
	if err != nil {
		return err
	}
	direct := proxy{name: targetDirect, addr: redis.Addr}

	fmt.Printf("\npassthrough: redis-benchmark -c %d -n %d (x10 at P16), P %v, %d round(s)\n", b.o.clients, b.o.n, passthroughPipelines, b.o.rounds)
	for _, t := range []proxy{direct, head, base} {
		for _, p := range passthroughPipelines {
			if err := warm(b.benchBin, t.addr, load{clients: b.o.clients, n: min(b.o.n, 20000), pipeline: p, keyspace: b.o.ptKeys, test: "set,get"}); err != nil {
				return err
			}
		}
	}
	for round := 0; round < b.o.rounds; round++ {
		proxies := []proxy{head, base}
		if round%2 == 1 {
			proxies = []proxy{base, head}
		}
		for _, p := range passthroughPipelines {
			for _, test := range passthroughTests {
				l := load{clients: b.o.clients, n: passthroughRequests(b.o.n, p), pipeline: p, keyspace: b.o.ptKeys, test: test}
				// Direct first or last, alternately; the luaproxies
				// always back to back.
				order := append([]proxy{direct}, proxies...)
				if round%2 == 1 {
					order = append(proxies, direct)
				}
				for _, t := range order {
					m, err := measure(b.benchBin, t.addr, l, redisPID, t.pid)
					if err != nil {
						return err
					}
					s := sample{Part: partPassthrough, Workload: passthroughWorkload(test, p), Target: t.name, Round: round, measurement: m}
					res.Samples = append(res.Samples, s)
					s.print()
				}
			}
		}
	}
	if b.o.cpuprofile == "" {
		return nil
	}
	for _, t := range []struct {
		p    proxy
		file string
	}{{head, b.o.cpuprofile}, {base, b.o.cpuprofile + ".base"}} {
		if err := b.profile(t.p, t.file); err != nil {
			return err
		}
		fmt.Printf("CPU profile of %s under P%d SET/GET written to %s\n", t.p.name, b.o.profilePipe, t.file)
	}
	return nil
}

// profile captures a CPU profile of p while redis-benchmark keeps it busy
// with SET and GET at the pipeline depth of -profile-pipeline.
func (b *bench) profile(p proxy, file string) error {
	host, port, _ := net.SplitHostPort(p.addr)
	return benchkit.CaptureCPUProfile(p.admin, b.o.profileSecs, file, func() error {
		args := []string{"-h", host, "-p", port, "-c", strconv.Itoa(b.o.clients), "-n", strconv.Itoa(passthroughRequests(20000, b.o.profilePipe)),
			"-P", strconv.Itoa(b.o.profilePipe), "-t", "set,get", "-q"}
		if b.o.ptKeys > 0 {
			args = append(args, "-r", strconv.Itoa(b.o.ptKeys))
		}
		if out, err := exec.Command(b.benchBin, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("redis-benchmark during profile: %w: %s", err, out)
		}
		return nil
	})
}
