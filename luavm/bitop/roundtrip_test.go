package bitop

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// numberGen writes random Lua number expressions for LuaBitOp's argument
// conversion: 32-bit and 64-bit integers, fractions (including exact
// halves, where rounding ties to even), values near and beyond 2^51 and
// 2^64, infinities, NaN and numeric strings.
type numberGen struct{ r *rand.Rand }

func (g numberGen) value() string {
	r := g.r
	var f float64
	switch r.IntN(9) {
	case 0:
		f = float64(int32(r.Uint32()))
	case 1:
		f = float64(r.Uint32())
	case 2:
		f = float64(r.Int64() >> r.IntN(64))
	case 3:
		f = float64(int32(r.Uint32())) + []float64{0.5, -0.5, 0.25, 0.75, 0.4999999999999999}[r.IntN(5)]
	case 4:
		f = (r.Float64() - 0.5) * math.Pow(2, float64(r.IntN(70)))
	case 5:
		f = math.Ldexp(float64(r.Uint64()>>11), r.IntN(30)) * float64(1-2*r.IntN(2)) // 2^53..2^82
	case 6:
		f = float64(int64(1)<<51) + float64(r.IntN(9)-4)*0.5
	case 7:
		return []string{"1/0", "-1/0", "0/0", "-(0/0)", "2^32", "-2^31", "2^31", "2^64", "-0.0"}[r.IntN(9)]
	default:
		f = float64(r.IntN(64) - 32)
	}
	s := strconv.FormatFloat(f, 'g', 17, 64)
	switch r.IntN(12) {
	case 0:
		return "'" + s + "'"
	case 1:
		if f == math.Trunc(f) && f >= 0 && f < 1<<53 {
			return fmt.Sprintf("' 0x%x '", uint64(f))
		}
	}
	return "(" + s + ")"
}

// TestRandomBitOps runs every bit function on thousands of random
// arguments in Redis and in go-lua, a few hundred calls per EVAL.
func TestRandomBitOps(t *testing.T) {
	d := newDiffer(t)
	g := numberGen{rand.New(rand.NewPCG(3, 4))}
	const batches, perBatch = 12, 200
	total := 0
	for range batches {
		var b strings.Builder
		b.WriteString("local r = {}\nlocal function add(...) for i = 1, select('#', ...) do r[#r+1] = (select(i, ...)) end end\n")
		for range perBatch {
			x, y, z := g.value(), g.value(), g.value()
			n := strconv.Itoa(g.r.IntN(40) - 5)
			if g.r.IntN(4) == 0 {
				n = g.value()
			}
			fmt.Fprintf(&b, "add(bit.tobit(%s), bit.bnot(%s), bit.bswap(%s), bit.tohex(%s), bit.tohex(%s, %s))\n", x, x, x, x, y, strconv.Itoa(g.r.IntN(21)-10))
			fmt.Fprintf(&b, "add(bit.band(%s, %s), bit.bor(%s, %s, %s), bit.bxor(%s, %s, %s))\n", x, y, x, y, z, z, y, x)
			fmt.Fprintf(&b, "add(bit.lshift(%s, %s), bit.rshift(%s, %s), bit.arshift(%s, %s), bit.rol(%s, %s), bit.ror(%s, %s))\n", x, n, x, n, x, n, y, n, y, n)
		}
		b.WriteString("return r")
		script := b.String()
		want, got := d.Redis(t, script), d.Go(script)
		if want != got {
			t.Fatalf("batch differs:\nredis %.300s\ngo    %.300s\nscript:\n%s", want, got, script)
		}
		total += perBatch * 13
	}
	t.Logf("%d random bit calls identical to Redis", total)
}
