package luavm

import (
	"bufio"
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// FuzzEval runs arbitrary script bodies: whatever the body, Eval must
// return exactly one well-formed RESP reply and leave the VM usable.
func FuzzEval(f *testing.F) {
	for _, s := range []string{
		"return 1", "return {1, 'a', {err='x'}, {ok='y'}}", "error({err='E'})", "x = 1",
		"return redis.call('GET', KEYS[1])", "return redis.pcall('nosuch')",
		"local t = setmetatable({}, {__index = function(t, k) return t[k] end}) return t.x",
		"return pcall(error, {})", "while true do end", "return string.rep('x', 100)",
		"#!lua flags=no-writes\nreturn 1", "return loadstring('return 1')()",
		"return xpcall(function() error('x') end, function(e) error(e) end)",
		"return cjson.encode({1, 2, {a = 'b'}})", "return {double = 1.5}",
	} {
		f.Add([]byte(s))
	}
	vm, err := New(Config{PoolSize: 1, TimeLimit: 50 * time.Millisecond, MemoryLimit: 64 << 20})
	if err != nil {
		f.Fatal(err)
	}
	defer vm.Close()
	req := Request{Keys: [][]byte{[]byte("k")}, Proto: 3, Caller: fixedCaller("$1\r\nv\r\n")}
	f.Fuzz(func(t *testing.T, body []byte) {
		reply := vm.Eval(context.Background(), body, req)
		r := bufio.NewReader(bytes.NewReader(reply))
		got, err := redistest.ReadReply(r)
		if err != nil || r.Buffered() != 0 || len(got) != len(reply) {
			t.Fatalf("body %q: malformed reply %q (%v)", body, reply, err)
		}
		if after := string(vm.Eval(context.Background(), []byte("return redis.call('GET', KEYS[1])"), req)); after != "$1\r\nv\r\n" {
			t.Fatalf("after %q: %q", body, after)
		}
	})
}

// TestConcurrentEval runs scripts from many goroutines on a small pool.
func TestConcurrentEval(t *testing.T) {
	vm, err := New(Config{PoolSize: 2, MaxStates: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	scripts := []struct{ body, want string }{
		{"return redis.call('GET', KEYS[1])", "$1\r\nv\r\n"},
		{"return ARGV[1] .. KEYS[1]", "$2\r\nak\r\n"},
		{"error({err='E x'})", "-E x script: "},
		{"return {pcall(error, {a=1})}", "*2\r\n$-1\r\n*0\r\n"},
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s := scripts[(g+i)%len(scripts)]
				got := string(vm.Eval(context.Background(), []byte(s.body), Request{
					Keys: [][]byte{[]byte("k")}, Args: [][]byte{[]byte("a")}, Proto: 2, Caller: fixedCaller("$1\r\nv\r\n"),
				}))
				if len(got) < len(s.want) || got[:len(s.want)] != s.want {
					t.Errorf("%q: got %q, want prefix %q", s.body, got, s.want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}
