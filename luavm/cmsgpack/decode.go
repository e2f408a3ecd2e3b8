package cmsgpack

import (
	"encoding/binary"
	"math"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// tableSlotCost is what one value stored in a decoded table is charged: a
// rough size of a go-lua table slot, so that a large array of one-byte
// nils cannot grow far beyond the budget.
const tableSlotCost = 16

// decoder pushes the Lua values of a MessagePack stream.
type decoder struct {
	l     *lua.State
	data  string
	pos   int
	stack cStack
	luautil.Budget
}

func unpack(l *lua.State, lim *luautil.Limits) int {
	// Plain unpack keeps every argument on the stack.
	return unpackFull(l, lim, l.Top(), 0, 0)
}

func unpackOne(l *lua.State, lim *luautil.Limits) int {
	offset := luautil.OptInteger(l, 2, 0)
	return unpackFull(l, lim, keepFirst(l), 1, offset)
}

func unpackLimit(l *lua.State, lim *luautil.Limits) int {
	limit := luautil.CheckInteger(l, 2)
	offset := luautil.OptInteger(l, 3, 0)
	return unpackFull(l, lim, keepFirst(l), limit, offset)
}

// keepFirst drops every argument but the first, as the C code's
// lua_pop(L, lua_gettop(L)-1) does, and returns the new stack size.
func keepFirst(l *lua.State) int {
	if l.Top() > 1 {
		l.SetTop(1)
	}
	return l.Top()
}

// unpackFull decodes up to limit values starting at byte offset; with both
// zero it decodes everything and returns no offset. nargs is the number of
// slots below the results, which the C stack limit counts.
func unpackFull(l *lua.State, lim *luautil.Limits, nargs int, limit, offset int64) int {
	s := luautil.CheckString(l, 1)
	decodeAll := limit == 0 && offset == 0
	if offset < 0 || limit < 0 {
		// The C code prints the input length where it means the limit.
		luautil.Errorf(l, "Invalid request to unpack with offset of %d and limit of %d.", int32(offset), int32(len(s)))
	} else if uint64(offset) > uint64(len(s)) {
		luautil.Errorf(l, "Start offset %d greater than input length %d.", int32(offset), int32(len(s)))
	}
	if decodeAll {
		limit = math.MaxInt32
	}
	d := &decoder{l: l, data: s, pos: int(offset), stack: cStack{l: l}, Budget: luautil.Budget{L: l, Lim: lim}}
	cnt := 0
	for ; d.pos < len(s) && int64(cnt) < limit; cnt++ {
		d.stack.top = nargs + cnt
		d.value()
	}
	if !decodeAll {
		d.stack.top = nargs + cnt
		d.stack.check(1, "in function mp_unpack_full")
		l.CheckStack(1)
		if d.pos == len(s) {
			l.PushInteger(-1)
		} else {
			l.PushInteger(d.pos)
		}
		l.Insert(-cnt - 1)
		cnt++
	}
	return cnt
}

// need fails with the C library's truncation error unless n more bytes
// are available.
func (d *decoder) need(n uint64) {
	if uint64(len(d.data)-d.pos) < n {
		luautil.Errorf(d.l, "Missing bytes in input.")
	}
}

// uint reads a big-endian unsigned integer of size bytes after the type byte.
func (d *decoder) uint(size int) uint64 {
	d.need(uint64(1 + size))
	p := d.data[d.pos+1 : d.pos+1+size]
	d.pos += 1 + size
	switch size {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(binary.BigEndian.Uint16([]byte(p)))
	case 4:
		return uint64(binary.BigEndian.Uint32([]byte(p)))
	}
	return binary.BigEndian.Uint64([]byte(p))
}

// str pushes a string of n bytes that starts at the cursor.
func (d *decoder) str(n uint64) {
	d.need(n)
	d.Charge(int(n))
	d.l.PushString(d.data[d.pos : d.pos+int(n)])
	d.pos += int(n)
}

// value decodes one value at the cursor and pushes it.
func (d *decoder) value() {
	d.Tick()
	l := d.l
	d.need(1)
	d.stack.check(1, "too many return values at once; use unpack_one or unpack_limit instead.")
	l.CheckStack(1)
	c := d.data[d.pos]
	switch {
	case c <= 0x7f: // positive fixint
		l.PushNumber(float64(c))
		d.pos++
	case c >= 0xe0: // negative fixint
		l.PushNumber(float64(int8(c)))
		d.pos++
	case c&0xe0 == 0xa0: // fixstr
		d.pos++
		d.str(uint64(c & 0x1f))
	case c&0xf0 == 0x90: // fixarray
		d.pos++
		d.array(uint64(c & 0xf))
	case c&0xf0 == 0x80: // fixmap
		d.pos++
		d.hash(uint64(c & 0xf))
	case c == 0xc0:
		l.PushNil()
		d.pos++
	case c == 0xc2 || c == 0xc3:
		l.PushBoolean(c == 0xc3)
		d.pos++
	case c == 0xcc:
		l.PushNumber(float64(d.uint(1)))
	case c == 0xcd:
		l.PushNumber(float64(d.uint(2)))
	case c == 0xce:
		l.PushNumber(float64(d.uint(4)))
	case c == 0xcf:
		// Lua 5.1 pushes it through a signed lua_Integer.
		l.PushNumber(float64(int64(d.uint(8))))
	case c == 0xd0:
		l.PushNumber(float64(int8(d.uint(1))))
	case c == 0xd1:
		l.PushNumber(float64(int16(d.uint(2))))
	case c == 0xd2:
		l.PushNumber(float64(int32(d.uint(4))))
	case c == 0xd3:
		l.PushNumber(float64(int64(d.uint(8))))
	case c == 0xca:
		l.PushNumber(float64(math.Float32frombits(uint32(d.uint(4)))))
	case c == 0xcb:
		l.PushNumber(math.Float64frombits(d.uint(8)))
	case c == 0xd9:
		d.str(d.uint(1))
	case c == 0xda:
		d.str(d.uint(2))
	case c == 0xdb:
		d.str(d.uint(4))
	case c == 0xdc:
		d.array(d.uint(2))
	case c == 0xdd:
		d.array(d.uint(4))
	case c == 0xde:
		d.hash(d.uint(2))
	case c == 0xdf:
		d.hash(d.uint(4))
	default: // bin, ext, fixext, 0xc1: not supported by lua-cmsgpack 0.4.0
		luautil.Errorf(l, "Bad data format in input.")
	}
}

// array decodes n elements into a new table at keys 1..n. A count larger
// than the input fails with "Missing bytes in input." once the input runs
// out, so a hostile count costs no more than the input's length.
func (d *decoder) array(n uint64) {
	l := d.l
	top := d.stack.top
	l.NewTable()
	d.stack.top = top + 1
	d.stack.check(1, "in function mp_decode_to_lua_array")
	l.CheckStack(2)
	for i := 1; n > 0; n, i = n-1, i+1 {
		d.stack.top = top + 2
		d.value()
		d.Charge(tableSlotCost)
		l.RawSetInt(-2, i)
	}
	d.stack.top = top
}

// hash decodes n key/value pairs into a new table. A nil or NaN key raises
// the same error as in Lua 5.1 ("table index is nil/NaN").
func (d *decoder) hash(n uint64) {
	l := d.l
	top := d.stack.top
	l.NewTable()
	l.CheckStack(3)
	for ; n > 0; n-- {
		d.stack.top = top + 1
		d.value()
		d.stack.top = top + 2
		d.value()
		d.Charge(tableSlotCost)
		l.RawSet(-3)
	}
	d.stack.top = top
}
