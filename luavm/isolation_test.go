package luavm

import (
	"context"
	"testing"
)

// TestIsolation runs, on a single state, a script that tampers with what
// it can reach and then a script that checks nothing leaked.
func TestIsolation(t *testing.T) {
	vm, err := New(Config{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	run := func(script string, keys, args []string) string {
		return string(vm.Eval(context.Background(), []byte(script), Request{Keys: toBytes(keys), Args: toBytes(args), Proto: 2}))
	}
	tamper := []string{
		"KEYS.x = 1 KEYS[9] = 'k9' ARGV.y = 2",
		"setmetatable(KEYS, {__index = function() return 'meta' end})",
		"setmetatable(ARGV, {__index = function() return 'meta' end})",
		"KEYS[1] = 'changed' ARGV[1] = 'changed'",
		"table.insert(string, 'junk')",
		"table.insert(_G, 'junk')",
		"rawset(KEYS, 'z', 1)",
		"pcall(function() x = 1 end)",
		"math.randomseed(42)",
		"redis.setresp(3)",
		"error({err = 'E boxed'})",
	}
	check := `
		local n = 0 for k in pairs(KEYS) do n = n + 1 end
		local m = 0 for k in pairs(ARGV) do m = m + 1 end
		return {n, m, tostring(KEYS[1]), tostring(ARGV[1]), tostring(KEYS[9]), tostring(rawget(KEYS, 'x')),
			tostring(getmetatable(KEYS)), tostring(getmetatable(ARGV)), tostring(rawget(string, 1)), tostring(rawget(_G, 1)),
			tostring(KEYS == ARGV)}`
	want := "*11\r\n:1\r\n:0\r\n$1\r\na\r\n$3\r\nnil\r\n$3\r\nnil\r\n$3\r\nnil\r\n$3\r\nnil\r\n$3\r\nnil\r\n$3\r\nnil\r\n$3\r\nnil\r\n$5\r\nfalse\r\n"
	for _, s := range tamper {
		for _, keys := range [][]string{{"a", "b"}, nil} {
			run(s, keys, []string{"x"})
			if got := run(check, []string{"a"}, nil); got != want {
				t.Errorf("after %q with keys %q:\n got %q\nwant %q", s, keys, got, want)
			}
		}
	}
}
