package functions

import (
	"testing"

	"github.com/luaproxy/luaproxy/luavm"
	"github.com/luaproxy/luaproxy/proxy"
	"github.com/luaproxy/luaproxy/registry"
	"github.com/luaproxy/luaproxy/test/harness"
)

type step = harness.Step

func cmd(args ...string) step { return step{Cmd: args} }

// list is a FUNCTION LIST step whose reply is compared order-insensitively.
func list(args ...string) step {
	return step{Cmd: append([]string{"FUNCTION", "LIST"}, args...), Norm: sortedList}
}

const (
	libA = "#!lua name=mylib\n" +
		"redis.register_function('f1', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n" +
		"redis.register_function{function_name='ro1', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads a key'}\n"
	libB = "#!lua name=other\n" +
		"redis.register_function{function_name='g1', callback=function(keys, args) return {#keys, #args, keys, args} end, flags={'allow-oom', 'no-writes', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}}\n" +
		"redis.register_function('g2', function() return redis.error_reply('my error') end)\n" +
		"redis.register_function('g3', function() return {1, 2.5, 'x', {ok='fine'}, {err='bad'}, true, false} end)\n"
	libC = "#!lua name=clash\nredis.register_function('f1', function() return 1 end)\n"
)

// newHarness starts luaproxy with Functions as its Handler in front of a
// scripting-disabled upstream.
func newHarness(t *testing.T) (*harness.Harness, *proxy.Functions) {
	t.Helper()
	return newHarnessTB(t)
}

func newHarnessTB(t testing.TB) (*harness.Harness, *proxy.Functions) {
	t.Helper()
	_, f := newFunctions(t)
	return harness.Start(t, harness.WithHandler(f)), f
}

