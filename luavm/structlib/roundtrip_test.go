package structlib

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// formatGen writes random struct formats with matching argument lists.
type formatGen struct{ r *rand.Rand }

// intArg is a Lua expression for an integer argument of size bytes: mostly
// in range, sometimes beyond it (wrapping) or fractional (truncated).
func (g formatGen) intArg(size int) string {
	r := g.r
	bits := size * 8
	if bits > 62 || bits == 0 {
		bits = 62
	}
	v := float64(r.Int64N(1<<bits)) - float64(r.IntN(2))*math.Ldexp(1, bits-1)
	switch r.IntN(8) {
	case 0:
		v = float64(r.Int64() >> r.IntN(64))
	case 1:
		v += 0.5
	case 2:
		v = -v
	}
	return strconv.FormatFloat(v, 'g', 17, 64)
}

func (g formatGen) floatArg() string {
	r := g.r
	switch r.IntN(6) {
	case 0:
		return []string{"1/0", "-1/0", "0", "NZ", "1e300", "-1e-310", "2^24+1", "3.4028235677973366e38"}[r.IntN(8)]
	case 1:
		return strconv.FormatFloat(float64(math.Float32frombits(r.Uint32()&0x7f7fffff|r.Uint32()&(1<<31))), 'g', 17, 64)
	}
	return "(" + strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.IntN(40)-20)), 'g', 17, 64) + ")"
}

func (g formatGen) strArg(n int, nul bool) string {
	var b strings.Builder
	b.WriteByte('"')
	for range n {
		c := g.r.IntN(256)
		if !nul && c == 0 {
			c = 'z'
		}
		fmt.Fprintf(&b, "\\%d", c)
	}
	b.WriteByte('"')
	return b.String()
}

// format returns a random format and its arguments.
func (g formatGen) format() (string, []string) {
	r := g.r
	var f strings.Builder
	var args []string
	if r.IntN(2) == 0 {
		f.WriteString([]string{"<", ">", "!", "!1", "!2", "!4", "!8", "!16", " "}[r.IntN(9)])
	}
	for range 1 + r.IntN(10) {
		switch r.IntN(14) {
		case 0, 1:
			opt := "bBhHlLT"[r.IntN(7)]
			f.WriteByte(opt)
			args = append(args, g.intArg(map[byte]int{'b': 1, 'B': 1, 'h': 2, 'H': 2}[opt]+8*strings.Count("lLT", string(opt))))
		case 2, 3:
			size := r.IntN(17)
			f.WriteString(fmt.Sprintf("%c%d", "iI"[r.IntN(2)], size))
			args = append(args, g.intArg(size))
		case 4:
			f.WriteString("iI"[r.IntN(2) : r.IntN(2)+1])
			args = append(args, g.intArg(4))
		case 5:
			f.WriteByte('f')
			args = append(args, g.floatArg())
		case 6:
			f.WriteByte('d')
			args = append(args, g.floatArg())
		case 7:
			n := r.IntN(10)
			f.WriteString("c" + strconv.Itoa(n))
			args = append(args, g.strArg(n+r.IntN(3), true))
		case 8:
			f.WriteByte('s')
			args = append(args, g.strArg(r.IntN(12), false))
		case 9:
			f.WriteByte('x')
		case 10:
			f.WriteString([]string{"<", ">", " ", "!", "!2", "!4"}[r.IntN(6)])
		case 11:
			// A length byte followed by c0 takes its size from the
			// previous result when unpacking.
			n := r.IntN(8)
			f.WriteString("Bc0")
			args = append(args, strconv.Itoa(n), g.strArg(n, true))
		default:
			f.WriteByte("bhi"[r.IntN(3)])
			args = append(args, strconv.Itoa(r.IntN(200)-100))
		}
	}
	return f.String(), args
}

// TestRandomFormats packs random values with random formats in Redis and
// in go-lua, unpacks the packed bytes again and sizes the format, and
// compares everything byte for byte: numbers travel as their 8 IEEE bytes.
func TestRandomFormats(t *testing.T) {
	d := newDiffer(t)
	g := formatGen{rand.New(rand.NewPCG(5, 6))}
	const batches, perBatch = 20, 200
	// NZ is -0.0 made at run time: Lua 5.1 merges the constants 0 and
	// -0.0 of a function (whichever comes first wins), go-lua does not.
	prelude := `local NZ = -tonumber('0')
local r = {}
local function add(...)
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    if type(v) == 'number' then v = 'n' .. struct.pack('>d', v) else v = type(v) .. ':' .. tostring(v) end
    r[#r+1] = v
  end
end
local function case(f, ...)
  local ok, s = pcall(struct.pack, f, ...)
  add(ok, s)
  if ok then
    add(pcall(struct.unpack, f, s))
    add(pcall(struct.unpack, f, s .. 'tail', 1))
    -- Truncated data and shifted offsets: the error paths.
    add(pcall(struct.unpack, f, string.sub(s, 1, math.floor(#s / 2))))
    add(pcall(struct.unpack, f, 'xy' .. s, 3))
    add(pcall(struct.unpack, f, s, 2))
  end
  add(pcall(struct.size, f))
end
`
	total := 0
	for range batches {
		var b strings.Builder
		b.WriteString(prelude)
		for range perBatch {
			f, args := g.format()
			fmt.Fprintf(&b, "case(%s)\n", strings.Join(append([]string{strconv.Quote(f)}, args...), ", "))
		}
		b.WriteString("return r")
		script := b.String()
		want, got := d.Redis(t, script), d.Go(script)
		if want != got {
			i := 0
			for i < len(want) && i < len(got) && want[i] == got[i] {
				i++
			}
			from := max(0, i-200)
			t.Fatalf("batch differs at byte %d (case %d):\nredis %q\ngo    %q",
				i, strings.Count(want[:i], "size"), want[from:min(len(want), i+100)], got[from:min(len(got), i+100)])
		}
		total += perBatch
	}
	t.Logf("%d random formats packed, unpacked and sized identically to Redis", total)
}
