package stdlib

import (
	"strings"
	"testing"
)

// benchScript loads script once and calls it b.N times.
func benchScript(b *testing.B, script string) {
	l, _, lim := newState()
	if err := l.Load(strings.NewReader(script), "=bench", "t"); err != nil {
		b.Fatal(err)
	}
	l.SetGlobal("bench")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lim.Reset(0)
		l.Global("bench")
		if err := l.ProtectedCall(0, 0, 0); err != nil {
			msg, _ := l.ToString(-1)
			b.Fatal(msg)
		}
	}
}

// BenchmarkGsub10KB replaces every word of a 10 KB text.
func BenchmarkGsub10KB(b *testing.B) {
	benchScript(b, `
		local s = string.rep('hello world, lua pattern 42; ', 345)
		local r, n = string.gsub(s, '(%a+)', '<%1>')
		assert(n == 345 * 4)`)
}

// BenchmarkStringTableLoop is a typical script body: 1000 iterations of
// string building, formatting, matching and table work.
func BenchmarkStringTableLoop(b *testing.B) {
	benchScript(b, `
		local t = {}
		for i = 1, 1000 do
			local k = 'key:' .. i
			local id = tonumber(string.match(k, ':(%d+)$'))
			t[#t + 1] = string.format('%s=%d', string.upper(k), id * 2)
			if string.find(k, '99', 1, true) then table.insert(t, string.sub(k, 1, 3)) end
		end
		table.sort(t)
		assert(#t > 1000)`)
}

// BenchmarkConcat40K joins 40,000 items (go-lua's own concat is quadratic).
func BenchmarkConcat40K(b *testing.B) {
	benchScript(b, `
		if not items then
			items = {}
			for i = 1, 40000 do items[i] = 'item' .. i end
		end
		local s = table.concat(items, ',')
		assert(#s > 40000)`)
}
