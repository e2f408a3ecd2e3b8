package stdlib

import (
	"fmt"
	"math"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// This file holds Lua 5.1's lauxlib argument checks. go-lua's own helpers
// follow Lua 5.2: they name functions by searching the globals
// ("string.rep" instead of 5.1's "?"), accept only Go-parsed numeric
// strings and convert numbers with Go's %g. These follow lauxlib.c of 5.1.

// errorf raises a Lua error prefixed with the caller's position, as
// luaL_error does.
func errorf(l *lua.State, format string, args ...any) {
	lua.Where(l, 1)
	l.PushString(fmt.Sprintf(format, args...))
	l.Concat(2)
	l.Error()
}

// argError is luaL_argerror. Lua 5.1 names the function from the call
// site's bytecode; go-lua's call-site names are unreliable (it decodes the
// instruction after the call), so the function's library name stands in,
// which is what 5.1 prints for the usual string.rep(...) / unpack(...)
// forms. As in 5.1, a function called from Go (pcall(f), sort's
// comparator...) is '?'. Every function of this package is a Go closure
// whose first upvalue is its name (see pushNamed).
func argError(l *lua.State, arg int, extra string) {
	if _, ok := lua.Stack(l, 0); !ok {
		errorf(l, "bad argument #%d (%s)", arg, extra)
	}
	name := "?"
	if caller, ok := lua.Stack(l, 1); ok {
		if d, _ := lua.Info(l, "S", caller); d.What != "Go" {
			name, _ = l.ToString(lua.UpValueIndex(1))
		}
	}
	errorf(l, "bad argument #%d to '%s' (%s)", arg, name, extra)
}

// pushNamed pushes f as a Go closure carrying its name for argError.
func pushNamed(l *lua.State, name string, f lua.Function) {
	l.PushString(name)
	l.PushGoClosure(f, 1)
}

// typeName is luaL_typename, with "no value" for absent arguments.
func typeName(l *lua.State, i int) string { return l.TypeOf(i).String() }

func typeError(l *lua.State, arg int, want string) {
	argError(l, arg, want+" expected, got "+typeName(l, arg))
}

func argCheck(l *lua.State, cond bool, arg int, extra string) {
	if !cond {
		argError(l, arg, extra)
	}
}

// toNumber is lua_tonumber: numbers, and strings that Lua 5.1's strtod
// based conversion accepts.
func toNumber(l *lua.State, i int) (float64, bool) {
	switch l.TypeOf(i) {
	case lua.TypeNumber:
		n, _ := l.ToNumber(i)
		return n, true
	case lua.TypeString:
		s, _ := l.ToString(i)
		return luautil.ParseNumber(s)
	}
	return 0, false
}

// toLString is lua_tolstring: strings, and numbers formatted with %.14g.
func toLString(l *lua.State, i int) (string, bool) {
	switch l.TypeOf(i) {
	case lua.TypeString:
		return l.ToString(i)
	case lua.TypeNumber:
		n, _ := l.ToNumber(i)
		return luautil.FormatNumber(n), true
	}
	return "", false
}

func checkString(l *lua.State, i int) string {
	s, ok := toLString(l, i)
	if !ok {
		typeError(l, i, "string")
	}
	return s
}

func optString(l *lua.State, i int, def string) string {
	if l.IsNoneOrNil(i) {
		return def
	}
	return checkString(l, i)
}

func checkNumber(l *lua.State, i int) float64 {
	n, ok := toNumber(l, i)
	if !ok {
		typeError(l, i, "number")
	}
	return n
}

func optNumber(l *lua.State, i int, def float64) float64 {
	if l.IsNoneOrNil(i) {
		return def
	}
	return checkNumber(l, i)
}

// toInteger is C's (long long) cast of a double on x86-64: truncation, and
// the "integer indefinite" value for NaN and out-of-range numbers.
func toInteger(f float64) int64 {
	if f >= -9223372036854775808.0 && f < 9223372036854775808.0 {
		return int64(f)
	}
	return math.MinInt64
}

// checkInteger is luaL_checkinteger (lua_Integer is ptrdiff_t).
func checkInteger(l *lua.State, i int) int64 { return toInteger(checkNumber(l, i)) }

func optInteger(l *lua.State, i int, def int64) int64 {
	if l.IsNoneOrNil(i) {
		return def
	}
	return checkInteger(l, i)
}

// checkInt is luaL_checkint: the integer cut to a C int.
func checkInt(l *lua.State, i int) int32 { return int32(checkInteger(l, i)) }

func optInt(l *lua.State, i int, def int32) int32 {
	if l.IsNoneOrNil(i) {
		return def
	}
	return checkInt(l, i)
}

func checkType(l *lua.State, i int, t lua.Type) {
	if l.TypeOf(i) != t {
		typeError(l, i, t.String())
	}
}

func checkAny(l *lua.State, i int) {
	if l.TypeOf(i) == lua.TypeNone {
		argError(l, i, "value expected")
	}
}

// setFuncs stores fs into the table at the top of the stack.
func setFuncs(l *lua.State, fs map[string]lua.Function) {
	for name, f := range fs {
		pushNamed(l, name, f)
		l.SetField(-2, name)
	}
}
