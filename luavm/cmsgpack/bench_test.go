package cmsgpack

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/internal/redistest"
)

// benchTable builds a 50-field table of integers, floats and short
// strings, the shape of a typical cached record.
const benchTable = `local t = {}
for i = 1, 50 do
  local k = 'field' .. i
  if i % 3 == 0 then t[k] = i * 1000003 elseif i % 3 == 1 then t[k] = i / 7 else t[k] = 'value-' .. string.rep('x', i % 20) end
end
local s = cmsgpack.pack(t)
`

// The loops run inside Lua, so Redis and go-lua are timed alike: the
// Redis figure (one EVALSHA for b.N iterations) has no network cost per op.
const (
	packLoop   = benchTable + `for i = 1, tonumber(ARGV[1]) do cmsgpack.pack(t) end`
	unpackLoop = benchTable + `for i = 1, tonumber(ARGV[1]) do cmsgpack.unpack(s) end`
)

func benchGo(b *testing.B, script string) {
	l := newState()
	if err := lua.LoadBuffer(l, script, "@bench", "text"); err != nil {
		b.Fatal(err)
	}
	l.NewTable()
	l.PushString(strconv.Itoa(b.N))
	l.RawSetInt(-2, 1)
	l.SetGlobal("ARGV")
	b.ReportAllocs()
	b.ResetTimer()
	if err := l.ProtectedCall(0, 0, 0); err != nil {
		b.Fatal(err)
	}
}

func benchRedis(b *testing.B, script string) {
	conn := redistest.Start(b).Dial(b)
	reply := conn.MustDo(b, "SCRIPT", "LOAD", script)
	if reply[0] != '$' {
		b.Fatalf("SCRIPT LOAD: %s", reply)
	}
	sha := strings.TrimSpace(string(reply[bytes.IndexByte(reply, '\n')+1:]))
	b.ResetTimer()
	if reply := conn.MustDo(b, "EVALSHA", sha, "0", strconv.Itoa(b.N)); reply[0] == '-' {
		b.Fatalf("%s", reply)
	}
}

func BenchmarkPack(b *testing.B)        { benchGo(b, packLoop) }
func BenchmarkUnpack(b *testing.B)      { benchGo(b, unpackLoop) }
func BenchmarkRedisPack(b *testing.B)   { benchRedis(b, packLoop) }
func BenchmarkRedisUnpack(b *testing.B) { benchRedis(b, unpackLoop) }
