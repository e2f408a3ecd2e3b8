package luaresp

import (
	"strings"
	"testing"

	"github.com/Shopify/go-lua"
)

// BenchmarkAppendArray converts a 100-element array of strings and numbers.
func BenchmarkAppendArray(b *testing.B) {
	l := lua.NewState()
	run(b, l, "local t = {} for i = 1, 100 do t[i] = (i % 2 == 0) and i or ('v' .. i) end return t")
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = Append(buf[:0], l, -1, 2, 2)
	}
}

// BenchmarkPushArray decodes a 100-element bulk-string array reply.
func BenchmarkPushArray(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("*100\r\n")
	for i := 0; i < 100; i++ {
		sb.WriteString("$5\r\nvalue\r\n")
	}
	reply := []byte(sb.String())
	l := lua.NewState()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Push(l, reply); err != nil {
			b.Fatal(err)
		}
		l.Pop(1)
	}
}
