package cmsgpack

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luadiff"
)

// valueGen writes random Lua expressions for values that exercise every
// MessagePack encoding the library produces.
type valueGen struct{ r *rand.Rand }

var intEdges = []float64{0, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1 << 53, 1<<63 - 1024,
	-1, -32, -33, -128, -129, -32768, -32769, -1 << 31, -1<<31 - 1, -1 << 53, -1 << 63}

var strEdges = []int{0, 1, 31, 32, 33, 255, 256}

func (g valueGen) number() string {
	r := g.r
	var f float64
	switch r.IntN(6) {
	case 0:
		f = intEdges[r.IntN(len(intEdges))] + float64(r.IntN(3)-1)
	case 1: // an integer of random width and sign
		f = float64(r.Int64() >> r.IntN(64))
	case 2:
		f = float64(math.Float32frombits(r.Uint32()))
	case 3:
		f = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
	default:
		f = math.Float64frombits(r.Uint64())
	}
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return []string{"1/0", "-1/0"}[r.IntN(2)]
	case f == math.Trunc(f) && math.Abs(f) < 1e18:
		return strconv.FormatInt(int64(f), 10)
	}
	return "(" + strconv.FormatFloat(f, 'g', 17, 64) + ")"
}

func (g valueGen) str() string {
	r := g.r
	n := strEdges[r.IntN(len(strEdges))] + r.IntN(3) - 1
	switch {
	case r.IntN(400) == 0: // str16/str32 boundary, rarely: they are big
		n = 65535 + r.IntN(3) - 1
	case n < 0 || r.IntN(3) == 0:
		n = r.IntN(40)
	}
	if n > 64 {
		// Long strings as string.rep keep the scripts small.
		return fmt.Sprintf("(string.rep('%c', %d))", 'a'+r.IntN(26), n)
	}
	b := make([]byte, 0, 2+4*n)
	b = append(b, '"')
	for range n {
		b = strconv.AppendInt(append(b, '\\'), int64(r.IntN(256)), 10)
	}
	return string(append(b, '"'))
}

// width is the number of elements of a table at depth: up to 17 near the
// top, to cross the fixarray/fixmap limit of 15, and fewer deeper down so
// that values stay small.
func (g valueGen) width(depth int) int {
	if depth < 2 {
		return g.r.IntN(18)
	}
	return g.r.IntN(6)
}

