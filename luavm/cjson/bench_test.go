package cjson

import (
	"strconv"
	"testing"
	"time"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/internal/redistest"
)

// benchDoc is a ~2 KB JSON document shaped like a typical API payload.
const benchDoc = `local doc = '{"id":12345,"name":"Widget \\u00e9 Pro","active":true,"price":1299.95,"ratio":0.3333333333,'
  .. '"tags":["alpha","beta","gamma","delta","epsilon"],"dims":{"w":12.5,"h":7.25,"d":3,"unit":"cm"},'
  .. '"owner":{"id":77,"email":"someone@example.com","roles":["admin","editor"],"last":"2024-01-02T03:04:05Z"},'
  .. '"history":[' .. string.rep('{"at":1700000000,"by":"user-1","what":"updated \\"price\\" \\/ stock","delta":-2.5},', 20)
  .. '{"at":1700000001,"by":"user-2","what":"created","delta":null}],"notes":null,"empty":{},"list":[]}'
`

// roundTrip decodes and re-encodes the document ARGV[1] times inside Lua,
// so Redis and go-lua are timed alike; the Redis figure has no network
// cost per iteration.
const roundTrip = benchDoc + `for i = 1, tonumber(ARGV[1]) do cjson.encode(cjson.decode(doc)) end return #doc`

func BenchmarkRoundTrip(b *testing.B) {
	l := newState()
	if err := lua.LoadBuffer(l, roundTrip, "@bench", "text"); err != nil {
		b.Fatal(err)
	}
	l.NewTable()
	l.PushString(strconv.Itoa(b.N))
	l.RawSetInt(-2, 1)
	l.SetGlobal("ARGV")
	b.ReportAllocs()
	b.ResetTimer()
	if err := l.ProtectedCall(0, 1, 0); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	n, _ := l.ToNumber(-1)
	b.ReportMetric(n, "doc-bytes")
}

// BenchmarkRedisRoundTrip runs the same loop in redis-server and reports
// the time per iteration net of one empty EVALSHA.
func BenchmarkRedisRoundTrip(b *testing.B) {
	conn := redistest.Start(b).Dial(b)
	sha := string(conn.MustDo(b, "SCRIPT", "LOAD", roundTrip))
	sha = sha[5 : len(sha)-2]
	empty := string(conn.MustDo(b, "SCRIPT", "LOAD", "return 1"))
	empty = empty[5 : len(empty)-2]
	start := time.Now()
	const pings = 200
	for range pings {
		conn.MustDo(b, "EVALSHA", empty, "0")
	}
	overhead := time.Since(start) / pings
	b.ResetTimer()
	start = time.Now()
	if reply := conn.MustDo(b, "EVALSHA", sha, "0", strconv.Itoa(b.N)); reply[0] == '-' {
		b.Fatalf("%s", reply)
	}
	b.StopTimer()
	b.ReportMetric(float64(time.Since(start)-overhead)/float64(b.N), "net-ns/op")
}
