package luavm

import (
	"context"
	"strconv"
	"testing"
)

// TestFunctionsDifferential loads libraries with FUNCTION LOAD on a real
// redis-server and with LoadLibrary, then calls them with FCALL and FCall,
// and requires identical replies.
func TestFunctionsDifferential(t *testing.T) {
	d := newDiffEnv(t, Config{PoolSize: 2})
	type call struct {
		name       string
		keys, args []string
		ro         bool
	}
	cases := []struct {
		code  string
		calls []call
	}{
		{code: "#!lua name=lib1\nredis.register_function('f', function(keys, args) return {keys[1], args[1], #keys, #args} end)",
			calls: []call{{name: "f", keys: []string{"k"}, args: []string{"a", "b"}}, {name: "f"}, {name: "nosuch"}}},
		{code: "#!lua name=lib2\nredis.register_function{function_name='g', callback=function(keys, args) return redis.call('set', keys[1], args[1]) end}",
			calls: []call{{name: "g", keys: []string{"k"}, args: []string{"v"}}, {name: "g", keys: []string{"k"}, args: []string{"v"}, ro: true}}},
		{code: "#!lua name=lib3\nredis.register_function{function_name='r', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}",
			calls: []call{{name: "r", keys: []string{"k"}, ro: true}}},
		{code: "#!lua name=lib4\nredis.register_function{function_name='w', callback=function(keys) return redis.call('set', keys[1], 'x') end, flags={'no-writes'}}",
			calls: []call{{name: "w", keys: []string{"k"}}}},
		{code: "#!lua name=lib5\nlocal function helper() return 42 end\nredis.register_function('h', function() return helper() end)",
			calls: []call{{name: "h"}}},
		{code: "#!lua name=lib6\nredis.register_function('e', function() error('boom') end)\nredis.register_function('e2', function() return redis.call('nosuch') end)\nredis.register_function('e3', function() return x end)\nredis.register_function('e4', function() x = 1 end)\nredis.register_function('e5', function() return KEYS end)",
			calls: []call{{name: "e"}, {name: "e2"}, {name: "e3"}, {name: "e4"}, {name: "e5"}}},
		{code: "#!lua name=lib7\nredis.register_function('t', function() local t = {} for k in pairs(_G) do t[#t+1] = k end table.sort(t) return t end)\nredis.register_function('rt', function() local t = {} for k in pairs(redis) do t[#t+1] = k end table.sort(t) return t end)",
			calls: []call{{name: "t"}, {name: "rt"}}},
		{code: "#!lua name=lib8\nredis.register_function('p', function() return {pcall(redis.call, 'nosuch')} end)",
			calls: []call{{name: "p"}}},
		// Load errors.
		{code: "redis.register_function('f', function() end)"},
		{code: "#!lua"},
		{code: "#!lua name=x"},
		{code: "#!lua name=x foo=bar\nreturn 1"},
		{code: "#!js name=x\nreturn 1"},
		{code: "#!lua name=a-b\nreturn 1"},
		{code: "#!lua name=x\nreturn 1"},
		{code: "#!lua name=x\nreturn +"},
		{code: "#!lua name=x\nerror('fail')"},
		{code: "#!lua name=x\nerror({err='E fail'})"},
		{code: "#!lua name=x\nlocal s = string.rep('a', 2)"},
		{code: "#!lua name=x\nredis.call('ping')"},
		{code: "#!lua name=x\nredis.register_function('f')"},
		{code: "#!lua name=x\nredis.register_function(1, 2)"},
		{code: "#!lua name=x\nredis.register_function('f', 2)"},
		{code: "#!lua name=x\nredis.register_function('a-b', function() end)"},
		{code: "#!lua name=x\nredis.register_function('f', function() end) redis.register_function('f', function() end)"},
		{code: "#!lua name=x\nredis.register_function{function_name='f'}"},
		{code: "#!lua name=x\nredis.register_function{callback=function() end}"},
		{code: "#!lua name=x\nredis.register_function{function_name='f', callback=function() end, flags={'bogus'}}"},
		{code: "#!lua name=x\nredis.register_function{function_name='f', callback=function() end, flags='no-writes'}"},
		{code: "#!lua name=x\nredis.register_function{function_name='f', callback=function() end, bogus=1}"},
		{code: "#!lua name=x\nredis.register_function{function_name=1, callback=2}"},
		{code: "#!lua name=x\nredis.register_function('f', function() end, 3)"},
		{code: "#!lua name=x\nredis.register_function()"},
		{code: "#!lua name=x\nredis.register_function(function() end)"},
		{code: "#!lua name=x\nredis.log(redis.LOG_WARNING, 'loading') redis.register_function('f', function() return redis.REDIS_VERSION end)"},
		{code: "#!lua name=x\nx = 1"},
		{code: "#!lua name=x\nredis.register_function('f', function() return 1 end) local t = redis.call"},
		{code: "#!lua name=x\nwhile true do end"},
		{code: "#!lua name=test\nredis.register_function('test', function(KEYS, ARGV)\n bad script \nend)"},
		{code: "#!lua name=test\nlocal a is 1"},
		{code: "#!lua name=test\nx is 1"},
		{code: "#!lua name=test\nx.y is 1"},
		{code: "#!lua name=test\nx, y is 1"},
		{code: "#!lua name=test\nx[1] is 1"},
		{code: "#!lua name=test\nf() is 1"},
		{code: "#!lua name=lib9\nredis.register_function('g', function() local g = getmetatable(_G) g.__index = {} end)\nredis.register_function('g2', function() return type(getmetatable(_G)) end)\nredis.register_function('d', function() return loadstring(string.dump(function() return 1 end))() end)\nredis.register_function('d2', function() return type(string.dump(function() return 1 end)) end)",
			calls: []call{{name: "g"}, {name: "g2"}, {name: "d"}, {name: "d2"}}},
		// Metadata lines are split as sdssplitargs does.
		{code: "#!lua name=\"qlib\"\nredis.register_function('f', function() return 1 end)", calls: []call{{name: "f"}}},
		{code: "#!lua name='slib'\nredis.register_function('f', function() return 1 end)"},
		{code: "#!\"lua\" \"name=\\x41b\"\nredis.register_function('f', function() return 1 end)"},
		{code: "#!lua name=\"foo\nreturn 1"},
		{code: "#!lua name='foo\nreturn 1"},
		{code: "#!lua name=\"foo\"bar\nreturn 1"},
		{code: "#!lua \"name=a b\"\nreturn 1"},
		{code: "#!lua name=\"a\\x00b\"\nreturn 1"},
		{code: "#!lua\vname=x\nreturn 1"},
		{code: "#!lua  \f name=x\t\nredis.register_function('f', function() return 1 end)"},
		{code: "#!lua name=x\x00\nreturn 1"},
		{code: "#!lua name=x name=y\nreturn 1"},
		{code: "#!LUA NAME=x\nredis.register_function('f', function() return 1 end)"},
		{code: "#!lua\\x00 name=x\nreturn 1"},
		// Not "#!\"lua\\x00\"": Redis finds the engine only when the hash of
		// "lua\x00" (random seed) lands in "lua"'s bucket.
		{code: "#!lua name=x\nredis.register_function('test\\0test', function() return 1 end)"},
		{code: "#!lua name=x\nredis.register_function{function_name='a\\0', callback=function() return 1 end}"},
	}
	for _, c := range cases {
		d.direct[2].MustDo(t, "FUNCTION", "FLUSH")
		want := d.direct[2].MustDo(t, "FUNCTION", "LOAD", c.code)
		lib, errReply := d.vm.LoadLibrary([]byte(c.code))
		got := errReply
		if lib != nil {
			got = []byte("$" + strconv.Itoa(len(lib.Name)) + "\r\n" + lib.Name + "\r\n")
		}
		if string(got) != string(want) {
			t.Errorf("FUNCTION LOAD %q:\n got %q\nwant %q", c.code, got, want)
			continue
		}
		for _, cl := range c.calls {
			cmd := "FCALL"
			if cl.ro {
				cmd = "FCALL_RO"
			}
			d.direct[2].MustDo(t, "DEL", "k")
			args := append([]string{cmd, cl.name, strconv.Itoa(len(cl.keys))}, cl.keys...)
			want := d.direct[2].MustDo(t, append(args, cl.args...)...)
			d.direct[2].MustDo(t, "DEL", "k")
			got := d.vm.FCall(context.Background(), lib, cl.name, Request{
				Keys: toBytes(cl.keys), Args: toBytes(cl.args), Proto: 2, ReadOnly: cl.ro, Caller: d.caller,
			})
			if string(got) != string(want) {
				t.Errorf("%s %s in %q:\n got %q\nwant %q", cmd, cl.name, c.code, got, want)
			}
		}
	}
}
