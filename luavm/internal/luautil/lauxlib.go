package luautil

import (
	"fmt"
	"math"
	"strings"

	"github.com/Shopify/go-lua"
)

// This file holds Lua 5.1's lauxlib argument checks, shared by every
// library luavm installs. go-lua's own helpers follow Lua 5.2: they parse
// numeric strings with Go's rules (no "inf", "nan", hex, overflowing
// exponents or text after a NUL), format numbers with Go's %g ("+Inf"),
// and name the called function by searching the globals, which scripts
// only see through read-only proxies, so they print '?'.
//
// Lua 5.1 names the function in "bad argument" errors from the call site's
// bytecode. go-lua's call-site information is unreliable (it decodes the
// instruction after the call), so every library function is a Go closure
// whose first upvalue is the name it is registered under (see PushNamed):
// that is what 5.1 prints for the usual lib.fn(...) and s:fn(...) calls.
// Whether the call was a method call, whose arguments 5.1 numbers without
// self, is read from the caller's bytecode (see calledAsMethod).

// PushNamed pushes f as a Go closure named name for ArgError, with the nup
// values on top of the stack (popped) as its upvalues 2 to nup+1.
func PushNamed(l *lua.State, name string, f lua.Function, nup int) {
	l.PushString(name)
	l.Insert(-nup - 1)
	l.PushGoClosure(f, uint8(nup+1))
}

// SetFuncs stores named closures of funcs into the table below the nup
// values on top of the stack, which every closure shares as its upvalues 2
// to nup+1 and which are popped, as lua.SetFunctions does.
func SetFuncs(l *lua.State, funcs []lua.RegistryFunction, nup int) {
	for _, f := range funcs {
		for i := 0; i < nup; i++ {
			l.PushValue(-nup)
		}
		PushNamed(l, f.Name, f.Function, nup)
		l.SetField(-nup-2, f.Name)
	}
	l.Pop(nup)
}

// NewLib pushes a new table holding named closures of funcs.
func NewLib(l *lua.State, funcs []lua.RegistryFunction) {
	l.CreateTable(0, len(funcs))
	SetFuncs(l, funcs, 0)
}

// Errorf is luaL_error: the message after the position of the Lua code
// that called the running function.
func Errorf(l *lua.State, format string, args ...any) {
	lua.Where(l, 1)
	l.PushString(fmt.Sprintf(format, args...))
	l.Concat(2)
	l.Error()
}

// ArgError is luaL_argerror for a function pushed with PushNamed. As in
// 5.1, a function called from Go (pcall(f), a sort comparator) has no name
// ('?'); a method call does not count self, and a bad self is reported as
// such.
func ArgError(l *lua.State, arg int, extra string) {
	if _, ok := lua.Stack(l, 0); !ok {
		Errorf(l, "bad argument #%d (%s)", arg, extra)
	}
	name := "?"
	if caller, ok := lua.Stack(l, 1); ok {
		if d, _ := lua.Info(l, "S", caller); d.What != "Go" {
			name, _ = l.ToString(lua.UpValueIndex(1))
		}
	}
	if name != "?" && calledAsMethod(l, name) {
		if arg--; arg == 0 {
			Errorf(l, "calling '%s' on bad self (%s)", name, extra)
		}
	}
	Errorf(l, "bad argument #%d to '%s' (%s)", arg, name, extra)
}

// ArgCheck raises ArgError(arg, extra) unless cond holds.
func ArgCheck(l *lua.State, cond bool, arg int, extra string) {
	if !cond {
		ArgError(l, arg, extra)
	}
}

// TypeName is luaL_typename, with "no value" for an absent argument.
func TypeName(l *lua.State, i int) string { return l.TypeOf(i).String() }

// TypeError is luaL_typerror.
func TypeError(l *lua.State, arg int, want string) {
	ArgError(l, arg, want+" expected, got "+TypeName(l, arg))
}

// CheckType is luaL_checktype.
func CheckType(l *lua.State, i int, t lua.Type) {
	if l.TypeOf(i) != t {
		TypeError(l, i, t.String())
	}
}

// CheckAny is luaL_checkany.
func CheckAny(l *lua.State, i int) {
	if l.TypeOf(i) == lua.TypeNone {
		ArgError(l, i, "value expected")
	}
}

// ToNumber is lua_tonumber: numbers, and strings that Lua 5.1's strtod
// based conversion accepts. A NaN read from text carries glibc's payload.
func ToNumber(l *lua.State, i int) (float64, bool) {
	switch l.TypeOf(i) {
	case lua.TypeNumber:
		n, _ := l.ToNumber(i)
		return n, true
	case lua.TypeString:
		s, _ := l.ToValue(i).(string) // ToString would allocate
		n, ok := ParseNumber(s)
		if n != n {
			n = glibcNaN(s, math.Signbit(n))
		}
		return n, ok
	}
	return 0, false
}

// ToLString is lua_tolstring: strings, and numbers formatted with %.14g.
func ToLString(l *lua.State, i int) (string, bool) {
	switch l.TypeOf(i) {
	case lua.TypeString:
		s, _ := l.ToValue(i).(string)
		return s, true
	case lua.TypeNumber:
		n, _ := l.ToNumber(i)
		return FormatNumber(n), true
	}
	return "", false
}

// CheckString is luaL_checklstring.
func CheckString(l *lua.State, i int) string {
	s, ok := ToLString(l, i)
	if !ok {
		TypeError(l, i, "string")
	}
	return s
}

// OptString is luaL_optlstring.
func OptString(l *lua.State, i int, def string) string {
	if l.IsNoneOrNil(i) {
		return def
	}
	return CheckString(l, i)
}