// newFunctions returns a Lua VM and a Functions handler on it, both closed
// when the test ends.
func newFunctions(t testing.TB) (*luavm.VM, *proxy.Functions) {
	t.Helper()
	vm, err := luavm.New(luavm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Close)
	f, err := proxy.NewFunctions(vm, proxy.FunctionsOptions{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return vm, f
}

// both runs every scenario in RESP2 and, after HELLO 3, in RESP3.
func both(t *testing.T, h *harness.Harness, name string, steps ...step) {
	t.Helper()
	start := []step{cmd("FUNCTION", "FLUSH")}
	t.Run(name+"/resp2", func(t *testing.T) { h.Diff(t, append(start, steps...)) })
	hello := step{Cmd: []string{"HELLO", "3"}, Norm: harness.HelloID}
	t.Run(name+"/resp3", func(t *testing.T) { h.Diff(t, append(append(start, hello), steps...)) })
}

func TestFunctionCommands(t *testing.T) {
	h, _ := newHarness(t)
	both(t, h, "load-call-list-delete",
		cmd("FUNCTION", "LOAD", libA),
		cmd("FUNCTION", "LOAD", libA),
		cmd("FUNCTION", "LOAD", "replace", libA),
		cmd("FUNCTION", "LOAD", "REPLACE", "REPLACE", libA),
		cmd("FCALL", "f1", "1", "k", "v"),
		cmd("FCALL", "ro1", "1", "k"),
		cmd("FCALL_RO", "ro1", "1", "k"),
		cmd("FCALL", "F1", "1", "k", "V"),
		cmd("FCALL_RO", "RO1", "1", "k"),
		cmd("FUNCTION", "LOAD", "#!lua name=upper\nredis.register_function('F1', function() return 1 end)"),
		cmd("FUNCTION", "LOAD", "#!lua name=MYLIB\nredis.register_function('x1', function() return 1 end)"),
		cmd("FUNCTION", "DELETE", "MYLIB"),
		cmd("FCALL_RO", "f1", "1", "k", "v"),
		cmd("fcall", "nope", "0"),
		cmd("FCALL", "f1", "x"),
		cmd("FCALL", "f1", "01"),
		cmd("FCALL", "f1", "5", "a"),
		cmd("FCALL", "f1", "-1"),
		cmd("FCALL", "f1"),
		cmd("FCALL_RO", "f1"),
		cmd("FCALL", "nope", "x"),
		list(),
		list("WITHCODE"),
		list("withcode", "libraryname", "my*"),
		list("LIBRARYNAME", "MY?IB"),
		list("LIBRARYNAME", "x*"),
		list("LIBRARYNAME"),
		list("WITHCODE", "WITHCODE"),
		list("foo"),
		cmd("FUNCTION", "STATS"),
		cmd("FUNCTION", "DELETE", "mylib"),
		cmd("FUNCTION", "DELETE", "mylib"),
		cmd("FUNCTION", "DELETE"),
		cmd("FCALL", "f1", "1", "k", "v"),
		cmd("FUNCTION", "STATS"),
	)
	both(t, h, "two-libraries",
		cmd("FUNCTION", "LOAD", libA),
		cmd("FUNCTION", "LOAD", libB),
		cmd("FUNCTION", "LOAD", libC),
		cmd("FUNCTION", "LOAD", "REPLACE", libC),
		cmd("FCALL", "g1", "2", "a", "b", "c"),
		cmd("FCALL_RO", "g1", "0"),
		cmd("FCALL", "g2", "0"),
		cmd("FCALL", "g3", "0"),
		list(),
		list("LIBRARYNAME", "*"),
		cmd("FUNCTION", "STATS"),
		cmd("FUNCTION", "LOAD", "REPLACE", "#!lua name=other\nredis.register_function('f1', function() return 1 end)"),
		cmd("FUNCTION", "LOAD", "REPLACE", "#!lua name=other\nredis.register_function('h1', function() return 1 end)"),
		cmd("FCALL", "g1", "0"),
		cmd("FCALL", "h1", "0"),
		cmd("FUNCTION", "STATS"),
	)
	both(t, h, "load-errors",
		cmd("FUNCTION", "LOAD", "return 1"),
		cmd("FUNCTION", "LOAD", "#!lua name=x"),
		cmd("FUNCTION", "LOAD", "#!lua\nredis.register_function('a', function() end)"),
		cmd("FUNCTION", "LOAD", "#!lua name=a-b\nredis.register_function('a', function() end)"),
		cmd("FUNCTION", "LOAD", "#!lua name=\nredis.register_function('a', function() end)"),
		cmd("FUNCTION", "LOAD", "#!js name=x\nredis.register_function('a', function() end)"),
		cmd("FUNCTION", "LOAD", "#!lua name=x foo=bar\nredis.register_function('a', function() end)"),
		cmd("FUNCTION", "LOAD", "#!lua name=x name=y\nredis.register_function('a', function() end)"),
		cmd("FUNCTION", "LOAD", "#!LUA NAME=x\nredis.register_function('a', function() return 7 end)"),
		cmd("FCALL", "a", "0"),
		cmd("FUNCTION", "LOAD", "#!lua name=y\nlocal x = 1"),
		cmd("FUNCTION", "LOAD", "#!lua name=y\nredis.register_function('b', function() end)\nredis.register_function('b', function() end)"),
		cmd("FUNCTION", "LOAD", "#!lua name=y\nredis.register_function('a', function() end)"),
		cmd("FUNCTION", "LOAD", "#!lua name=y\nredis.register_function('b-c', function() end)"),
		cmd("FUNCTION", "LOAD", "#!lua name=y\nredis.register_function('b', function() end"),
		cmd("FUNCTION", "LOAD", "#!lua name=y\nerror('boom')"),
		cmd("FUNCTION", "LOAD", "#!lua name=y\nredis.call('ping')"),
		cmd("FUNCTION", "LOAD", "#!lua name=y\nredis.register_function{function_name='b', callback=function() end, flags={'bad-flag'}}"),
		cmd("FUNCTION", "LOAD", "#!lua name=x\nthis is not lua"),
		cmd("FUNCTION", "LOAD", "FOO", libA),
		cmd("FUNCTION", "LOAD"),
		list(),
	)
	payloadA := string(registry.EncodeDump([]string{libA}))
	both(t, h, "dump-restore",
		cmd("FUNCTION", "DUMP"),
		cmd("FUNCTION", "LOAD", libA),
		cmd("FUNCTION", "DUMP"),
		cmd("FUNCTION", "RESTORE", payloadA),
		cmd("FUNCTION", "RESTORE", payloadA, "append"),
		cmd("FUNCTION", "RESTORE", payloadA, "REPLACE"),
		cmd("FUNCTION", "RESTORE", payloadA, "FLUSH"),
		cmd("FUNCTION", "RESTORE", payloadA, "bad"),
		cmd("FUNCTION", "RESTORE", payloadA, "FLUSH", "x"),
		cmd("FUNCTION", "RESTORE", "garbage"),
		cmd("FUNCTION", "RESTORE", payloadA[:len(payloadA)-1]+"x"),
		cmd("FUNCTION", "LOAD", libC),
		cmd("FUNCTION", "DELETE", "mylib"),
		cmd("FUNCTION", "LOAD", libC),
		cmd("FUNCTION", "RESTORE", payloadA),
		cmd("FUNCTION", "RESTORE", payloadA, "REPLACE"),
		cmd("FUNCTION", "FLUSH"),
		cmd("FUNCTION", "RESTORE", payloadA),
		cmd("FCALL", "f1", "1", "k", "v"),
		cmd("FUNCTION", "DUMP"),
		cmd("FUNCTION", "RESTORE", string(registry.EncodeDump([]string{libA, libA}))),
		cmd("FUNCTION", "RESTORE", string(registry.EncodeDump([]string{libB, "#!lua name=z\nredis.register_function('g1', function() end)"}))),
		cmd("FUNCTION", "RESTORE", string(registry.EncodeDump([]string{"#!lua name=z\nx = = 1"}))),
		cmd("FUNCTION", "RESTORE", string(registry.EncodeDump([]string{libB})), "FLUSH"),
		list(),
	)
	both(t, h, "flush-help-misc",
		cmd("FUNCTION", "LOAD", libA),
		cmd("FUNCTION", "FLUSH", "SYNC"),
		cmd("FUNCTION", "LOAD", libA),
		cmd("FUNCTION", "FLUSH", "async"),
		cmd("FUNCTION", "FLUSH", "now"),
		cmd("FUNCTION", "FLUSH", "sync", "x"),
		list(),
		cmd("FUNCTION", "HELP"),
		cmd("function", "help"),
		cmd("FUNCTION", "HELP", "x"),
		cmd("FUNCTION", "KILL"),
		cmd("FUNCTION", "KILL", "x"),
		cmd("FUNCTION", "STATS", "x"),
		cmd("FUNCTION", "DUMP", "x"),
		cmd("FUNCTION", "NOPE"),
		cmd("FUNCTION", "nope", "a", "b"),
		cmd("FUNCTION"),
		cmd("FUNCTION", "LIST", "LIBRARYNAME", "a", "LIBRARYNAME", "b"),
	)
	both(t, h, "oom",
		cmd("FUNCTION", "LOAD", libA),
		cmd("CONFIG", "SET", "maxmemory", "1"),
		cmd("FUNCTION", "LOAD", "REPLACE", libA),
		cmd("FUNCTION", "RESTORE", payloadA, "REPLACE"),
		cmd("FUNCTION", "DELETE", "mylib"),
		cmd("FUNCTION", "FLUSH"),
		cmd("CONFIG", "SET", "maxmemory", "0"),
		cmd("FUNCTION", "RESTORE", payloadA),
		cmd("EXISTS", "__luaproxy:oom-probe"),
	)
	both(t, h, "fcall-semantics",
		cmd("FUNCTION", "LOAD", "#!lua name=sem\n"+
			"redis.register_function('sel', function(keys, args) redis.call('select', '1'); redis.call('set', keys[1], 'in1'); return redis.call('get', keys[1]) end)\n"+
			"redis.register_function('r3', function() redis.setresp(3); return redis.call('hgetall', 'h') end)\n"+
			"redis.register_function('pc', function() return redis.pcall('incr', 'str') end)\n"+
			"redis.register_function('err', function() return redis.call('nosuchcommand') end)\n"+
			"redis.register_function('g', function() return tostring(KEYS) .. tostring(ARGV) end)\n"+
			"redis.register_function{function_name='rw', callback=function(keys) return redis.call('set', keys[1], 'x') end, flags={'no-writes'}}\n"+
			"redis.register_function('big', function() local t = {} for i = 1, 1000 do t[i] = i end return t end)\n"),
		cmd("SET", "str", "abc"),
		cmd("HSET", "h", "a", "1"),
		cmd("FCALL", "sel", "1", "k"),
		cmd("GET", "k"),
		cmd("SELECT", "1"),
		cmd("GET", "k"),
		cmd("SELECT", "0"),
		cmd("FCALL", "r3", "0"),
		cmd("FCALL", "pc", "0"),
		cmd("FCALL", "err", "0"),
		cmd("FCALL", "g", "0"),
		cmd("FCALL", "rw", "1", "k"),
		cmd("FCALL_RO", "rw", "1", "k"),
		cmd("FCALL", "big", "0"),
		cmd("HGET", "h", "a"),
	)
	both(t, h, "database-and-args",
		cmd("FUNCTION", "LOAD", libA),
		cmd("FUNCTION", "LOAD", libB),
		cmd("SELECT", "3"),
		cmd("FCALL", "f1", "1", "k3", "in3"),
		cmd("GET", "k3"),
		cmd("SELECT", "0"),
		cmd("GET", "k3"),
		cmd("FCALL_RO", "ro1", "1", "k3"),
		cmd("FCALL", "g1", "0", "a", "b"),
		cmd("FCALL", "g1", "3", "a", "b", "c"),
		cmd("FCALL", "g1", "0"),
		cmd("FCALL", "g1", "000"),
		cmd("FCALL", "g1", "+1", "a"),
		cmd("FCALL", "g1", " 1", "a"),
		cmd("FCALL", "g1", "99999999999999999999", "a"),
		cmd("FCALL", "g1", "-0"),
		cmd("FCALL", "g1", "1", "", ""),
		cmd("FCALL", "G1", "1", "\x00bin\xff", "\r\n"),
		step{Batch: [][]string{{"FCALL", "f1", "1", "p", "1"}, {"FCALL", "ro1", "1", "p"}, {"GET", "p"}, {"FCALL", "g3", "0"}}},
	)
}
