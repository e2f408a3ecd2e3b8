package cjson

import (
	"testing"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// FuzzDecode feeds arbitrary text to cjson.decode under a memory limit. It
// must never panic or run away; whatever decodes must encode, and that
// JSON must decode and encode again to the same length (members may come
// out in another order).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,2.5,-3e7,true,false,null,"x\u00e9\ud83d\ude00\n"]}`, `[[[[]]]]`, `0x1p3`, `-Infinity`,
		`nan(123)`, `"\ud800"`, `[1,]`, "\x00[", `1e400`, `{"k":{"k":{"k":{}}}}`, `+.5`, `-.5e-3`,
	} {
		f.Add([]byte(s))
	}
	var lim luautil.Limits
	l := lua.NewState()
	lua.OpenLibraries(l)
	Open(l, &lim)
	if err := lua.LoadBuffer(l, `
local s = ...
cjson.encode_invalid_numbers(true)
cjson.decode_max_depth(100000)
cjson.encode_max_depth(100000)
local ok, v = pcall(cjson.decode, s)
if not ok then return end
local a = cjson.encode(v)
local b = cjson.encode(cjson.decode(a))
if #a ~= #b then error('unstable: ' .. a .. ' then ' .. b) end`, "@fuzz", "text"); err != nil {
		f.Fatal(err)
	}
	l.SetGlobal("check")
	f.Fuzz(func(t *testing.T, data []byte) {
		lim.Reset(64 << 20)
		l.SetTop(0)
		l.Global("check")
		l.PushString(string(data))
		if err := l.ProtectedCall(1, 0, 0); err != nil {
			msg, _ := l.ToString(-1)
			if msg != luautil.OutOfMemory {
				t.Fatalf("%q: %s", data, msg)
			}
		}
	})
}
