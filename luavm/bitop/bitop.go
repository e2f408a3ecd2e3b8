// Package bitop is Redis's bundled LuaBitOp 1.0.2 (the `bit` global) for
// go-lua: 32-bit bit operations on Lua numbers, with the same conversion of
// arbitrary doubles to 32-bit words as the C library, so that results for
// fractions, huge values, infinities and NaN match Redis bit for bit.
package bitop

import (
	"math"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// magic is 2^52+2^51. Adding it to a double whose magnitude is below 2^51
// leaves the value, rounded to the nearest integer (ties to even), in the low
// 32 bits of the sum's mantissa. LuaBitOp converts every argument this way,
// and so must we: the low word of the IEEE sum is the result for any input.
const magic = 6755399441055744.0

// toBits converts f as LuaBitOp does.
func toBits(f float64) uint32 { return uint32(math.Float64bits(f + magic)) }

// arg returns argument i as a 32-bit word. Like Lua 5.1's lua_tonumber,
// numeric strings are accepted; anything else converts to 0, which is an
// error only when the word is 0 (LuaBitOp checks the type lazily).
func arg(l *lua.State, i int) uint32 {
	n, ok := luautil.ToNumber(l, i)
	b := toBits(n)
	if b == 0 && !ok {
		luautil.TypeError(l, i, "number")
	}
	return b
}

// ret pushes b as the signed 32-bit number LuaBitOp returns.
func ret(l *lua.State, b uint32) int {
	l.PushNumber(float64(int32(b)))
	return 1
}

func fold(op func(a, b uint32) uint32) lua.Function {
	return func(l *lua.State) int {
		b := arg(l, 1)
		// The C library folds from the last argument down to the second.
		for i := l.Top(); i > 1; i-- {
			b = op(b, arg(l, i))
		}
		return ret(l, b)
	}
}

func shift(op func(b, n uint32) uint32) lua.Function {
	return func(l *lua.State) int {
		b := arg(l, 1)
		n := arg(l, 2) & 31
		return ret(l, op(b, n))
	}
}

func tohex() lua.Function {
	return func(l *lua.State) int {
		b := arg(l, 1)
		n := int32(8)
		if !l.IsNone(2) {
			n = int32(arg(l, 2))
		}
		digits := "0123456789abcdef"
		if n < 0 {
			n = -n
			digits = "0123456789ABCDEF"
		}
		// -(-2^31) overflows; Redis's build treats the result as large
		// (the compiler assumes a negated negative is positive), so it
		// prints 8 upper-case digits.
		if n > 8 || n < 0 {
			n = 8
		}
		var buf [8]byte
		for i := n - 1; i >= 0; i-- {
			buf[i] = digits[b&15]
			b >>= 4
		}
		l.PushString(string(buf[:n]))
		return 1
	}
}

// Open creates the `bit` table as Redis's luaopen_bit does and sets it as a
// global. The library allocates nothing worth charging, so lim is unused;
// the parameter keeps the signature common to all bundled libraries.
func Open(l *lua.State, _ *luautil.Limits) {
	funcs := []lua.RegistryFunction{
		{Name: "tobit", Function: func(l *lua.State) int { return ret(l, arg(l, 1)) }},
		{Name: "bnot", Function: func(l *lua.State) int { return ret(l, ^arg(l, 1)) }},
		{Name: "band", Function: fold(func(a, b uint32) uint32 { return a & b })},
		{Name: "bor", Function: fold(func(a, b uint32) uint32 { return a | b })},
		{Name: "bxor", Function: fold(func(a, b uint32) uint32 { return a ^ b })},
		{Name: "lshift", Function: shift(func(b, n uint32) uint32 { return b << n })},
		{Name: "rshift", Function: shift(func(b, n uint32) uint32 { return b >> n })},
		{Name: "arshift", Function: shift(func(b, n uint32) uint32 { return uint32(int32(b) >> n) })},
		{Name: "rol", Function: shift(func(b, n uint32) uint32 { return b<<n | b>>((32-n)&31) })},
		{Name: "ror", Function: shift(func(b, n uint32) uint32 { return b>>n | b<<((32-n)&31) })},
		{Name: "bswap", Function: func(l *lua.State) int {
			b := arg(l, 1)
			return ret(l, b>>24|(b>>8)&0xff00|(b&0xff00)<<8|b<<24)
		}},
		{Name: "tohex", Function: tohex()},
	}
	luautil.NewLib(l, funcs)
	l.SetGlobal("bit")
}
