// Package luaresp converts between RESP replies and Lua values exactly as
// Redis 7.0 does for scripts: Push turns the reply of a command run with
// redis.call into the Lua value the script sees, and Append turns the value
// a script returns into the reply its client receives.
//
// Both directions follow Redis's conversion rules byte for byte, including
// its quirks: strings inside status and error tables end at the first NUL
// byte (Redis reads them as C strings), numbers are truncated to integers,
// arrays end at the first nil, and a reply nested too deeply ends in a
// "reached lua stack limit" error at the same depth as in Redis.
package luaresp

import (
	"math"
	"strconv"
	"strings"

	"github.com/Shopify/go-lua"

	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// Redis converts a script's return value with a recursive C function that
// asks the Lua 5.1 stack for four free slots at every level and gives up
// with an error once the stack would pass LUAI_MAXCSTACK slots. The number
// of slots in use is simulated here so that the cut happens at the same
// nesting depth as in Redis, whatever go-lua's own stack looks like.
const (
	luaMaxCStack     = 8000 // LUAI_MAXCSTACK of Lua 5.1
	slotsPerCheck    = 4    // lua_checkstack(lua, 4) at each level
	topLevelSlots    = 2    // the error handler and the returned value
	stackLimitError  = "-ERR reached lua stack limit\r\n"
	maxDoubleLiteral = 5 * 1024 // MAX_LONG_DOUBLE_CHARS: Redis reads longer RESP3 doubles as 0
)

// Append converts the Lua value at idx to the RESP reply Redis sends for a
// script's return value and appends it to dst. scriptResp is the protocol
// the script selected with redis.setresp (2 by default, or 3) and
// clientProto the protocol of the client that ran the script (2 or 3).
//
// Append reads tables with raw accesses only and never raises a Lua error,
// so it may run outside a protected call. The stack is left as it was.
func Append(dst []byte, l *lua.State, idx int, scriptResp, clientProto int) []byte {
	return AppendLimits(dst, l, idx, scriptResp, clientProto, nil)
}

// AppendLimits is Append traversing map and set tables with lim.Next,
// linear where go-lua's l.Next is quadratic (lim may be nil).
func AppendLimits(dst []byte, l *lua.State, idx int, scriptResp, clientProto int, lim *luautil.Limits) []byte {
	top := l.Top()
	idx = l.AbsIndex(idx)
	e := encoder{l: l, lim: lim, scriptResp: scriptResp, clientProto: clientProto, buf: dst}
	if !l.CheckStack(1) {
		l.SetTop(top)
		return append(dst, stackLimitError...)
	}
	l.PushValue(idx)
	e.value(topLevelSlots)
	l.SetTop(top)
	return e.buf
}

type encoder struct {
	l           *lua.State
	lim         *luautil.Limits
	scriptResp  int
	clientProto int
	buf         []byte
}

// value converts the value on top of the stack and pops it. used is the
// number of Lua stack slots Redis would have in use at this point.
func (e *encoder) value(used int) {
	l := e.l
	defer l.Pop(1)
	if used+slotsPerCheck > luaMaxCStack || !l.CheckStack(slotsPerCheck) {
		e.buf = append(e.buf, stackLimitError...)
		return
	}
	switch l.TypeOf(-1) {
	case lua.TypeString:
		s := e.str(-1)
		e.bulk(s)
	case lua.TypeBoolean:
		e.boolean(l.ToBoolean(-1))
	case lua.TypeNumber:
		f, _ := l.ToNumber(-1)
		e.buf = append(e.buf, ':')
		e.buf = strconv.AppendInt(e.buf, truncate(f), 10)
		e.buf = append(e.buf, '\r', '\n')
	case lua.TypeTable:
		e.table(used)
	default:
		e.null()
	}
}

// truncate is C's (long long) cast of a double on x86-64: values that do not
// fit, infinities and NaN all become the "integer indefinite" INT64_MIN.
func truncate(f float64) int64 {
	if math.IsNaN(f) || f >= 9223372036854775808.0 || f < -9223372036854775808.0 {
		return math.MinInt64
	}
	return int64(f)
}

// str reads the string at idx, which the caller has checked to be a string.
// lua.State.ToString would store the string back into the slot, which
// allocates; ToValue does not.
func (e *encoder) str(idx int) string {
	s, _ := e.l.ToValue(idx).(string)
	return s
}

func (e *encoder) boolean(b bool) {
	switch {
	case e.scriptResp == 2 && b:
		e.buf = append(e.buf, ":1\r\n"...)
	case e.scriptResp == 2:
		e.null()
	case e.clientProto == 2 && b:
		e.buf = append(e.buf, ":1\r\n"...)
	case e.clientProto == 2:
		e.buf = append(e.buf, ":0\r\n"...)
	case b:
		e.buf = append(e.buf, "#t\r\n"...)
	default:
		e.buf = append(e.buf, "#f\r\n"...)
	}
}

func (e *encoder) null() {
	if e.clientProto == 2 {
		e.buf = append(e.buf, "$-1\r\n"...)
	} else {
		e.buf = append(e.buf, "_\r\n"...)
	}
}

func (e *encoder) bulk(s string) {
	e.buf = append(e.buf, '$')
	e.buf = strconv.AppendInt(e.buf, int64(len(s)), 10)
	e.buf = append(e.buf, '\r', '\n')
	e.buf = append(e.buf, s...)
	e.buf = append(e.buf, '\r', '\n')
}

func (e *encoder) header(prefix byte, n int) {
	e.buf = append(e.buf, prefix)
	e.buf = strconv.AppendInt(e.buf, int64(n), 10)
	e.buf = append(e.buf, '\r', '\n')
}

// field pushes t[key] (t on top of the stack, key a string) with a raw
// access and returns its type. key is an interface so that constant keys
// reach go-lua without an allocation.
func (e *encoder) field(key any) lua.Type {
	e.l.RawGetValue(-1, key)
	return e.l.TypeOf(-1)
}

// table converts the table on top of the stack. Redis looks for the special
// fields in a fixed order and the first one of the right type wins; a table
// with none of them is an array.
func (e *encoder) table(used int) {
	l := e.l
	if e.field("err") == lua.TypeString {
		msg := e.str(-1)
		l.Pop(1)
		e.errorReply(msg)
		return
	}
	l.Pop(1)
	if e.field("ok") == lua.TypeString {
		s := e.str(-1)
		l.Pop(1)
		e.buf = append(e.buf, '+')
		e.buf = append(e.buf, noNewlines(cString(s))...)
		e.buf = append(e.buf, '\r', '\n')
		return
	}
	l.Pop(1)
	if e.field("double") == lua.TypeNumber {
		f, _ := l.ToNumber(-1)
		l.Pop(1)
		e.double(f)
		return
	}
	l.Pop(1)
	if e.field("big_number") == lua.TypeString {
		s := e.str(-1)
		l.Pop(1)
		s = noNewlines(s)
		if e.clientProto == 2 {
			e.bulk(s)
		} else {
			e.buf = append(e.buf, '(')
			e.buf = append(e.buf, s...)
			e.buf = append(e.buf, '\r', '\n')
		}
		return
	}
	l.Pop(1)
	if e.field("verbatim_string") == lua.TypeTable {
		if e.field("format") == lua.TypeString {
			format := e.str(-1)
			l.RawGetValue(-2, "string")
			if l.TypeOf(-1) == lua.TypeString {
				s := e.str(-1)
				l.Pop(3)
				e.verbatim(cString(format), s)
				return
			}
			l.Pop(1)
		}
		l.Pop(1)
	}
	l.Pop(1)
	if e.field("map") == lua.TypeTable {
		n := e.countPairs()
		if e.clientProto == 2 {
			e.header('*', 2*n)
		} else {
			e.header('%', n)
		}
		l.PushNil()
		for e.lim.Next(l, -2) {
			l.PushValue(-2)
			e.value(used + 4) // table, map, key, value, key copy
			e.value(used + 3)
		}
		l.Pop(1)
		return
	}
	l.Pop(1)
	if e.field("set") == lua.TypeTable {
		if e.clientProto == 2 {
			e.header('*', e.countPairs())
		} else {
			e.header('~', e.countPairs())
		}
		l.PushNil()
		for e.lim.Next(l, -2) {
			l.Pop(1)
			l.PushValue(-1)
			e.value(used + 3) // table, set, key, key copy
		}
		l.Pop(1)
		return
	}
	l.Pop(1)
	// Redis writes the length after the elements; counting them first
	// gives the same header without moving the bytes written since.
	n := 0
	for {
		l.RawGetInt(-1, n+1)
		end := l.TypeOf(-1) == lua.TypeNil
		l.Pop(1)
		if end {
			break
		}
		n++
	}
	e.header('*', n)
	for j := 1; j <= n; j++ {
		l.RawGetInt(-1, j)
		e.value(used + 1)
	}
}

// countPairs counts the entries of the table on top of the stack.
func (e *encoder) countPairs() int {
	n := 0
	e.l.PushNil()
	for e.lim.Next(e.l, -2) {
		e.l.Pop(1)
		n++
	}
	return n
}

// errorReply writes {err=msg} as Redis does: "-" and the message up to its
// first NUL byte, trailing CR/LF removed and inner ones turned into spaces.
func (e *encoder) errorReply(msg string) {
	msg = strings.TrimRight(cString(msg), "\r\n")
	e.buf = append(e.buf, '-')
	e.buf = append(e.buf, noNewlines(msg)...)
	e.buf = append(e.buf, '\r', '\n')
}

// double is addReplyDouble: a RESP3 double, or for RESP2 clients a bulk
// string, both printed with %.17g.
func (e *encoder) double(f float64) {
	if e.clientProto == 2 {
		e.bulk(luautil.FormatG(f, 17))
		return
	}
	e.buf = append(e.buf, ',')
	e.buf = luautil.AppendG(e.buf, f, 17)
	e.buf = append(e.buf, '\r', '\n')
}

// verbatim is addReplyVerbatim: the format is cut or padded with spaces to
// three bytes; RESP2 clients get the bare string.
func (e *encoder) verbatim(format, s string) {
	if e.clientProto == 2 {
		e.bulk(s)
		return
	}
	e.header('=', len(s)+4)
	for i := 0; i < 3; i++ {
		if i < len(format) {
			e.buf = append(e.buf, format[i])
		} else {
			e.buf = append(e.buf, ' ')
		}
	}
	e.buf = append(e.buf, ':')
	e.buf = append(e.buf, s...)
	e.buf = append(e.buf, '\r', '\n')
}

// cString is s as C code sees it through lua_tostring: up to the first NUL.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// noNewlines replaces CR and LF with spaces, as Redis does before it writes
// status and error lines.
func noNewlines(s string) string {
	if strings.IndexAny(s, "\r\n") < 0 {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}
