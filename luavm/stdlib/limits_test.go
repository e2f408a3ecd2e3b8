package stdlib

import (
	"strings"
	"testing"

	"github.com/luaproxy/luaproxy/luavm/internal/luadiff"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// TestMemoryCharged checks that every string builder charges the limits
// before it allocates, so that an oversized request fails with Lua's
// out-of-memory text instead of allocating.
func TestMemoryCharged(t *testing.T) {
	tests := []struct {
		script string
		min    int64 // bytes that must at least have been charged
	}{
		{`return string.rep('x', 1000)`, 1000},
		{`return string.rep('abc', 1000, 'ignored')`, 3000},
		{`return string.upper(string.rep('x', 10))`, 10 + 10},
		{`return string.lower(string.rep('X', 10))`, 20},
		{`return string.reverse(string.rep('x', 10))`, 20},
		{`return (string.gsub(string.rep('x', 100), 'x', 'yy'))`, 100 + 200},
		{`return string.format('%s%s', string.rep('x', 200), string.rep('y', 200))`, 400 + 400},
		{`local t = {} for i = 1, 100 do t[i] = 'abcd' end return table.concat(t, ',')`, 400 + 99},
		{`return string.char(65, 66, 67)`, 3},
	}
	for _, tt := range tests {
		l, _, lim := newState()
		if got := runGo(l, lim, tt.script); strings.HasPrefix(got, "E:") {
			t.Errorf("%s: %s", tt.script, got)
			continue
		}
		if lim.Used() < tt.min {
			t.Errorf("%s: charged %d bytes, want at least %d", tt.script, lim.Used(), tt.min)
		}
	}
}

// TestMemoryLimit checks that requests over the budget fail cleanly.
func TestMemoryLimit(t *testing.T) {
	scripts := []string{
		`return string.rep('x', 2^31 - 1)`,
		`return string.rep(string.rep('x', 1000), 2^30)`,
		`return (string.gsub(string.rep('x', 1000), '', string.rep('y', 2000)))`,
		`local s = string.rep('x', 1000) return string.format(string.rep('%s', 1500), unpack((function() local t = {} for i = 1, 1500 do t[i] = s end return t end)()))`,
		`local t = {} for i = 1, 2000 do t[i] = string.rep('x', 1000) end return table.concat(t)`,
	}
	for _, s := range scripts {
		l, _, lim := newState()
		l.SetTop(0)
		lim.Reset(1 << 20)
		got := luadiff.Eval(l, s)
		if got != "E:"+luautil.OutOfMemory {
			t.Errorf("%s: got %.80q (%d bytes), want out of memory", s, got, len(got))
		}
	}
}

// TestInterrupt checks that long Go loops notice an interrupt: a
// backtracking pattern that would run for years, and a large sort.
func TestInterrupt(t *testing.T) {
	scripts := []string{
		`return string.match(string.rep('a', 60), string.rep('a*', 60) .. 'b')`,
		`return string.find(string.rep('a', 60), string.rep('a-', 60) .. 'b')`,
		`return string.gsub(string.rep('a', 60), string.rep('a?', 60) .. 'b', '')`,
		`local t = {} for i = 1, 20000 do t[i] = (i * 7919) % 20011 end table.sort(t) return 1`,
	}
	for _, s := range scripts {
		l, _, lim := newState()
		lim.Reset(0)
		go lim.Interrupt("ERR Script killed by user")
		if got := luadiff.Eval(l, s); got != "E:ERR Script killed by user" {
			t.Errorf("%s: got %q", s, got)
		}
	}
}

// TestPatternDepth checks the recursion bound: deep patterns up to where
// Redis's C stack holds work, deeper ones fail instead of growing the Go
// stack without limit.
func TestPatternDepth(t *testing.T) {
	l, _, lim := newState()
	if got := runGo(l, lim, `return #string.match(string.rep('a', 5000), string.rep('a?', 5000))`); got != ":5000" {
		t.Errorf("depth 5000: %q", got)
	}
	got := runGo(l, lim, `return #string.match(string.rep('a', 300000), string.rep('a?', 300000))`)
	if got != "E:user_script:1: pattern too complex" {
		t.Errorf("depth 300000: %.80q", got)
	}
}

// TestRandMatchesLrand48 checks the generator against drand48's documented
// recurrence for the default state and for a seed.
func TestRandMatchesLrand48(t *testing.T) {
	r := NewRand()
	x := uint64(0x1234ABCD330E)
	for i := 0; i < 5; i++ {
		x = (x*0x5DEECE66D + 0xB) & (1<<48 - 1)
		if got, want := r.Next(), int32(x>>17); got != want {
			t.Fatalf("step %d: got %d, want %d", i, got, want)
		}
	}
	r.Seed(-1)
	if r.x != 0xFFFFFFFF330E {
		t.Errorf("seed -1: state %#x", r.x)
	}
}

// TestAllowRandom checks the FUNCTION LOAD-time refusal.
func TestAllowRandom(t *testing.T) {
	l, env, lim := newState()
	env.AllowRandom(false)
	if got := runGo(l, lim, "return math.random()"); got != "E:user_script:1: math.random can only be called inside a script invocation" {
		t.Errorf("random: %q", got)
	}
	if got := runGo(l, lim, "math.randomseed(1)"); got != "E:user_script:1: math.randomseed can only be called inside a script invocation" {
		t.Errorf("randomseed: %q", got)
	}
	env.AllowRandom(true)
	if got := runGo(l, lim, "return math.random(1)"); got != ":1" {
		t.Errorf("random(1): %q", got)
	}
}
