package main

import (
	"fmt"
	"math"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/test/bench/internal/benchkit"
)

// Conditions of the background part, its targets.
const (
	condAlone = "alone"
	condOther = "bg other keys"
	condSame  = "bg same keys"
)

var conditions = []string{condAlone, condOther, condSame}

// fgPattern is redis-benchmark's key of -t set and -t get with -r.
const fgPattern = "key:__rand_int__"

// backgroundLoad returns the script load of a condition: EVALSHA from
// bgClients connections, for longer than any measurement takes (it is
// stopped), on keys of its own or on the foreground's.
func (b *bench) backgroundLoad(cond string) load {
	l := load{clients: b.o.bgClients, n: math.MaxInt32, keyspace: b.o.keyspace, command: evalsha("bg:__rand_int__")}
	if cond == condSame {
		l.keyspace, l.command = b.o.fgKeys, evalsha(fgPattern)
	}
	return l
}

// background measures pass-through GET and SET through luaproxy (its
// default GOMAXPROCS) alone and while a background EVALSHA load runs,
// first on other keys, then on the keys the foreground uses.
func (b *bench) background(res *results) error {
	up, upPID, err := benchkit.StartRedis(b.tmp, "background-upstream", redistest.ScriptingDisabledArgs()...)
	if err != nil {
		return err
	}
	b.cleanup = append(b.cleanup, up.Stop)
	p, err := b.startProxy(targetHead, b.headBin, up.Addr, nil)
	if err != nil {
		return err
	}
	if err := loadScript(p.addr); err != nil {
		return err
	}

	fmt.Printf("\nbackground: redis-benchmark -c %d -n %d -r %d SET/GET, alone and with %d connections of EVALSHA on other keys / the same keys, %d round(s)\n",
		b.o.clients, b.o.n, b.o.fgKeys, b.o.bgClients, b.o.rounds)
	fg := func(test string, n int) load {
		return load{clients: b.o.clients, n: n, keyspace: b.o.fgKeys, test: test}
	}
	if err := warm(b.benchBin, p.addr, fg("set,get", min(b.o.n, 20000))); err != nil {
		return err
	}
	for round := 0; round < b.o.rounds; round++ {
		for i := range conditions {
			cond := conditions[(i+round)%len(conditions)]
			stop := func() {}
			if cond != condAlone {
				if stop, err = b.startBackground(p.addr, up.Addr, b.backgroundLoad(cond)); err != nil {
					return err
				}
			}
			for _, test := range passthroughTests {
				m, err := b.measureWithBackground(p.addr, up.Addr, fg(test, b.o.n), upPID)
				if err != nil {
					stop()
					return err
				}
				if cond == condAlone {
					m.BgRPS = 0 // the last calls of a stopped load, if any
				}
				s := sample{Part: partBackground, Workload: test, Target: cond, Round: round, measurement: m}
				res.Samples = append(res.Samples, s)
				s.print()
			}
			stop()
		}
	}
	return nil
}

// startBackground starts redis-benchmark running l against addr and
// returns once the scripts' calls reach the upstream at upAddr; stop ends
// the load.
func (b *bench) startBackground(addr, upAddr string, l load) (stop func(), err error) {
	before, err := benchkit.CommandStats(upAddr)
	if err != nil {
		return nil, err
	}
	cmd, err := benchkit.StartChild(b.benchBin, l.args(addr, "-q")...)
	if err != nil {
		return nil, err
	}
	stop = func() { benchkit.StopChild(cmd) }
	// Every script call GETs once: wait for a few hundred of them, so
	// that every background connection is up and busy.
	deadline := time.Now().Add(30 * time.Second)
	for {
		after, err := benchkit.CommandStats(upAddr)
		if err != nil {
			stop()
			return nil, err
		}
		if after["get"]-before["get"] >= int64(10*l.clients) {
			return stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("background load at %s: %d script calls in 30 s", addr, after["get"]-before["get"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// measureWithBackground measures the foreground l and, from the
// upstream's command counts, the background script calls meanwhile: every
// call GETs and SETs once, the foreground SET only SETs and GET only GETs,
// so the other command counts the scripts.
func (b *bench) measureWithBackground(addr, upAddr string, l load, upPID int) (measurement, error) {
	other := "get"
	if l.test == "get" {
		other = "set"
	}
	before, err := benchkit.CommandStats(upAddr)
	if err != nil {
		return measurement{}, err
	}
	start := time.Now()
	m, err := measure(b.benchBin, addr, l, upPID, 0)
	if err != nil {
		return m, err
	}
	elapsed := time.Since(start)
	after, err := benchkit.CommandStats(upAddr)
	if err != nil {
		return m, err
	}
	m.BgRPS = float64(after[other]-before[other]) / elapsed.Seconds()
	return m, nil
}
