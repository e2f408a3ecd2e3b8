package structlib

import (
	"testing"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luadiff"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// fuzzBudget bounds what one fuzzed call may charge.
const fuzzBudget = 8 << 20

// FuzzStructUnpack runs struct.unpack, struct.size and struct.pack on
// arbitrary formats and data. Lua errors are expected; a Go runtime panic
// (which go-lua's protected call turns into a runtime.Error) is a bug, and
// so is a charge beyond the budget. Calls are made straight from Go, not
// through pcall, whose recovery would hide a runtime panic.
func FuzzStructUnpack(f *testing.F) {
	for _, c := range []struct {
		format, data string
		pos          int64
	}{
		{"bhlBHLiIfdsc2", "abcdefghijklmnopqrstuvwxyz0123456789\x00ABCDEFGH", 1},
		{"!4 b i3 c0", "\x01\x02\x03\x04\x05\x06\x07\x08", 1},
		{">i16<i9", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x02\x03\x04\x05\x06\x07\x08\x09", 1},
		{"bc0", "\x05abc", 1}, {"s", "abc", -1}, {"", "", 100}, {"i99999999999", "", 1},
		{"!3d", "", 1}, {"Bc0Bc0", "\x01a\x02bc", 2}, {"c1c0", "5hello", 1}, {"<T>T", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f", 1},
	} {
		f.Add(c.format, []byte(c.data), c.pos)
	}
	var lim luautil.Limits
	l := lua.NewState()
	lua.OpenLibraries(l)
	Open(l, &lim)
	call := func(t *testing.T, fn string, args ...any) {
		luadiff.CallFunc(t, l, &lim, fuzzBudget, "struct", fn, args...)
	}
	f.Fuzz(func(t *testing.T, format string, data []byte, pos int64) {
		s := string(data)
		call(t, "size", format)
		call(t, "pack", format, 1.0, s, 2.5, s, -7.0, s, 1e300, s)
		call(t, "unpack", format, s, float64(pos))
	})
}