func (g valueGen) value(depth int) string {
	r := g.r
	k := r.IntN(10)
	if depth > 3 && k >= 7 {
		k = r.IntN(7)
	}
	switch k {
	case 0, 1, 2:
		return g.number()
	case 3, 4:
		return g.str()
	case 5:
		return []string{"true", "false"}[r.IntN(2)]
	case 6:
		if r.IntN(20) == 0 { // beyond the nesting limit
			return strings.Repeat("{", 18) + "1" + strings.Repeat("}", 18)
		}
		return g.number()
	case 7, 8:
		n := g.width(depth)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = g.value(depth + 1)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	n := g.width(depth)
	parts := make([]string, n)
	for i := range parts {
		key := g.str()
		if r.IntN(3) == 0 {
			key = g.number()
		}
		parts[i] = "[" + key + "]=" + g.value(depth+1)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestRandomRoundTrips packs thousands of random values in Redis and in
// go-lua and compares the bytes (maps compared as sets: go-lua's table
// iteration order is not Lua 5.1's), then decodes Redis's bytes in go-lua,
// packs them again and compares with Redis doing the same. Values go in
// large batches, one EVAL each, to keep the test fast under -race.
func TestRandomRoundTrips(t *testing.T) {
	d := newDiffer(t)
	g := valueGen{rand.New(rand.NewPCG(1, 2))}
	const batches, perBatch = 25, 160
	// Values beyond the nesting limit or with nil holes do not survive a
	// round trip, but must fail to survive in the same way.
	const repackScript = "local out = {} for i, s in ipairs(ARGV) do out[i] = cmsgpack.pack(cmsgpack.unpack(s)) end return out"
	total, samePack, sameRepack, exact := 0, 0, 0, 0
	for range batches {
		exprs := make([]string, perBatch)
		for i := range exprs {
			exprs[i] = "cmsgpack.pack(" + g.value(0) + ")"
		}
		script := "return {" + strings.Join(exprs, ",\n") + "}"
		want, got := redisStrings(t, d, script), goStrings(t, d, script)
		if len(want) != perBatch || len(got) != perBatch {
			t.Fatalf("batch gave %d and %d results:\n%s", len(want), len(got), script)
		}
		wantRe, gotRe := redisStrings(t, d, repackScript, want...), goStrings(t, d, repackScript, want...)
		if len(wantRe) != perBatch || len(gotRe) != perBatch {
			t.Fatalf("repack gave %d and %d results", len(wantRe), len(gotRe))
		}
		for i := range want {
			total++
			if want[i] == got[i] {
				exact++
			}
			if canonical(t, want[i]) == canonical(t, got[i]) {
				samePack++
			} else {
				t.Errorf("pack(%.200s):\nredis %.80x\ngo    %.80x", exprs[i], want[i], got[i])
			}
			if canonical(t, wantRe[i]) == canonical(t, gotRe[i]) {
				sameRepack++
			} else {
				t.Errorf("repack %.80x:\nredis %.80x\ngo    %.80x", want[i], wantRe[i], gotRe[i])
			}
		}
	}
	t.Logf("pack: %d/%d identical to Redis (%d byte-exact, rest differ only in map order); unpack+repack of Redis bytes: %d/%d identical",
		samePack, total, exact, sameRepack, total)
}

// redisStrings runs script with EVAL and ARGV args and returns its reply,
// which must be an array of bulk strings.
func redisStrings(t *testing.T, d *luadiff.Differ, script string, args ...string) []string {
	t.Helper()
	reply := d.Conn.MustDo(t, append([]string{"EVAL", script, "0"}, args...)...)
	r := bufio.NewReader(bytes.NewReader(reply))
	line, _ := r.ReadString('\n')
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(line, "\r\n"), "*"))
	if line[0] != '*' || err != nil {
		t.Fatalf("not an array: %.200q", reply)
	}
	out := make([]string, n)
	for i := range out {
		line, _ := r.ReadString('\n')
		size, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(line, "\r\n"), "$"))
		if line[0] != '$' || err != nil {
			t.Fatalf("element %d is not a bulk string: %.200q", i, line)
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
		out[i] = string(b[:size])
	}
	return out
}

// goStrings runs script in the go-lua state with ARGV args and returns the
// strings of the array it returns.
func goStrings(t *testing.T, d *luadiff.Differ, script string, args ...string) []string {
	t.Helper()
	l := d.L
	l.NewTable()
	for i, a := range args {
		l.PushString(a)
		l.RawSetInt(-2, i+1)
	}
	l.SetGlobal("ARGV")
	l.SetTop(0)
	if err := lua.LoadBuffer(l, script, "@user_script", "text"); err != nil {
		t.Fatal(err)
	}
	if err := l.ProtectedCall(0, 1, 0); err != nil {
		msg, _ := l.ToString(-1)
		t.Fatalf("go-lua: %s", msg)
	}
	var out []string
	for i := 1; ; i++ {
		l.RawGetInt(1, i)
		s, ok := l.ToString(-1)
		l.Pop(1)
		if !ok {
			return out
		}
		out = append(out, s)
	}
}

// canonical re-encodes a MessagePack value with map entries sorted by their
// encoded keys, leaving every other byte as it was.
func canonical(t *testing.T, s string) string {
	t.Helper()
	v, n, err := canonValue([]byte(s))
	if err != nil || n != len(s) {
		t.Fatalf("bad msgpack %x: %v", s, err)
	}
	return string(v)
}

