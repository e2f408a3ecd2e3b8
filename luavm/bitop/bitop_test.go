package bitop

import (
	"math"
	"testing"

	"github.com/luaproxy/luaproxy/luavm/internal/luadiff"
)

// bitValues are Lua expressions covering LuaBitOp's number normalisation:
// rounding of fractions (ties to even), wrap-around modulo 2^32, values
// beyond 2^51 where the trick stops rounding, infinities, NaN and strings.
var bitValues = []string{
	"0", "1", "-1", "0.5", "1.5", "2.5", "-0.5", "-1.5", "-2.5", "0.49999999999999994",
	"2^31", "2^31-1", "-2^31", "-2^31-1", "2^32", "2^32+1", "2^32-1", "-2^32", "2^40+3",
	"2^51", "2^51+0.5", "2^51-0.5", "2^52", "2^52+1", "2^53", "2^53+2", "2^63", "2^64+2^33",
	"1e20", "-1e20", "1e300", "1e-300", "1/0", "-1/0", "0/0", "-(0/0)",
	"123456789.123", "-987654321.987", "0x7fffffff", "1437217655",
	"'10'", "' 7 '", "'1e3'", "'0x10'", "'abc'", "''", "nil", "{}", "true",
	"'inf'", "'-inf'", "'nan'", "'-nan'", "'Infinity'", "'1e400'", "'0x1p4'", "'0x1.8p1'", "'5\\0'", "'5\\0x'",
	"'\\t12\\n'", "'+3'", "'.5'", "'5.'", "'0x'", "'1e'", "'1 2'", "'nan(1)'", "'-nan(0x10)'", "'nan(010)'", "'nan(08)'", "'nan(0x)'", "'nan()'", "'nan(abc)'", "'nan(99999999999999999999999)'", "'nan(12'", "'0xffffffffff'", "'-0x10'",
}

func TestBitMatchesRedis(t *testing.T) {
	d := newDiffer(t)
	var cases []luadiff.Case
	add := func(script string) { cases = append(cases, luadiff.Case{Name: script, Script: script}) }
	for _, v := range bitValues {
		for _, f := range []string{"tobit", "bnot", "bswap", "tohex"} {
			add("return bit." + f + "(" + v + ")")
		}
		add("return {bit.band(" + v + ", 0xffff), bit.bor(" + v + ", 1), bit.bxor(" + v + ", -1)}")
		add("return {bit.lshift(1, " + v + "), bit.rshift(-1, " + v + "), bit.arshift(-256, " + v + ")}")
		add("return {bit.rol(0x12345678, " + v + "), bit.ror(0x12345678, " + v + ")}")
		add("return {bit.lshift(" + v + ", 4), bit.rshift(" + v + ", 4), bit.arshift(" + v + ", 4), bit.rol(" + v + ", 4), bit.ror(" + v + ", 4)}")
		add("return bit.tohex(0x1234abcd, " + v + ")")
	}
	for _, s := range []string{
		"return bit.tohex(-1, 0)", "return bit.tohex(-1, -0)", "return bit.tohex(255, 2)", "return bit.tohex(255, -2)",
		"return bit.tohex(-1, 9)", "return bit.tohex(-1, -9)", "return bit.tohex(1, nil)", "return bit.tohex(1, -2147483647)", "return bit.tohex(0xabc, -2^31)", "return bit.tohex(0xabc, 2^31+8)",
		"return bit.band()", "return bit.bor()", "return bit.band(1, 2, 3, 'x')", "return bit.band('x', 1)",
		"return bit.bxor(1, 2, 4, 8, 16, 32, 64, 128)", "return bit.band(-1, -1, -1, 0xf0f0)",
		"return bit.bor(1, nil)", "return bit.lshift(1)", "return bit.rol(1, 32)", "return bit.ror(1, 33)",
		"return bit.lshift(1, 31)", "return bit.arshift(-2^31, 31)", "return bit.rshift(-2^31, 31)",
		"return bit.bswap(0x12345678)", "return bit.tobit(0xffffffff + 1)", "return bit.tobit()",
		"local n = 0 for k in pairs(bit) do n = n + 1 end return n",
	} {
		add(s)
	}
	d.Run(t, cases)
}

func TestToBits(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want uint32
	}{
		{0, 0}, {1437217655, 1437217655}, {-1, 0xffffffff}, {0.5, 0}, {1.5, 2}, {2.5, 2},
		{1 << 32, 0}, {math.Inf(1), 0}, {math.Float64frombits(0xfff8000000000000), 0}, // x86's default NaN
	} {
		if got := toBits(c.in); got != c.want {
			t.Errorf("toBits(%v) = %#x, want %#x", c.in, got, c.want)
		}
	}
}
