// Package structlib is Redis's bundled `struct` library (Roberto
// Ierusalimschy's struct 0.2 as patched by Redis) for go-lua: pack, unpack and
// size of binary records described by a format string.
//
// Behaviour follows the C library on x86-64, including its corner cases:
// the format ends at the first NUL byte, `=` is not an option, sizes of
// integers above 8 bytes write zero high bytes, the argument number in
// "string too short" is one past the offending argument, and unpack offsets
// are unsigned (a negative offset passes the "1 or greater" check and then
// fails as "data string too short").
package structlib

import (
	"bytes"
	"math"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

const (
	maxIntSize = 32 // largest size accepted for i/I
	maxAlign   = 8  // default of '!' on x86-64: alignment of double
	cStackMax  = 8000
)

// header is the state the control options change while a format is read.
type header struct {
	bigEndian bool
	align     uint64
}

// tickEvery is how many format options are read between interrupt checks:
// a format can be millions of options long.
const tickEvery = 4096

// format walks a format string the way the C library does.
type format struct {
	l     *lua.State
	lim   *luautil.Limits
	fmt   string
	pos   int
	h     header
	count int
}

func newFormat(l *lua.State, lim *luautil.Limits) *format {
	s := luautil.CheckString(l, 1)
	if i := bytes.IndexByte([]byte(s), 0); i >= 0 {
		s = s[:i] // the C code reads a NUL-terminated string
	}
	return &format{l: l, lim: lim, fmt: s, h: header{align: 1}}
}

func (f *format) more() bool { return f.pos < len(f.fmt) }

func (f *format) next() byte {
	if f.count++; f.lim != nil && f.count%tickEvery == 0 {
		f.lim.Tick(f.l)
	}
	c := f.fmt[f.pos]
	f.pos++
	return c
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number reads an optional decimal count, def if there is none.
func (f *format) number(def int) int {
	if !f.more() || !isDigit(f.fmt[f.pos]) {
		return def
	}
	a := 0
	for f.more() && isDigit(f.fmt[f.pos]) {
		d := int(f.fmt[f.pos] - '0')
		if a > math.MaxInt32/10 || a*10 > math.MaxInt32-d {
			luautil.Errorf(f.l, "integral size overflow")
		}
		a = a*10 + d
		f.pos++
	}
	return a
}

// size returns the size of option opt, reading its count if it takes one.
func (f *format) size(opt byte) uint64 {
	switch opt {
	case 'B', 'b':
		return 1
	case 'H', 'h':
		return 2
	case 'L', 'l', 'T', 'd':
		return 8
	case 'f':
		return 4
	case 'x':
		return 1
	case 'c':
		return uint64(f.number(1))
	case 'i', 'I':
		sz := f.number(4)
		if sz > maxIntSize {
			luautil.Errorf(f.l, "integral size %d is larger than limit of %d", sz, maxIntSize)
		}
		return uint64(sz)
	}
	return 0
}

// padding is the number of bytes that align an item of the given size at
// offset n. Sizes that are not powers of two give the C formula's odd
// results, which we keep.
func (f *format) padding(n uint64, opt byte, size uint64) uint64 {
	if size == 0 || opt == 'c' {
		return 0
	}
	if size > f.h.align {
		size = f.h.align
	}
	return (size - (n & (size - 1))) & (size - 1)
}

// control applies a non-data option or rejects an unknown one.
func (f *format) control(opt byte) {
	switch opt {
	case ' ':
	case '>':
		f.h.bigEndian = true
	case '<':
		f.h.bigEndian = false
	case '!':
		a := f.number(maxAlign)
		if a <= 0 || a&(a-1) != 0 {
			luautil.Errorf(f.l, "alignment %d is not a power of 2", a)
		}
		f.h.align = uint64(a)
	default:
		luautil.ArgError(f.l, 1, "invalid format option '"+string([]byte{opt})+"'")
	}
}

// isIntOpt reports whether opt is one of the integer options.
func isIntOpt(opt byte) bool {
	switch opt {
	case 'b', 'B', 'h', 'H', 'l', 'L', 'T', 'i', 'I':
		return true
	}
	return false
}

// cUint64 converts a double to an unsigned 64-bit integer as gcc compiles
// `(unsigned long)d` on x86-64: negative values wrap as int64 would.
func cUint64(d float64) uint64 {
	const two63 = 1 << 63
	if !(d >= two63) { // NaN takes this branch too
		return uint64(luautil.CInt64(d))
	}
	return uint64(luautil.CInt64(d-two63)) ^ (1 << 63)
}

// buffer is the packed output, charged to the script's budget as it grows.
type buffer struct {
	l   *lua.State
	lim *luautil.Limits
	b   []byte
}

func (b *buffer) reserve(n int) {
	if cap(b.b)-len(b.b) >= n {
		return
	}
	newCap := 2 * (len(b.b) + n)
	if b.lim != nil {
		b.lim.Charge(b.l, newCap-cap(b.b))
	}
	nb := make([]byte, len(b.b), newCap)
	copy(nb, b.b)
	b.b = nb
}

func (b *buffer) add(p ...byte) {
	b.reserve(len(p))
	b.b = append(b.b, p...)
}

func (b *buffer) addString(s string) {
	b.reserve(len(s))
	b.b = append(b.b, s...)
}

func pack(lim *luautil.Limits) lua.Function {
	return func(l *lua.State) int {
		f := newFormat(l, lim)
		// The C code pushes a nil above the arguments before building its
		// result, so a missing argument right after the last one is nil,
		// not "no value", in error messages.
		l.PushNil()
		out := buffer{l: l, lim: lim}
		arg := 2
		var total uint64
		var word [maxIntSize]byte
		for f.more() {
			opt := f.next()
			size := f.size(opt)
			pad := f.padding(total, opt, size)
			total += pad
			for ; pad > 0; pad-- {
				out.add(0)
			}
			switch {
			case isIntOpt(opt):
				n := luautil.CheckNumber(l, arg)
				arg++
				var v uint64
				if n < 0 {
					v = uint64(luautil.CInt64(n))
				} else {
					v = cUint64(n)
				}
				for i := uint64(0); i < size; i++ {
					j := i
					if f.h.bigEndian {
						j = size - 1 - i
					}
					word[j] = byte(v)
					v >>= 8
				}
				out.add(word[:size]...)
			case opt == 'x':
				out.add(0)
			case opt == 'f':
				bits := math.Float32bits(float32(luautil.CheckNumber(l, arg)))
				arg++
				putUint(&out, uint64(bits), 4, f.h.bigEndian)
			case opt == 'd':
				bits := math.Float64bits(luautil.CheckNumber(l, arg))
				arg++
				putUint(&out, bits, 8, f.h.bigEndian)
			case opt == 'c' || opt == 's':
				s := luautil.CheckString(l, arg)
				arg++
				if size == 0 {
					size = uint64(len(s))
				}
				// The C code reports the argument after the string.
				luautil.ArgCheck(l, uint64(len(s)) >= size, arg, "string too short")
				out.addString(s[:size])
				if opt == 's' {
					out.add(0)
					size++
				}
			default:
				f.control(opt)
			}
			total += size
		}
		if lim != nil {
			lim.Charge(l, len(out.b))
		}
		l.PushString(string(out.b))
		return 1
	}
}

func putUint(out *buffer, v uint64, size int, big bool) {
	var w [8]byte
	for i := 0; i < size; i++ {
		j := i
		if big {
			j = size - 1 - i
		}
		w[j] = byte(v)
		v >>= 8
	}
	out.add(w[:size]...)
}

// getInteger reads an integer of size bytes as the C library does: bytes
// beyond the eighth most significant fall off, and the sign mask uses the
// shift count modulo 64 as x86 does.
func getInteger(p string, big, signed bool) float64 {
	size := len(p)
	var v uint64
	for i := 0; i < size; i++ {
		j := i
		if !big {
			j = size - 1 - i
		}
		v = v<<8 | uint64(p[j])
	}
	if !signed {
		return float64(v)
	}
	mask := ^uint64(0) << (uint(size*8-1) & 63)
	if v&mask != 0 {
		v |= mask
	}
	return float64(int64(v))
}

func getUint(p string, big bool) uint64 {
	var v uint64
	for i := range len(p) {
		j := i
		if !big {
			j = len(p) - 1 - i
		}
		v = v<<8 | uint64(p[j])
	}
	return v
}

func unpack(lim *luautil.Limits) lua.Function {
	return func(l *lua.State) int {
		f := newFormat(l, lim)
		data := luautil.CheckString(l, 2)
		ld := uint64(len(data))
		pos := uint64(luautil.OptInteger(l, 3, 1))
		luautil.ArgCheck(l, pos > 0, 3, "offset must be 1 or greater")
		pos--
		nargs := l.Top()
		n := 0
		for f.more() {
			opt := f.next()
			size := f.size(opt)
			pos += f.padding(pos, opt, size)
			luautil.ArgCheck(l, size <= ld && pos <= ld-size, 2, "data string too short")
			if nargs+n+2 > cStackMax {
				luautil.Errorf(l, "stack overflow (too many results)")
			}
			l.CheckStack(2)
			switch {
			case isIntOpt(opt):
				signed := 'a' <= opt && opt <= 'z'
				l.PushNumber(getInteger(data[pos:pos+size], f.h.bigEndian, signed))
				n++
			case opt == 'x':
			case opt == 'f':
				bits := uint32(getUint(data[pos:pos+4], f.h.bigEndian))
				l.PushNumber(float64(math.Float32frombits(bits)))
				n++
			case opt == 'd':
				l.PushNumber(math.Float64frombits(getUint(data[pos:pos+8], f.h.bigEndian)))
				n++
			case opt == 'c':
				if size == 0 {
					prev, ok := 0.0, n > 0
					if ok {
						prev, ok = luautil.ToNumber(l, -1)
					}
					if !ok {
						luautil.Errorf(l, "format 'c0' needs a previous size")
					}
					size = cUint64(prev)
					l.Pop(1)
					n--
					luautil.ArgCheck(l, size <= ld && pos <= ld-size, 2, "data string too short")
				}
				if lim != nil {
					lim.Charge(l, int(size))
				}
				l.PushString(data[pos : pos+size])
				n++
			case opt == 's':
				e := bytes.IndexByte([]byte(data[pos:]), 0)
				if e < 0 {
					luautil.Errorf(l, "unfinished string in data")
				}
				if lim != nil {
					lim.Charge(l, e)
				}
				l.PushString(data[pos : pos+uint64(e)])
				n++
				size = uint64(e) + 1
			default:
				f.control(opt)
			}
			pos += size
		}
		l.PushNumber(float64(int64(pos + 1)))
		return n + 1
	}
}

func size(l *lua.State, lim *luautil.Limits) int {
	f := newFormat(l, lim)
	var pos uint64
	for f.more() {
		opt := f.next()
		size := f.size(opt)
		pos += f.padding(pos, opt, size)
		switch {
		case opt == 's':
			luautil.ArgError(l, 1, "option 's' has no fixed size")
		case opt == 'c' && size == 0:
			luautil.ArgError(l, 1, "option 'c0' has no fixed size")
		}
		if !isAlnum(opt) {
			f.control(opt)
		}
		pos += size
	}
	l.PushNumber(float64(int64(pos)))
	return 1
}

func isAlnum(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// Open creates the `struct` table as Redis's luaopen_struct does and sets
// it as a global. Packed output and unpacked strings are charged to lim.
func Open(l *lua.State, lim *luautil.Limits) {
	luautil.NewLib(l, []lua.RegistryFunction{
		{Name: "pack", Function: pack(lim)},
		{Name: "unpack", Function: unpack(lim)},
		{Name: "size", Function: func(l *lua.State) int { return size(l, lim) }},
	})
	l.SetGlobal("struct")
}
