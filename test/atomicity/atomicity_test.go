// Package atomicity checks that luaproxy makes every script atomic with
// respect to all traffic through it, as Redis does by running one thing at
// a time: no lost update, no torn read, no interleaved write, no deadlock
// between scripts that touch undeclared keys, and Redis's busy-script
// behaviour. Every test runs against a real upstream with scripting
// switched off, so the proxy's locks are all that stands between the
// clients; run under -race, bounded by the test timeout.
package atomicity

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/luavm"
	"github.com/luaproxy/luaproxy/proxy"
	"github.com/luaproxy/luaproxy/test/harness"
)

// Sizes: the 50 clients; calls per client kept small so the tests
// stay quick under -race and can run 20 times in a row.
const (
	clients        = 50
	callsPerClient = 20
)

type env struct {
	h   *harness.Harness
	vm  *luavm.VM
	rdb *redis.Client
}

// start runs luaproxy (scripts and functions) in front of a
// scripting-disabled Redis; configure edits its settings.
func start(t *testing.T, configure func(*config.Config)) *env {
	t.Helper()
	vm, err := luavm.New(luavm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Close)
	fns, err := proxy.NewFunctions(vm, proxy.FunctionsOptions{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fns.Close)
	h := proxy.NewScripting(vm, proxy.ScriptingOptions{Functions: fns}, nil, nil)
	opts := []harness.Option{harness.WithHandler(h)}
	if configure != nil {
		opts = append(opts, harness.WithConfig(configure))
	}
	hs := harness.Start(t, opts...)
	rdb := redis.NewClient(&redis.Options{Addr: hs.ProxyAddr, Protocol: 2, PoolSize: clients + 10,
		ReadTimeout: 30 * time.Second, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return &env{h: hs, vm: vm, rdb: rdb}
}

// modes runs a test with scripts' calls on their clients' own upstream
// connections and on shared pipelined ones: the locks must hold either way.
func modes(t *testing.T, test func(t *testing.T, e *env)) {
	for _, conns := range []int{0, 2} {
		t.Run(fmt.Sprintf("script-upstream-conns=%d", conns), func(t *testing.T) {
			test(t, start(t, func(c *config.Config) { c.ScriptUpstreamConns = conns }))
		})
	}
}

// parallel runs fn for each of n clients and waits; the first error fails
// the test.
func parallel(t *testing.T, n int, fn func(client int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for c := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(c); err != nil {
				errs <- fmt.Errorf("client %d: %w", c, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

const incrSource = `
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
redis.call('SET', KEYS[1], v + 1)
return v + 1`

var incrScript = redis.NewScript(incrSource)

// TestNoLostUpdate: GET-then-SET increments by 50 clients, mixed with
// pass-through INCRs of the same key, lose nothing.
func TestNoLostUpdate(t *testing.T) {
	modes(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var incrs atomic.Int64
		parallel(t, clients, func(c int) error {
			for i := range callsPerClient {
				if err := incrScript.Run(ctx, e.rdb, []string{"counter"}).Err(); err != nil {
					return err
				}
				if (c+i)%4 == 0 {
					if err := e.rdb.Incr(ctx, "counter").Err(); err != nil {
						return err
					}
					incrs.Add(1)
				}
			}
			return nil
		})
		got, err := e.rdb.Get(ctx, "counter").Int64()
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(clients*callsPerClient) + incrs.Load(); got != want {
			t.Fatalf("counter = %d, want %d: updates were lost", got, want)
		}
	})
}

// TestNoTornReads: a script increments two keys in different shards;
// pass-through MGETs never see them differ.
func TestNoTornReads(t *testing.T) {
	modes(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pair := redis.NewScript(`redis.call('INCR', KEYS[1]); redis.call('INCR', KEYS[2])`)
		var done atomic.Bool
		var reads atomic.Int64
		parallel(t, clients, func(c int) error {
			if c%2 == 0 {
				defer func() {
					if c == 0 {
						done.Store(true)
					}
				}()
				for range callsPerClient {
					if err := pair.Run(ctx, e.rdb, []string{"pair:a", "pair:b"}).Err(); err != nil && !errors.Is(err, redis.Nil) {
						return err
					}
				}
				return nil
			}
			for i := 0; i < callsPerClient || !done.Load(); i++ {
				v, err := e.rdb.MGet(ctx, "pair:a", "pair:b").Result()
				if err != nil {
					return err
				}
				reads.Add(1)
				if fmt.Sprint(v[0]) != fmt.Sprint(v[1]) {
					return fmt.Errorf("torn read: pair:a=%v pair:b=%v", v[0], v[1])
				}
			}
			return nil
		})
		t.Logf("%d MGETs, none torn", reads.Load())
	})
}

// TestIsolation: a script writes a key, spins, and reads it back while
// pass-through clients write the same key: it always reads its own write.
func TestIsolation(t *testing.T) {
	modes(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		own := redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1])
local x = 0
for i = 1, 20000 do x = x + i end
return redis.call('GET', KEYS[1]) == ARGV[1] and 1 or 0`)
		var stop atomic.Bool
		parallel(t, clients, func(c int) error {
			if c%5 != 0 {
				for !stop.Load() {
					if err := e.rdb.Set(ctx, "iso", "other-"+strconv.Itoa(c), 0).Err(); err != nil {
						return err
					}
				}
				return nil
			}
			defer stop.Store(true)
			for i := range callsPerClient {
				me := fmt.Sprintf("script-%d-%d", c, i)
				n, err := own.Run(ctx, e.rdb, []string{"iso"}, me).Int()
				if err != nil {
					return err
				}
				if n != 1 {
					return fmt.Errorf("run %s read another client's write", me)
				}
			}
			return nil
		})
	})
}

// TestUndeclaredKeys: transfers between accounts whose keys the script
// builds itself (declaring none, as queue libraries do) keep the total,
// with no deadlock, while readers check the total with MGET.
func TestUndeclaredKeys(t *testing.T) {
	modes(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const accounts, initial = 8, 1000
		keys := make([]string, accounts)
		for i := range keys {
			keys[i] = "acct:" + strconv.Itoa(i)
			if err := e.rdb.Set(ctx, keys[i], initial, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		transfer := redis.NewScript(`
local from, to = 'acct:' .. ARGV[1], 'acct:' .. ARGV[2]
local a = tonumber(redis.call('GET', from))
local b = tonumber(redis.call('GET', to))
redis.call('SET', from, a - 1)
redis.call('SET', to, b + 1)
return 1`)
		var done atomic.Int32
		writers := clients - clients/5
		parallel(t, clients, func(c int) error {
			r := rand.New(rand.NewPCG(uint64(c), 7))
			if c < writers {
				defer done.Add(1)
				for range callsPerClient {
					from, to := r.IntN(accounts), r.IntN(accounts)
					if from == to {
						to = (to + 1) % accounts
					}
					if err := transfer.Run(ctx, e.rdb, nil, from, to).Err(); err != nil {
						return err
					}
				}
				return nil
			}
			for int(done.Load()) < writers {
				vals, err := e.rdb.MGet(ctx, keys...).Result()
				if err != nil {
					return err
				}
				if sum := total(vals); sum != accounts*initial {
					return fmt.Errorf("MGET saw a total of %d, want %d: %v", sum, accounts*initial, vals)
				}
			}
			return nil
		})
		vals, err := e.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			t.Fatal(err)
		}
		if sum := total(vals); sum != accounts*initial {
			t.Fatalf("final total %d, want %d", sum, accounts*initial)
		}
		if n := metric(t, e.h, "luaproxy_lock_escalated_scripts_total"); n != 1 {
			t.Errorf("escalated scripts = %v, want 1 (the transfer script, learnt once)", n)
		}
	})
}

// TestBusyScript: a script spinning on one key stops only commands on that
// key, and only with -BUSY once past busy-reply-threshold; SCRIPT KILL
// ends it; one that wrote is UNKILLABLE.
func TestBusyScript(t *testing.T) {
	e := start(t, func(c *config.Config) { c.BusyReplyThreshold = 50 * time.Millisecond })
	ctx := context.Background()
	spinner := e.h.DialProxy(t)
	if err := spinner.Send("EVAL", "redis.call('GET', KEYS[1]) while true do end", "1", "busy:key"); err != nil {
		t.Fatal(err)
	}
	if err := spinner.Flush(); err != nil {
		t.Fatal(err)
	}
	other := e.h.DialProxy(t)
	other.WaitReply(t, "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n", "GET", "busy:key")
	// Other shards are unaffected, and so are keyless commands.
	for _, args := range [][]string{{"SET", "free:key", "1"}, {"GET", "free:key"}, {"PING"}} {
		if got := string(other.MustDo(t, args...)); strings.HasPrefix(got, "-") {
			t.Fatalf("%v during a busy script on another key: %q", args, got)
		}
	}
	if got := string(other.MustDo(t, "EVAL", "return redis.call('GET', KEYS[1])", "1", "busy:key")); !strings.HasPrefix(got, "-BUSY ") {
		t.Fatalf("EVAL on the busy key: %q", got)
	}
	if got := string(other.MustDo(t, "FUNCTION", "KILL")); !strings.HasPrefix(got, "-BUSY ") {
		t.Fatalf("FUNCTION KILL of a script: %q", got)
	}
	if got := string(other.MustDo(t, "SCRIPT", "KILL")); got != "+OK\r\n" {
		t.Fatalf("SCRIPT KILL: %q", got)
	}
	if got, err := spinner.Read(); err != nil || !strings.HasPrefix(string(got), "-ERR Script killed by user with SCRIPT KILL") {
		t.Fatalf("killed script's reply: %q, %v", got, err)
	}
	if got := string(other.MustDo(t, "GET", "busy:key")); got != "$-1\r\n" {
		t.Fatalf("GET after the kill: %q", got)
	}
	if got := string(other.MustDo(t, "SCRIPT", "KILL")); got != "-NOTBUSY No scripts in execution right now.\r\n" {
		t.Fatalf("SCRIPT KILL with nothing running: %q", got)
	}

	// A script that wrote cannot be killed.
	if err := spinner.Send("EVAL", "redis.call('SET', KEYS[1], 'x') while true do end", "1", "busy:key"); err != nil {
		t.Fatal(err)
	}
	if err := spinner.Flush(); err != nil {
		t.Fatal(err)
	}
	other.WaitReply(t, "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n", "GET", "busy:key")
	if got := string(other.MustDo(t, "SCRIPT", "KILL")); !strings.HasPrefix(got, "-UNKILLABLE ") {
		t.Fatalf("SCRIPT KILL of a script that wrote: %q", got)
	}
	e.vm.Kill() // what SHUTDOWN NOSAVE would end
	if got, err := spinner.Read(); err != nil || !strings.HasPrefix(string(got), "-") {
		t.Fatalf("ended script's reply: %q, %v", got, err)
	}
	if v, err := e.rdb.Get(ctx, "busy:key").Result(); err != nil || v != "x" {
		t.Fatalf("busy:key = %q, %v", v, err)
	}
	if n := metric(t, e.h, "luaproxy_busy_replies_total"); n < 3 {
		t.Errorf("busy replies = %v, want at least 3", n)
	}
}

// TestMultiWithScripts: a transaction with a script in it runs under one
// lock set: the GET queued after the script sees the script's write, never
// another client's INCR in between, and no update is lost.
func TestMultiWithScripts(t *testing.T) {
	modes(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var incrs atomic.Int64
		parallel(t, clients, func(c int) error {
			for i := range callsPerClient {
				if c%2 == 1 {
					if err := e.rdb.Incr(ctx, "tx:counter").Err(); err != nil {
						return err
					}
					incrs.Add(1)
					continue
				}
				var script *redis.Cmd
				var get *redis.StringCmd
				_, err := e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
					script = p.Eval(ctx, incrSource, []string{"tx:counter"})
					get = p.Get(ctx, "tx:counter")
					return nil
				})
				if err != nil {
					return fmt.Errorf("call %d: %w", i, err)
				}
				if fmt.Sprint(script.Val()) != get.Val() {
					return fmt.Errorf("the script wrote %v but the next command in its transaction read %s", script.Val(), get.Val())
				}
			}
			return nil
		})
		got, err := e.rdb.Get(ctx, "tx:counter").Int64()
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(clients/2*callsPerClient) + incrs.Load(); got != want {
			t.Fatalf("tx:counter = %d, want %d", got, want)
		}
	})
}
