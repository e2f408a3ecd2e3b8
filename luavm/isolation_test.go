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

// TestCjsonSettingsReset checks that cjson's settings, which in Redis last
// until SCRIPT FLUSH, start from the defaults in every script (doc.go).
func TestCjsonSettingsReset(t *testing.T) {
	vm, err := New(Config{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	run := func(script string) string {
		return string(vm.Eval(context.Background(), []byte(script), Request{Proto: 2}))
	}
	set := `cjson.encode_max_depth(1) cjson.decode_max_depth(1) cjson.encode_number_precision(3)
		cjson.encode_sparse_array(true, 1, 1) cjson.encode_invalid_numbers(true) cjson.encode_keep_buffer(false)
		cjson.decode_invalid_numbers(false) return cjson.encode({1/3})`
	if got, want := run(set), "$7\r\n[0.333]\r\n"; got != want {
		t.Fatalf("changing the settings: got %q, want %q", got, want)
	}
	check := `return {cjson.encode_max_depth(), cjson.decode_max_depth(), cjson.encode_number_precision(),
		{cjson.encode_sparse_array()}, tostring(cjson.encode_invalid_numbers()), tostring(cjson.encode_keep_buffer()),
		tostring(cjson.decode_invalid_numbers()), cjson.encode({1/3, {{1}}})}`
	want := "*8\r\n:1000\r\n:1000\r\n:14\r\n*3\r\n$-1\r\n:2\r\n:10\r\n$5\r\nfalse\r\n$4\r\ntrue\r\n$4\r\ntrue\r\n" +
		"$24\r\n[0.33333333333333,[[1]]]\r\n"
	if got := run(check); got != want {
		t.Errorf("next script:\n got %q\nwant %q", got, want)
	}
}