func canonValue(b []byte) ([]byte, int, error) {
	if len(b) == 0 {
		return nil, 0, fmt.Errorf("truncated")
	}
	c := b[0]
	be := func(size int) (int, error) {
		if len(b) < 1+size {
			return 0, fmt.Errorf("truncated")
		}
		switch size {
		case 1:
			return int(b[1]), nil
		case 2:
			return int(binary.BigEndian.Uint16(b[1:])), nil
		}
		return int(binary.BigEndian.Uint32(b[1:])), nil
	}
	fixed := func(n int) ([]byte, int, error) {
		if len(b) < n {
			return nil, 0, fmt.Errorf("truncated")
		}
		return b[:n], n, nil
	}
	var hdr, count int
	var isMap bool
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return fixed(1)
	case c == 0xcc || c == 0xd0:
		return fixed(2)
	case c == 0xcd || c == 0xd1:
		return fixed(3)
	case c == 0xce || c == 0xd2 || c == 0xca:
		return fixed(5)
	case c == 0xcf || c == 0xd3 || c == 0xcb:
		return fixed(9)
	case c&0xe0 == 0xa0:
		return fixed(1 + int(c&0x1f))
	case c == 0xd9 || c == 0xda || c == 0xdb:
		size := map[byte]int{0xd9: 1, 0xda: 2, 0xdb: 4}[c]
		n, err := be(size)
		if err != nil {
			return nil, 0, err
		}
		return fixed(1 + size + n)
	case c&0xf0 == 0x90:
		hdr, count = 1, int(c&0xf)
	case c&0xf0 == 0x80:
		hdr, count, isMap = 1, int(c&0xf), true
	case c == 0xdc || c == 0xde:
		n, err := be(2)
		if err != nil {
			return nil, 0, err
		}
		hdr, count, isMap = 3, n, c == 0xde
	case c == 0xdd || c == 0xdf:
		n, err := be(4)
		if err != nil {
			return nil, 0, err
		}
		hdr, count, isMap = 5, n, c == 0xdf
	default:
		return nil, 0, fmt.Errorf("unexpected byte %#x", c)
	}
	pos := hdr
	elem := func() ([]byte, error) {
		v, n, err := canonValue(b[pos:])
		pos += n
		return v, err
	}
	if !isMap {
		// Arrays are copied only if an element changed (contains a map).
		var out []byte
		for range count {
			start := pos
			v, err := elem()
			if err != nil {
				return nil, 0, err
			}
			if out == nil && !bytes.Equal(v, b[start:pos]) {
				out = append([]byte(nil), b[:start]...)
			}
			if out != nil {
				out = append(out, v...)
			}
		}
		if out == nil {
			return b[:pos], pos, nil
		}
		return out, pos, nil
	}
	out := append([]byte(nil), b[:hdr]...)
	pairs := make([][]byte, count)
	for i := range pairs {
		k, err := elem()
		if err != nil {
			return nil, 0, err
		}
		v, err := elem()
		if err != nil {
			return nil, 0, err
		}
		pairs[i] = append(append([]byte(nil), k...), v...)
	}
	sort.Slice(pairs, func(i, j int) bool { return bytes.Compare(pairs[i], pairs[j]) < 0 })
	for _, p := range pairs {
		out = append(out, p...)
	}
	return out, pos, nil
}

