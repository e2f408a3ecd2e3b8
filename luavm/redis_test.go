package luavm

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// redisCaller sends redis.call's commands to a real redis-server over two
// raw connections, one per protocol.
type redisCaller struct {
	mu     sync.Mutex
	c2, c3 *redistest.Conn
}

func newRedisCaller(tb testing.TB, s *redistest.Server) *redisCaller {
	c := &redisCaller{c2: s.Dial(tb), c3: s.Dial(tb)}
	if _, err := c.c3.Do("HELLO", "3"); err != nil {
		tb.Fatal(err)
	}
	return c
}

func (c *redisCaller) Call(argv [][]byte, proto int) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	args := make([]string, len(argv))
	for i, a := range argv {
		args[i] = string(a)
	}
	conn := c.c2
	if proto == 3 {
		conn = c.c3
	}
	return conn.Do(args...)
}

// diffEnv runs scripts on a real redis-server with EVAL and on luavm with
// the same server behind redis.call.
type diffEnv struct {
	srv    *redistest.Server
	direct map[int]*redistest.Conn
	caller *redisCaller
	vm     *VM
}

func newDiffEnv(tb testing.TB, cfg Config) *diffEnv {
	srv := redistest.Start(tb)
	d := &diffEnv{srv: srv, direct: map[int]*redistest.Conn{2: srv.Dial(tb), 3: srv.Dial(tb)}}
	d.direct[3].MustDo(tb, "HELLO", "3")
	d.caller = newRedisCaller(tb, srv)
	vm, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(vm.Close)
	d.vm = vm
	return d
}

type evalCase struct {
	script string
	keys   []string
	args   []string
	proto  int
	setup  [][]string // commands run before each side
}

func (c evalCase) proto2() int {
	if c.proto == 0 {
		return 2
	}
	return c.proto
}

// redis runs the case on the real server with EVAL.
func (d *diffEnv) redis(tb testing.TB, c evalCase) []byte {
	d.reset(tb, c)
	args := []string{"EVAL", c.script, strconv.Itoa(len(c.keys))}
	args = append(append(args, c.keys...), c.args...)
	return d.direct[c.proto2()].MustDo(tb, args...)
}

// luavm runs the case on luavm.
func (d *diffEnv) luavm(tb testing.TB, c evalCase) []byte {
	d.reset(tb, c)
	return d.vm.Eval(context.Background(), []byte(c.script), Request{
		Keys: toBytes(c.keys), Args: toBytes(c.args), Proto: c.proto2(), Caller: d.caller,
	})
}

// redisNoReset and luavmNoReset run a case without FLUSHALL first (for
// connections whose user may not flush).
func (d *diffEnv) redisNoReset(tb testing.TB, c evalCase) []byte {
	args := []string{"EVAL", c.script, strconv.Itoa(len(c.keys))}
	args = append(append(args, c.keys...), c.args...)
	return d.direct[c.proto2()].MustDo(tb, args...)
}

func (d *diffEnv) luavmNoReset(tb testing.TB, c evalCase) []byte {
	return d.vm.Eval(context.Background(), []byte(c.script), Request{
		Keys: toBytes(c.keys), Args: toBytes(c.args), Proto: c.proto2(), Caller: d.caller,
	})
}

func (d *diffEnv) reset(tb testing.TB, c evalCase) {
	d.direct[2].MustDo(tb, "FLUSHALL")
	d.direct[2].MustDo(tb, "SCRIPT", "FLUSH")
	for _, cmd := range c.setup {
		d.direct[2].MustDo(tb, cmd...)
	}
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}
