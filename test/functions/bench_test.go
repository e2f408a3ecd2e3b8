package functions

import (
	"testing"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// BenchmarkFCall measures one FCALL round trip through luaproxy (the
// function does one redis.call) next to the same FCALL on Redis itself.
func BenchmarkFCall(b *testing.B) {
	h, _ := newHarnessTB(b)
	for _, side := range []struct {
		name string
		addr string
	}{{"redis", h.Direct.Addr}, {"luaproxy", h.ProxyAddr}} {
		b.Run(side.name, func(b *testing.B) {
			c := redistest.Dial(b, side.addr)
			c.MustDo(b, "FUNCTION", "LOAD", "REPLACE", libA)
			c.MustDo(b, "SET", "k", "v")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if got := c.MustDo(b, "FCALL_RO", "ro1", "1", "k"); string(got) != "$1\r\nv\r\n" {
					b.Fatalf("FCALL_RO: %q", got)
				}
			}
		})
	}
}
