//go:build !corpus_nolua

package corpus

import (
	"context"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/luavm"
)

// luavmEval runs scripts with luavm in front of a redis-server that has
// scripting disabled.
type luavmEval struct {
	t      *testing.T
	vm     *luavm.VM
	caller *caller
}

func newLuavm(t *testing.T) *luavmEval {
	up := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	c := &caller{t: t, conns: [2]*redistest.Conn{up.Dial(t), up.Dial(t)}}
	if r := c.conns[1].MustDo(t, "HELLO", "3"); len(r) == 0 || r[0] != '%' {
		t.Fatalf("HELLO 3: %q", r)
	}
	vm, err := luavm.New(luavm.Config{PoolSize: 1, RedisVersion: "7.0.15"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Close)
	return &luavmEval{t: t, vm: vm, caller: c}
}

func (e *luavmEval) conn() *redistest.Conn { return e.caller.conns[0] }

func (e *luavmEval) eval(c *Case, proto int) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	return e.vm.Eval(ctx, []byte(c.Body), luavm.Request{
		Keys:   toBytes(c.Keys),
		Args:   toBytes(c.Args),
		Proto:  proto,
		Caller: e.caller,
	})
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// caller is luavm.Caller over one RESP2 and one RESP3 connection to the
// upstream.
type caller struct {
	t     *testing.T
	conns [2]*redistest.Conn
}

func (c *caller) Call(argv [][]byte, proto int) ([]byte, error) {
	if proto != 3 {
		proto = 2
	}
	conn := c.conns[proto-2]
	args := make([]string, len(argv))
	for i, a := range argv {
		args[i] = string(a)
	}
	_ = conn.NetConn().SetDeadline(time.Now().Add(deadline))
	return conn.Do(args...)
}
