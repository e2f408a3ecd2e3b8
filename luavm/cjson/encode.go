package cjson

import (
	"math"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// encoder serialises the value on top of the stack into buf.
type encoder struct {
	l   *lua.State
	cfg *config
	b   luautil.Budget
	buf []byte

	// charged is how much of buf has been charged to the budget.
	charged int

	// slots mirrors the stack slots the C encoder holds above its base, so
	// that its lua_checkstack(3) failure happens at the same depth.
	slots int
}

func encode(l *lua.State, cfg *config, lim *luautil.Limits) int {
	if l.Top() != 1 {
		luautil.ArgError(l, 1, "expected 1 argument")
	}
	e := &encoder{l: l, cfg: cfg, b: luautil.Budget{L: l, Lim: lim}, slots: 1}
	if cfg.keepBuffer {
		e.buf = cfg.buf[:0]
		cfg.buf = nil // a nested failure must not leave it half-written
	}
	e.value(0)
	e.settle()
	e.b.Charge(len(e.buf))
	l.PushString(string(e.buf))
	if cfg.keepBuffer {
		cfg.buf = e.buf
	}
	return 1
}

// reserve charges the budget for n more bytes before they are appended.
func (e *encoder) reserve(n int) {
	if need := len(e.buf) + n - e.charged; need > 0 {
		e.b.Charge(need)
		e.charged += need
	}
}

// settle charges whatever was appended beyond the reservations.
func (e *encoder) settle() {
	if len(e.buf) > e.charged {
		e.reserve(0)
	}
}

// fail is json_encode_exception: the type of the value at index and why
// it cannot be serialised.
func (e *encoder) fail(index int, reason string) {
	luautil.Errorf(e.l, "Cannot serialise %s: %s", luautil.TypeName(e.l, index), reason)
}

// value appends the value on top of the stack.
func (e *encoder) value(depth int) {
	l := e.l
	e.b.Tick()
	switch l.TypeOf(-1) {
	case lua.TypeString:
		s, _ := l.ToString(-1)
		e.str(s)
	case lua.TypeNumber:
		e.number(-1)
	case lua.TypeBoolean:
		if l.ToBoolean(-1) {
			e.buf = append(e.buf, "true"...)
		} else {
			e.buf = append(e.buf, "false"...)
		}
	case lua.TypeTable:
		depth++
		if int64(depth) > int64(e.cfg.encodeMaxDepth) || e.slots+3 > cStackMax {
			luautil.Errorf(l, "Cannot serialise, excessive nesting (%d)", depth)
		}
		if !l.CheckStack(4) {
			luautil.Errorf(l, "Cannot serialise, excessive nesting (%d)", depth)
		}
		luautil.Unproxy(l, -1)
		if n := e.arrayLength(); n > 0 {
			e.array(depth, int(n))
		} else {
			e.object(depth)
		}
	case lua.TypeNil:
		e.buf = append(e.buf, "null"...)
	case lua.TypeUserData:
		if IsNull(l, -1) {
			e.buf = append(e.buf, "null"...)
			break
		}
		fallthrough
	default:
		e.fail(-1, "type not supported")
	}
	if len(e.buf)-e.charged > 1024 {
		e.settle()
	}
}

// str appends s as a JSON string with cjson's escapes: the short forms
// for \b \t \n \f \r, \u00XX for other control bytes and DEL, and "\/".
// Bytes from 0x80 up pass through untouched.
func (e *encoder) str(s string) {
	e.reserve(len(s) + 2)
	const hex = "0123456789abcdef"
	b := append(e.buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != '/' && c != 0x7f {
			continue
		}
		b = append(b, s[start:i]...)
		start = i + 1
		switch c {
		case '"', '\\', '/':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		}
	}
	b = append(b, s[start:]...)
	e.buf = append(b, '"')
}

// number appends the number at index as printf("%.<precision>g") does,
// after the encode_invalid_numbers policy for infinities and NaN.
func (e *encoder) number(index int) {
	n, _ := e.l.ToNumber(index)
	switch e.cfg.encodeInvalid {
	case invalidOff:
		if math.IsInf(n, 0) || math.IsNaN(n) {
			e.fail(index, "must not be NaN or Inf")
		}
	case invalidOn:
		if math.IsNaN(n) {
			e.buf = append(e.buf, "nan"...)
			return
		}
	default:
		if math.IsInf(n, 0) || math.IsNaN(n) {
			e.buf = append(e.buf, "null"...)
			return
		}
	}
	e.buf = luautil.AppendG(e.buf, n, int(e.cfg.precision))
}

// arrayLength is lua_array_length: the largest key if every key is a
// positive integral number and the table is not excessively sparse, else
// -1 (or an error). The largest key is kept in a C int, so keys from 2^31
// up turn it into INT_MIN, which makes the table an object.
func (e *encoder) arrayLength() int32 {
	l := e.l
	var max, items int32
	for l.PushNil(); e.b.Lim.Next(l, -2); {
		if l.TypeOf(-2) == lua.TypeNumber {
			if k, _ := l.ToNumber(-2); k != 0 && math.Floor(k) == k && k >= 1 {
				if k > float64(max) {
					max = luautil.CInt32(k)
				}
				items++
				l.Pop(1)
				continue
			}
		}
		l.Pop(2)
		return -1
	}
	cfg := e.cfg
	if cfg.sparseRatio > 0 && max > items*cfg.sparseRatio && max > cfg.sparseSafe {
		if !cfg.sparseConvert {
			e.fail(-1, "excessively sparse array")
		}
		return -1
	}
	return max
}

func (e *encoder) array(depth, n int) {
	l := e.l
	e.buf = append(e.buf, '[')
	e.slots++
	for i := 1; i <= n; i++ {
		if i > 1 {
			e.buf = append(e.buf, ',')
		}
		l.RawGetInt(-1, i)
		e.value(depth)
		l.Pop(1)
	}
	e.slots--
	e.buf = append(e.buf, ']')
}

func (e *encoder) object(depth int) {
	l := e.l
	e.buf = append(e.buf, '{')
	e.slots += 2
	comma := false
	for l.PushNil(); e.b.Lim.Next(l, -2); {
		if comma {
			e.buf = append(e.buf, ',')
		}
		comma = true
		switch l.TypeOf(-2) {
		case lua.TypeNumber:
			e.buf = append(e.buf, '"')
			e.number(-2)
			e.buf = append(e.buf, '"', ':')
		case lua.TypeString:
			k, _ := l.ToString(-2)
			e.str(k)
			e.buf = append(e.buf, ':')
		default:
			e.fail(-2, "table key must be a number or string")
		}
		e.value(depth)
		l.Pop(1)
	}
	e.slots -= 2
	e.buf = append(e.buf, '}')
}
