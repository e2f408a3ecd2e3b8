package luavm

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// TestHostileScripts runs scripts meant to hurt the process and checks that
// each ends with an error reply and that the same state then runs a normal
// script correctly.
func TestHostileScripts(t *testing.T) {
	srv := redistest.Start(t)
	caller := newRedisCaller(t, srv)
	// Scripts that end by themselves run without a deadline, so that a slow
	// machine (or -race) cannot turn their error into a timeout.
	limited, err := New(Config{PoolSize: 1, TimeLimit: 300 * time.Millisecond, MemoryLimit: 128 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer limited.Close()
	unlimited, err := New(Config{PoolSize: 1, MemoryLimit: 128 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer unlimited.Close()
	req := Request{Proto: 2, Caller: caller, Keys: [][]byte{[]byte("k")}}
	cases := []struct {
		name, script, want string
		ends               bool // ends by itself: run without a deadline
	}{
		{"infinite loop", "while true do end", "-ERR Script killed by luaproxy: time limit exceeded...", false},
		{"loop in pcall", "while true do pcall(function() while true do end end) end", "-ERR Script killed by luaproxy: time limit exceeded...", false},
		{"pcall returns", "local ok, e = pcall(function() while true do end end) return {ok, e}", "-ERR Script killed by luaproxy: time limit exceeded...", false},
		{"xpcall loop", "while true do xpcall(function() while true do end end, function(e) return e end) end", "-ERR Script killed by luaproxy: time limit exceeded...", false},
		{"garbage loop", "while true do local t = {} end", "-ERR Script killed by luaproxy: time limit exceeded...", false},
		{"recursion", "local function f() return 1 + f() end return f()", "-ERR user_script:1: stack overflow", true},
		{"recursion in pcall", "local function f() return 1 + f() end return {pcall(f)}", "*2\r\n$-1\r\n$29\r\nuser_script:1: stack overflow\r\n", true},
		{"metamethod recursion", "local t = setmetatable({}, {__index=function(t,k) return t[k] end}) return t.x", "-ERR user_script:1: C stack overflow", true},
		{"rep 2^31 wraps as in Redis", "return string.rep('x', 2^31)", "$0\r\n\r\n", true},
		{"huge rep", "return string.rep('x', 2^30)", "-", true},
		{"rep doubling", "local s = string.rep('x', 1024) while true do s = string.rep(s, 2) end", "-", false},
		{"big table", "local t = {} for i = 1, 1e9 do t[i] = i end", "-", false},
		{"concat million", "local t = {} for i = 1, 1e6 do t[i] = 'ab' end return #table.concat(t)", ":2000000\r\n", true},
		{"pattern bomb", "return string.find(string.rep('a', 40), string.rep('(.-)', 30) .. 'b')", "-", false},
		{"error nil", "error()", "-ERR nil script:", true},
		{"error table", "error({a=1})", "-ERR Script raised an error table without an 'err' field", true},
		{"error number", "error(1.5, 0)", "-ERR 1.5 script:", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vm := limited
			if c.ends {
				vm = unlimited
			}
			got := string(vm.Eval(context.Background(), []byte(c.script), req))
			if !strings.HasPrefix(got, c.want) {
				t.Errorf("got %.200q, want prefix %q", got, c.want)
			}
			if !strings.HasSuffix(got, "\r\n") {
				t.Errorf("reply %q does not end a RESP line", got)
			}
			after := string(vm.Eval(context.Background(), []byte("redis.call('set', KEYS[1], 'v') return redis.call('get', KEYS[1])"), req))
			if after != "$1\r\nv\r\n" {
				t.Errorf("state not reusable: %q", after)
			}
		})
	}
}

func TestKillAndCancel(t *testing.T) {
	srv := redistest.Start(t)
	caller := newRedisCaller(t, srv)
	vm, err := New(Config{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	req := Request{Proto: 2, Caller: caller}
	script := []byte("while true do pcall(function() while true do end end) end")

	done := make(chan string)
	go func() { done <- string(vm.Eval(context.Background(), script, req)) }()
	for vm.Kill() == 0 {
		runtime.Gosched()
	}
	if got := <-done; !strings.HasPrefix(got, "-ERR Script killed by user with SCRIPT KILL... script: ") {
		t.Errorf("kill: %q", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- string(vm.Eval(ctx, script, req)) }()
	for vm.Running() == 0 {
		runtime.Gosched()
	}
	cancel()
	if got := <-done; !strings.HasPrefix(got, "-ERR Script killed by luaproxy: request cancelled...") {
		t.Errorf("cancel: %q", got)
	}
	if got := string(vm.Eval(context.Background(), []byte("return 1"), req)); got != ":1\r\n" {
		t.Errorf("after kill: %q", got)
	}

	// SCRIPT KILL's replies.
	if got := string(vm.KillScripts(true, 0)); got != "-NOTBUSY No scripts in execution right now.\r\n" {
		t.Errorf("idle: %q", got)
	}
	go func() {
		done <- string(vm.Eval(context.Background(), []byte("redis.call('set', 'x', 1) while true do end"), req))
	}()
	for !anyWrote(vm) {
		runtime.Gosched() // the script has not reached its write yet
	}
	if got := string(vm.KillScripts(true, 0)); !strings.HasPrefix(got, "-UNKILLABLE ") {
		t.Errorf("SCRIPT KILL after a write: %q", got)
	}
	if got := string(vm.KillScripts(false, 0)); !strings.HasPrefix(got, "-UNKILLABLE ") {
		t.Errorf("FUNCTION KILL on an eval: %q", got)
	}
	vm.Kill()
	<-done
}

func anyWrote(vm *VM) bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	for st := range vm.states {
		if st.running.Load() && st.wrote.Load() {
			return true
		}
	}
	return false
}

// TestCancelAfterRunEnds cancels a run's context as the run ends, many
// times, on a one-state pool: the cancellation's interrupt must never
// land in the next run on that state.
func TestCancelAfterRunEnds(t *testing.T) {
	vm, err := New(Config{PoolSize: 1, MaxStates: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	s := NewScript([]byte("return 1"))
	calls := NewScript([]byte("redis.pcall('GET', 'k') return 2"))
	for i := range 5000 {
		ctx, cancel := context.WithCancel(context.Background())
		// The run's redis.call cancels its context and returns at once:
		// the run ends while the interrupt is still on its way.
		vm.Run(ctx, calls, Request{Proto: 2, Caller: cancelCaller(cancel)})
		if got := string(vm.Run(context.Background(), s, Request{Proto: 2})); got != ":1\r\n" {
			t.Fatalf("run after a cancelled one (%d): %q", i, got)
		}
	}
}

// cancelCaller cancels the run's context from inside redis.call.
type cancelCaller context.CancelFunc

func (c cancelCaller) Call([][]byte, int) ([]byte, error) {
	c()
	return []byte("+OK\r\n"), nil
}
