// Package luautil holds what luavm and its bundled libraries share: the
// per-script resource limits and Lua 5.1's number formatting.
package luautil

import (
	"math"
	"strconv"
	"sync/atomic"

	"github.com/Shopify/go-lua"
)

// OutOfMemory is the error a script gets when it exceeds its memory budget.
// It is Lua 5.1's own text for a failed allocation.
const OutOfMemory = "not enough memory"

// Limits is what one running script may still spend. go-lua has no
// allocator hook, so memory is counted only on the paths luavm owns (string
// building in the string library, cjson, cmsgpack, struct, table.concat,
// ...): those are the ways a short script can ask for gigabytes. Libraries
// charge before they allocate, so a refused allocation never happens.
//
// Go code that can loop for long without running Lua instructions (pattern
// matching, encoders) calls Tick now and then so that a deadline or a kill
// reaches it too: the VM's instruction-count hook does not fire inside Go.
type Limits struct {
	memLimit int64 // 0 means unlimited
	memUsed  int64
	stop     atomic.Pointer[string]
	iter     nextCache // for Next; Limits is the per-state object every library gets
}

// Reset prepares the limits for the next script on the same state.
func (x *Limits) Reset(memLimit int64) {
	x.memLimit = memLimit
	x.memUsed = 0
	x.stop.Store(nil)
	x.iter.reset()
}

// Charge accounts n bytes about to be allocated and raises a Lua error
// instead if that would exceed the budget.
func (x *Limits) Charge(l *lua.State, n int) {
	if n < 0 || (x.memLimit > 0 && x.memUsed+int64(n) > x.memLimit) {
		l.PushString(OutOfMemory)
		l.Error()
	}
	x.memUsed += int64(n)
}

// Used reports the bytes charged since the last Reset.
func (x *Limits) Used() int64 { return x.memUsed }

// Interrupt asks the running script to stop with msg as its error. It is
// safe to call from another goroutine.
func (x *Limits) Interrupt(msg string) { x.stop.Store(&msg) }

// Interrupted returns the pending interrupt message, if any.
func (x *Limits) Interrupted() (string, bool) {
	if p := x.stop.Load(); p != nil {
		return *p, true
	}
	return "", false
}

// Tick raises the pending interrupt, if any, as a Lua error.
func (x *Limits) Tick(l *lua.State) {
	if p := x.stop.Load(); p != nil {
		l.PushString(*p)
		l.Error()
	}
}

// FormatG formats f as C's printf("%.<prec>g") does with glibc, which is how
// Lua 5.1 (LUA_NUMBER_FMT "%.14g") and cjson print numbers: inf, -inf, nan
// and -nan spelt as glibc spells them.
func FormatG(f float64, prec int) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		if math.Signbit(f) {
			return "-nan"
		}
		return "nan"
	}
	if prec == 0 {
		prec = 1
	}
	return strconv.FormatFloat(f, 'g', prec, 64)
}

// AppendG is FormatG appending to dst, for encoders that build buffers.
func AppendG(dst []byte, f float64, prec int) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) || prec == 0 {
		return append(dst, FormatG(f, prec)...)
	}
	return strconv.AppendFloat(dst, f, 'g', prec, 64)
}

// FormatNumber is Lua 5.1's tostring for numbers: %.14g.
func FormatNumber(f float64) string { return FormatG(f, 14) }

// budgetTickEvery is how many Budget.Tick calls pass between interrupt
// polls.
const budgetTickEvery = 4096

// Budget is the Limits of a run as a long Go loop (an encoder, a decoder)
// uses them: Charge and Tick do nothing without limits, and Tick polls
// for interrupts only every few thousand calls.
type Budget struct {
	L     *lua.State
	Lim   *Limits // nil: unlimited
	count int
}

// Charge charges n bytes to the run's memory budget.
func (b *Budget) Charge(n int) {
	if b.Lim != nil {
		b.Lim.Charge(b.L, n)
	}
}

// Tick counts one step and polls for interrupts every budgetTickEvery
// steps.
func (b *Budget) Tick() {
	b.count++
	if b.Lim != nil && b.count%budgetTickEvery == 0 {
		b.Lim.Tick(b.L)
	}
}
