package main

import (
	"fmt"

	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/test/bench/internal/benchkit"
)

// Targets of the scaling part.
const (
	targetNative = "native"
	targetProcs1 = "GOMAXPROCS=1"
	targetProcs2 = "GOMAXPROCS=2"
)

// Workloads of the scaling part.
const (
	workDisjoint = "disjoint"
	workHot      = "hot"
)

// hotKey is the one key of the hot workload.
const hotKey = "hot"

// scalingLoad returns the redis-benchmark run of a scaling workload.
func (b *bench) scalingLoad(work string) load {
	if work == workHot {
		return load{clients: b.o.clients, n: b.o.scriptN, command: evalsha(hotKey)}
	}
	return load{clients: b.o.clients, n: b.o.scriptN, keyspace: b.o.keyspace, command: evalsha("k:__rand_int__")}
}

// scaling measures EVALSHA of script on disjoint keys and on one hot key
// through luaproxy with one and two Ps, in front of a redis-server with
// scripting switched off, and on native Redis for reference.
func (b *bench) scaling(res *results) error {
	native, nativePID, err := benchkit.StartRedis(b.tmp, "scaling-native")
	if err != nil {
		return err
	}
	b.cleanup = append(b.cleanup, native.Stop)
	up, upPID, err := benchkit.StartRedis(b.tmp, "scaling-upstream", redistest.ScriptingDisabledArgs()...)
	if err != nil {
		return err
	}
	b.cleanup = append(b.cleanup, up.Stop)
	p1, err := b.startProxy(targetProcs1, b.headBin, up.Addr, []string{"GOMAXPROCS=1"})
	if err != nil {
		return err
	}
	p2, err := b.startProxy(targetProcs2, b.headBin, up.Addr, []string{"GOMAXPROCS=2"})
	if err != nil {
		return err
	}
	type target struct {
		proxy
		redisPID int
	}
	targets := []target{{proxy{name: targetNative, addr: native.Addr}, nativePID}, {p1, upPID}, {p2, upPID}}
	for _, t := range targets {
		if err := loadScript(t.addr); err != nil {
			return err
		}
	}

	fmt.Printf("\nscaling: redis-benchmark -c %d -n %d EVALSHA, disjoint keys (-r %d) and one hot key, %d round(s)\n",
		b.o.clients, b.o.scriptN, b.o.keyspace, b.o.rounds)
	works := []string{workDisjoint, workHot}
	for _, t := range targets {
		for _, w := range works {
			l := b.scalingLoad(w)
			l.n = min(l.n, 2000)
			if err := warm(b.benchBin, t.addr, l); err != nil {
				return err
			}
		}
	}
	for round := 0; round < b.o.rounds; round++ {
		for _, w := range works {
			for i := range targets {
				t := targets[(i+round)%len(targets)]
				m, err := measure(b.benchBin, t.addr, b.scalingLoad(w), t.redisPID, t.pid)
				if err != nil {
					return err
				}
				s := sample{Part: partScaling, Workload: w, Target: t.name, Round: round, measurement: m}
				res.Samples = append(res.Samples, s)
				s.print()
			}
		}
	}
	return nil
}
