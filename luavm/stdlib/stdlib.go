// Package stdlib installs Lua 5.1's base, string, table and math libraries
// into a go-lua (Lua 5.2) state, behaving as Redis 7.0.15's embedded Lua
// 5.1 does: byte-based strings, full Lua patterns, C printf formatting,
// 5.1 error texts and Redis's own math.random.
//
// go-lua's own versions of these functions differ from Lua 5.1 in ways
// scripts notice (no patterns, rune-based case mapping, Go fmt formatting,
// quadratic table.concat, +Inf/NaN spellings), so Open first lets go-lua
// install its libraries and then replaces every function that differs.
//
// The reference is the redis-server 7.0.15 the tests run (Debian's
// 7.0.15-1~deb12u10, whose Lua has no getfenv, setfenv or newproxy and
// whose pcall does not check its argument). Known differences:
//
//   - "bad argument" messages name the function by its library name;
//     5.1 takes the name from the call site, so a call through a local
//     alias is named differently there. go-lua's call-site information is
//     unreliable; method calls (s:rep()) are recognised from the caller's
//     bytecode (see luautil.ArgError), except on a line that calls the
//     same function both as a method and not.
//   - There is no coroutine library (go-lua has none) and string.dump
//     always fails (luavm loads no bytecode).
//   - Without cgo, math functions are Go's, whose results can differ from
//     glibc's in the last bit (%.14g hides it, %.17g shows it); with cgo
//     they are glibc's.
//   - string comparison in table.sort is bytewise; Redis uses strcoll in
//     its process locale.
//   - collectgarbage("count") and gcinfo report a plausible figure, not a
//     heap size, and never stop or force the Go collector.
//   - Pattern recursion is bounded at 200000 levels ("pattern too
//     complex") where Redis's C stack overflows.
package stdlib

import (
	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// Env is the per-state data the libraries keep: the limits they charge and
// the pseudo-random generator behind math.random.
type Env struct {
	lim       *luautil.Limits
	rand      *Rand
	gcPause   int32
	gcStepMul int32
	// noRandom makes math.random and math.randomseed fail, as Redis's do
	// outside a script invocation (while FUNCTION LOAD runs a library's
	// top-level code).
	noRandom bool
}

// Open installs Lua 5.1's base, string, table and math functions into l's
// globals as Redis 7.0 has them, replacing go-lua's versions, and sets the
// string metatable's __index to the string table. lim accounts memory for
// strings built here and is ticked in long Go loops (pattern matching) so
// that deadlines and kills reach them; a nil lim means no limits.
func Open(l *lua.State, lim *luautil.Limits) *Env {
	if lim == nil {
		lim = &luautil.Limits{}
	}
	e := &Env{lim: lim, rand: NewRand(), gcPause: 200, gcStepMul: 200}
	for _, lib := range []lua.RegistryFunction{
		{Name: "_G", Function: lua.BaseOpen},
		{Name: "string", Function: lua.StringOpen},
		{Name: "table", Function: lua.TableOpen},
		{Name: "math", Function: lua.MathOpen},
	} {
		lua.Require(l, lib.Name, lib.Function, true)
		l.Pop(1)
	}
	e.openBase(l)
	e.openString(l)
	e.openTable(l)
	e.openMath(l)
	return e
}

// Reset restores what a new script must see. Redis 7.0 never reseeds its
// generator between scripts (redisSrand48 runs only from math.randomseed),
// so the sequence carries on from script to script, and Reset leaves it;
// the collector settings start afresh.
func (e *Env) Reset() {
	e.gcPause, e.gcStepMul = 200, 200
}

// SetRand makes math.random on this state draw from r. Redis has one
// generator for the whole process (EVAL and FCALL alike, never reseeded
// between scripts), so a pool of states mirrors it by sharing one Rand.
func (e *Env) SetRand(r *Rand) { e.rand = r }

// AllowRandom switches math.random and math.randomseed on or off. Redis
// refuses them while a function library is being loaded ("math.random can
// only be called inside a script invocation"); they are on by default.
func (e *Env) AllowRandom(ok bool) { e.noRandom = !ok }

// Rand returns the generator behind math.random.
func (e *Env) Rand() *Rand { return e.rand }
