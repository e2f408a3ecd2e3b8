package structlib

import (
	"fmt"
	"math"
	"strings"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// This file holds the Lua 5.1 lauxlib checks the library uses. go-lua's own
// follow Lua 5.2: they parse numeric strings with Go's rules (no "inf",
// "nan", overflowing exponents or text after a NUL), format numbers with
// Go's %g ("+Inf") and cannot name the called function (they print '?').

// newLib creates a table of Go closures, each carrying its name as its
// first upvalue so that argError can name it.
func newLib(l *lua.State, funcs []lua.RegistryFunction) {
	l.CreateTable(0, len(funcs))
	for _, f := range funcs {
		l.PushString(f.Name)
		l.PushGoClosure(f.Function, 1)
		l.SetField(-2, f.Name)
	}
}

// errorf is luaL_error: the message after the position of the calling Lua
// code.
func errorf(l *lua.State, format string, args ...any) {
	lua.Where(l, 1)
	l.PushString(fmt.Sprintf(format, args...))
	l.Concat(2)
	l.Error()
}

// argError is luaL_argerror. Lua 5.1 names the function from the call
// site's bytecode, which go-lua does not expose reliably; the field name
// under which the library registered the function is what 5.1 prints for
// the usual lib.fn(...) and lib['fn'](...) calls. Called from Go (pcall),
// the function is '?', as in 5.1.
func argError(l *lua.State, arg int, extra string) {
	name := "?"
	if caller, ok := lua.Stack(l, 1); ok {
		if d, _ := lua.Info(l, "S", caller); d.What != "Go" {
			name, _ = l.ToString(lua.UpValueIndex(1))
		}
	}
	errorf(l, "bad argument #%d to '%s' (%s)", arg, name, extra)
}

func argCheck(l *lua.State, cond bool, arg int, extra string) {
	if !cond {
		argError(l, arg, extra)
	}
}

// typeError is luaL_typerror.
func typeError(l *lua.State, arg int, want string) {
	argError(l, arg, want+" expected, got "+lua.TypeNameOf(l, arg))
}

// toNumber is lua_tonumber: numbers, and strings that Lua 5.1's strtod
// based conversion accepts.
func toNumber(l *lua.State, i int) (float64, bool) {
	switch l.TypeOf(i) {
	case lua.TypeNumber:
		n, _ := l.ToNumber(i)
		return n, true
	case lua.TypeString:
		s, _ := l.ToValue(i).(string) // ToString would allocate
		n, ok := luautil.ParseNumber(s)
		if n != n {
			n = glibcNaN(s, math.Signbit(n))
		}
		return n, ok
	}
	return 0, false
}

// checkNumber is luaL_checknumber.
func checkNumber(l *lua.State, i int) float64 {
	n, ok := toNumber(l, i)
	if !ok {
		typeError(l, i, "number")
	}
	return n
}

// cInt64 converts a double to int64 as x86-64's cvttsd2si does (Lua 5.1's
// lua_Integer casts): out-of-range values and NaN give math.MinInt64.
func cInt64(d float64) int64 {
	if d != d || d >= 1<<63 || d < -(1<<63) {
		return math.MinInt64
	}
	return int64(d)
}

// optInteger is luaL_optinteger: absent or nil gives def, a number (or
// numeric string) is truncated toward zero.
func optInteger(l *lua.State, i int, def int64) int64 {
	if l.IsNoneOrNil(i) {
		return def
	}
	return cInt64(checkNumber(l, i))
}

// checkString is luaL_checklstring: strings, and numbers formatted as Lua
// 5.1's tostring does.
func checkString(l *lua.State, i int) string {
	switch l.TypeOf(i) {
	case lua.TypeString:
		s, _ := l.ToValue(i).(string) // ToString would allocate
		return s
	case lua.TypeNumber:
		n, _ := l.ToNumber(i)
		return luautil.FormatNumber(n)
	}
	typeError(l, i, "string")
	return ""
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