// CheckOption is luaL_checkoption without a default.
func CheckOption(l *lua.State, i int, options []string) int {
	s := CheckString(l, i)
	for j, o := range options {
		if o == s {
			return j
		}
	}
	ArgError(l, i, fmt.Sprintf("invalid option '%s'", s))
	panic("unreachable")
}

// CheckNumber is luaL_checknumber.
func CheckNumber(l *lua.State, i int) float64 {
	n, ok := ToNumber(l, i)
	if !ok {
		TypeError(l, i, "number")
	}
	return n
}

// OptNumber is luaL_optnumber.
func OptNumber(l *lua.State, i int, def float64) float64 {
	if l.IsNoneOrNil(i) {
		return def
	}
	return CheckNumber(l, i)
}

// CInt64 converts a double to int64 as x86-64's cvttsd2si does (Lua 5.1's
// lua_Integer casts): NaN and out-of-range values give math.MinInt64.
func CInt64(f float64) int64 {
	if f >= -(1<<63) && f < 1<<63 {
		return int64(f)
	}
	return math.MinInt64
}

// CInt32 converts a double to a C int as x86-64's 32-bit cvttsd2si does:
// NaN and out-of-range values give math.MinInt32.
func CInt32(f float64) int32 {
	if f >= -(1<<31) && f < 1<<31 {
		return int32(f)
	}
	return math.MinInt32
}

// CheckInteger is luaL_checkinteger (lua_Integer is ptrdiff_t).
func CheckInteger(l *lua.State, i int) int64 { return CInt64(CheckNumber(l, i)) }

// OptInteger is luaL_optinteger.
func OptInteger(l *lua.State, i int, def int64) int64 {
	if l.IsNoneOrNil(i) {
		return def
	}
	return CheckInteger(l, i)
}

// CheckInt is luaL_checkint: the integer cut to a C int.
func CheckInt(l *lua.State, i int) int32 { return int32(CheckInteger(l, i)) }

// OptInt is luaL_optint.
func OptInt(l *lua.State, i int, def int32) int32 {
	if l.IsNoneOrNil(i) {
		return def
	}
	return CheckInt(l, i)
}

// glibcNaN is the NaN glibc's strtod returns for s, which holds "nan" or
// "nan(chars)": the default quiet NaN, whose payload is the chars read as a
// C integer (decimal, 0x hex or 0 octal) when they are one. The payload
// shows through bit's conversion and struct's 'd'.
func glibcNaN(s string, neg bool) float64 {
	bits := uint64(0x7ff8) << 48
	if neg {
		bits |= 1 << 63
	}
	open, end := strings.IndexByte(s, '('), strings.IndexByte(s, ')')
	if open >= 0 && end > open+1 {
		digits, base := s[open+1:end], 10
		switch {
		case len(digits) > 2 && digits[0] == '0' && digits[1]|0x20 == 'x':
			digits, base = digits[2:], 16
		case len(digits) > 1 && digits[0] == '0':
			digits, base = digits[1:], 8
		}
		var payload uint64
		valid := true
		for _, c := range []byte(digits) {
			d := base
			switch {
			case '0' <= c && c <= '9':
				d = int(c - '0')
			case 'a' <= c|0x20 && c|0x20 <= 'f':
				d = int(c|0x20-'a') + 10
			}
			if d >= base {
				valid = false
				break
			}
			if payload > (math.MaxUint64-uint64(d))/uint64(base) {
				payload = math.MaxUint64 // strtoull saturates
			} else {
				payload = payload*uint64(base) + uint64(d)
			}
		}
		if valid {
			bits |= payload & (1<<51 - 1)
		}
	}
	return math.Float64frombits(bits)
}

// CNull is the payload of a userdata that stands for a C NULL light
// userdata (cjson.null): tostring prints it as glibc's %p prints NULL.
type CNull struct{}

// ProxyKey is the registry field that holds the table mapping every
// read-only proxy luavm gives scripts (the globals, the library tables) to
// the table it shows.
const ProxyKey = "luavm.proxyof"

// ReadonlyError is the error of a write to a Redis read-only table.
const ReadonlyError = "Attempt to modify a readonly table"

// pushProxied pushes the table the value at idx shows if it is one of
// luavm's read-only proxies, and reports whether it was. A table without a
// metatable is never a proxy and costs one check.
func pushProxied(l *lua.State, idx int) bool {
	idx = l.AbsIndex(idx)
	if !l.MetaTable(idx) {
		return false
	}
	l.Pop(1)
	l.Field(lua.RegistryIndex, ProxyKey)
	if !l.IsTable(-1) {
		l.Pop(1)
		return false
	}
	l.PushValue(idx)
	l.RawGet(-2)
	l.Remove(-2)
	if !l.IsTable(-1) {
		l.Pop(1)
		return false
	}
	return true
}

// Unproxy replaces the value at idx, if it is one of luavm's read-only
// proxies, by the table it shows. Redis's read-only tables are plain
// tables with a flag, so code that walks a table with Next (encoders,
// table.foreach) must see through luavm's proxies, which are empty.
func Unproxy(l *lua.State, idx int) {
	idx = l.AbsIndex(idx)
	if pushProxied(l, idx) {
		l.Replace(idx)
	}
}

// CheckWritable raises Redis's read-only table error if the table at idx
// is one of luavm's read-only proxies, for Go code about to write to it
// with RawSet: Redis's lua_rawset refuses the write, with no position in
// the message.
func CheckWritable(l *lua.State, idx int) {
	if pushProxied(l, idx) {
		l.PushString(ReadonlyError)
		l.Error()
	}
}