// garbage writes byte strings that look like MessagePack but often are not:
// type bytes of every family followed by lengths that may lie, truncated
// payloads, unsupported types and reserved bytes.
func garbage(r *rand.Rand) string {
	var b []byte
	var emit func(depth int)
	emit = func(depth int) {
		switch k := r.IntN(12); {
		case k < 1: // any byte at all
			b = append(b, byte(r.IntN(256)))
		case k < 4: // a fixed-width number, sometimes cut short
			c := []byte{0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xca, 0xcb}[r.IntN(10)]
			n := map[byte]int{0xcc: 1, 0xd0: 1, 0xcd: 2, 0xd1: 2, 0xce: 4, 0xd2: 4, 0xca: 4}[c]
			if n == 0 {
				n = 8
			}
			b = append(b, c)
			for range n - r.IntN(2)*r.IntN(n+1) {
				b = append(b, byte(r.Uint32()))
			}
		case k < 7: // a string whose length may exceed what follows
			n := r.IntN(40)
			switch r.IntN(4) {
			case 0:
				b = append(b, 0xa0|byte(n&31))
			case 1:
				b = append(b, 0xd9, byte(n))
			case 2:
				b = append(b, 0xda, 0, byte(n))
			default:
				b = append(b, 0xdb, 0, 0, 0, byte(n))
			}
			for range n - r.IntN(3) {
				b = append(b, 'a'+byte(r.IntN(26)))
			}
		case k < 10 && depth < 6: // an array or map, elements may be missing
			n := r.IntN(6)
			isMap := r.IntN(2) == 0
			switch r.IntN(3) {
			case 0:
				b = append(b, map[bool]byte{false: 0x90, true: 0x80}[isMap]|byte(n))
			case 1:
				b = append(b, map[bool]byte{false: 0xdc, true: 0xde}[isMap], 0, byte(n))
			default:
				b = append(b, map[bool]byte{false: 0xdd, true: 0xdf}[isMap], 0, 0, 0, byte(n))
			}
			if isMap {
				n *= 2
			}
			for range n - r.IntN(2) {
				emit(depth + 1)
			}
		case k < 11: // unsupported: bin, ext, fixext, reserved
			b = append(b, []byte{0xc1, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8}[r.IntN(12)], 1, 2)
		default:
			b = append(b, []byte{0xc0, 0xc2, 0xc3, 0x00, 0x7f, 0xe0, 0xff}[r.IntN(7)])
		}
	}
	for range 1 + r.IntN(4) {
		emit(0)
	}
	return string(b)
}

// TestRandomGarbageUnpack decodes thousands of malformed and well-formed
// inputs with unpack, unpack_one and unpack_limit in Redis and in go-lua
// and compares results and error messages. Decoded values are serialised
// with table keys sorted, so that go-lua's iteration order does not matter.
func TestRandomGarbageUnpack(t *testing.T) {
	oks := 0
	d := newDiffer(t)
	r := rand.New(rand.NewPCG(7, 8))
	const script = `local ser
local function key(a, b) return ser(a) < ser(b) end
ser = function(v)
  local t = type(v)
  if t == 'table' then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, key)
    local out = {}
    for _, k in ipairs(keys) do out[#out + 1] = ser(k) .. '=' .. ser(v[k]) end
    return '{' .. table.concat(out, ',') .. '}'
  elseif t == 'number' then return 'n' .. cmsgpack.pack(v)
  elseif t == 'string' then return 's' .. #v .. ':' .. v
  end
  return tostring(v)
end
local function all(...)
  local out = {}
  for i = 1, select('#', ...) do out[i] = ser((select(i, ...))) end
  return table.concat(out, ';')
end
local out = {}
for i, s in ipairs(ARGV) do
  out[i] = all(pcall(cmsgpack.unpack, s)) .. '|' .. all(pcall(cmsgpack.unpack_one, s, i % 3)) .. '|' .. all(pcall(cmsgpack.unpack_limit, s, i % 4, i % 2))
end
return out`
	const batches, perBatch = 10, 200
	same := 0
	for range batches {
		inputs := make([]string, perBatch)
		for i := range inputs {
			inputs[i] = garbage(r)
		}
		want, got := redisStrings(t, d, script, inputs...), goStrings(t, d, script, inputs...)
		if len(want) != perBatch || len(got) != perBatch {
			t.Fatalf("got %d and %d results", len(want), len(got))
		}
		for i := range want {
			if want[i] != got[i] {
				t.Errorf("input %x:\nredis %q\ngo    %q", inputs[i], want[i], got[i])
				continue
			}
			same++
			if strings.HasPrefix(want[i], "true;") {
				oks++
			}
		}
	}
	t.Logf("%d/%d random inputs decoded identically to Redis (%d of them fully valid)", same, batches*perBatch, oks)
}
