package cmsgpack

import (
	"encoding/binary"
	"math"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// minBuffer is the first allocation of the output buffer: small outputs
// then need one allocation instead of a doubling series.
const minBuffer = 64

// encoder appends the MessagePack form of Lua values to buf, charging the
// buffer's growth to the script's budget before it happens.
type encoder struct {
	l     *lua.State
	buf   []byte
	stack cStack
	luautil.Budget
}

func pack(l *lua.State, lim *luautil.Limits) int {
	nargs := l.Top()
	if nargs == 0 {
		luautil.ArgError(l, 0, "MessagePack pack needs input.")
	}
	if 2*nargs > cStackMax {
		luautil.ArgError(l, 0, "Too many arguments for MessagePack pack.")
	}
	e := &encoder{l: l, stack: cStack{l: l}, Budget: luautil.Budget{L: l, Lim: lim}}
	for i := 1; i <= nargs; i++ {
		// In C, the packed form of each earlier argument sits on the stack
		// above the arguments while the next one is encoded.
		e.stack.top = nargs + i
		l.PushValue(i)
		e.value(0)
		l.Pop(1)
	}
	e.Charge(len(e.buf))
	l.PushString(string(e.buf))
	return 1
}

// reserve makes room for n more bytes, doubling as the C buffer does.
func (e *encoder) reserve(n int) {
	if cap(e.buf)-len(e.buf) >= n {
		return
	}
	newCap := max(2*(len(e.buf)+n), minBuffer)
	e.Charge(newCap - cap(e.buf))
	nb := make([]byte, len(e.buf), newCap)
	copy(nb, e.buf)
	e.buf = nb
}

func (e *encoder) add(p ...byte) {
	e.reserve(len(p))
	e.buf = append(e.buf, p...)
}

// header writes a type byte followed by n as a big-endian integer of size
// bytes (0, 1, 2, 4 or 8).
func (e *encoder) header(code byte, n uint64, size int) {
	e.reserve(1 + size)
	e.buf = append(e.buf, code)
	switch size {
	case 1:
		e.buf = append(e.buf, byte(n))
	case 2:
		e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(n))
	case 4:
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(n))
	case 8:
		e.buf = binary.BigEndian.AppendUint64(e.buf, n)
	}
}

// value encodes the value on top of the Lua stack at table depth level.
func (e *encoder) value(level int) {
	e.Tick()
	l := e.l
	switch l.TypeOf(-1) {
	case lua.TypeString:
		// ToValue, unlike ToString, does not box the string again.
		s, _ := l.ToValue(-1).(string)
		e.str(s)
	case lua.TypeBoolean:
		if l.ToBoolean(-1) {
			e.add(0xc3)
		} else {
			e.add(0xc2)
		}
	case lua.TypeNumber:
		n, _ := l.ToNumber(-1)
		e.number(n)
	case lua.TypeTable:
		if level == maxNesting {
			e.add(0xc0)
		} else {
			e.table(level)
		}
	default:
		e.add(0xc0)
	}
}

func (e *encoder) str(s string) {
	n := uint64(len(s))
	switch {
	case n < 32:
		e.header(0xa0|byte(n), 0, 0)
	case n <= 0xff:
		e.header(0xd9, n, 1)
	case n <= 0xffff:
		e.header(0xda, n, 2)
	default:
		e.header(0xdb, n, 4)
	}
	e.reserve(len(s))
	e.buf = append(e.buf, s...)
}

// number encodes integral values that fit in int64 as integers and the
// rest as float 32 when that loses nothing, else float 64.
func (e *encoder) number(n float64) {
	if i := luautil.CInt64(n); !math.IsInf(n, 0) && float64(i) == n {
		e.integer(i)
		return
	}
	if f := float32(n); float64(f) == n {
		e.header(0xca, uint64(math.Float32bits(f)), 4)
	} else {
		e.header(0xcb, math.Float64bits(n), 8)
	}
}

func (e *encoder) integer(n int64) {
	u := uint64(n)
	switch {
	case n >= 0 && n <= 127:
		e.header(byte(n), 0, 0)
	case n >= 0 && n <= 0xff:
		e.header(0xcc, u, 1)
	case n >= 0 && n <= 0xffff:
		e.header(0xcd, u, 2)
	case n >= 0 && n <= 0xffffffff:
		e.header(0xce, u, 4)
	case n >= 0:
		e.header(0xcf, u, 8)
	case n >= -32:
		e.header(byte(n), 0, 0)
	case n >= -128:
		e.header(0xd0, u, 1)
	case n >= -32768:
		e.header(0xd1, u, 2)
	case n >= -2147483648:
		e.header(0xd2, u, 4)
	default:
		e.header(0xd3, u, 8)
	}
}

// container writes an array or map header for n elements.
func (e *encoder) container(fix, code16, code32 byte, n uint64) {
	var h [5]byte
	e.add(containerHeader(h[:0], fix, code16, code32, n)...)
}

// containerHeader appends the array or map header for n elements to dst.
func containerHeader(dst []byte, fix, code16, code32 byte, n uint64) []byte {
	switch {
	case n <= 15:
		return append(dst, fix|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, code16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, code32), uint32(n))
}

// arrayLen reports whether the table on top of the stack has exactly the
// keys 1..n (positive integral numbers within C int range, no holes), and n.
func (e *encoder) arrayLen() (int, bool) {
	l := e.l
	count, max := 0, 0
	for l.PushNil(); e.Lim.Next(l, -2); {
		l.Pop(1)
		n, _ := l.ToNumber(-1)
		if l.TypeOf(-1) != lua.TypeNumber || n <= 0 || n > math.MaxInt32 || float64(int32(n)) != n {
			l.Pop(1)
			return 0, false
		}
		if int(n) > max {
			max = int(n)
		}
		count++
	}
	return count, max == count
}

func (e *encoder) table(level int) {
	l := e.l
	l.CheckStack(4)
	luautil.Unproxy(l, -1)
	top := e.stack.top
	e.stack.check(2, "in function table_is_an_array")
	if n, ok := e.arrayLen(); ok {
		e.stack.check(1, "in function mp_encode_lua_table_as_array")
		e.container(0x90, 0xdc, 0xdd, uint64(n))
		for j := 1; j <= n; j++ {
			l.RawGetInt(-1, j)
			e.stack.top = top + 1
			e.value(level + 1)
			l.Pop(1)
		}
		e.stack.top = top
		return
	}
	e.stack.check(3, "in function mp_encode_lua_table_as_map")
	// The C code walks the table once to count the pairs and again to
	// encode them. go-lua's Next costs time linear in the position of the
	// key, so a walk is quadratic: here one walk encodes the pairs and
	// counts them, and the header is slid in front of them afterwards.
	start := len(e.buf)
	n := 0
	for l.PushNil(); e.Lim.Next(l, -2); n++ {
		l.PushValue(-2)
		e.stack.top = top + 3
		e.value(level + 1)
		l.Pop(1)
		e.stack.top = top + 2
		e.value(level + 1)
		l.Pop(1)
	}
	var h [5]byte
	hdr := containerHeader(h[:0], 0x80, 0xde, 0xdf, uint64(n))
	e.reserve(len(hdr))
	e.buf = e.buf[:len(e.buf)+len(hdr)]
	copy(e.buf[start+len(hdr):], e.buf[start:])
	copy(e.buf[start:], hdr)
	e.stack.top = top
}
