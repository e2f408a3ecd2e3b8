package cmsgpack

import (
	"errors"
	"runtime"
	"testing"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luadiff"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// fuzzBudget is the memory a fuzzed decode may charge: inputs are small,
// so a decoder that tried to allocate far beyond its input would hit it.
const fuzzBudget = 8 << 20

// FuzzUnpack decodes arbitrary bytes with every unpack entry point and packs
// what unpack_one returns. Lua errors are expected. A Go runtime panic,
// which go-lua's protected call turns into a runtime.Error, is a bug; so
// is a charge beyond the budget that did not end in "not enough memory".
// Each entry point is called straight from Go rather than through pcall,
// whose recovery would hide a runtime panic among Lua errors.
func FuzzUnpack(f *testing.F) {
	for _, s := range []string{"", "\x93\x01\xa1a\xc3", "\xdd\xff\xff\xff\xff\x01", "\xdb\xff\xff\xff\xff",
		"\x81\xc0\x01", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", "\x91\x91\x91\x91\x90", "\xc1",
		"\xde\x00\x02\xa1a\x01\xa1b\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", "\xca\x7f\xc0\x00\x00\x01\x02"} {
		f.Add([]byte(s), int64(0), int64(0))
	}
	f.Add([]byte("\x01\x02\x03"), int64(2), int64(1))
	var lim luautil.Limits
	l := lua.NewState()
	lua.OpenLibraries(l)
	Open(l, &lim)
	call := func(t *testing.T, fn string, args ...any) int {
		return luadiff.CallFunc(t, l, &lim, fuzzBudget, "cmsgpack", fn, args...)
	}
	f.Fuzz(func(t *testing.T, data []byte, limit, offset int64) {
		s := string(data)
		lim64, off64 := float64(limit%1000), float64(offset%1000)
		call(t, "unpack", s)
		call(t, "unpack_limit", s, lim64, off64)
		if n := call(t, "unpack_one", s, off64); n == 2 {
			// Pack the decoded value again: the encoder must cope with
			// whatever the decoder builds.
			l.Global("cmsgpack")
			l.Field(-1, "pack")
			l.Insert(1)
			l.Pop(1)
			lim.Reset(fuzzBudget)
			if err := l.ProtectedCall(2, 1, 0); err != nil {
				if re := new(runtime.Error); errors.As(err, re) {
					t.Fatalf("pack: Go panic: %v", err)
				}
			}
		}
	})
}
