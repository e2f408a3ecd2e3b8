//go:build cgo

package stdlib

import (
	"fmt"
	"math/rand"
	"testing"
)

// TestRedisLibm checks math functions to the last bit (%.17g) against
// Redis; with cgo they are glibc's own.
func TestRedisLibm(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	var scripts []string
	for _, f := range []string{"sin", "cos", "tan", "exp", "log", "log10", "sqrt", "asin", "acos", "atan", "sinh", "cosh", "tanh"} {
		for i := 0; i < 15; i++ {
			x := rng.Float64() * 10
			if f == "asin" || f == "acos" {
				x /= 10
			}
			scripts = append(scripts, fmt.Sprintf("return string.format('%%.17g', math.%s(%v))", f, x))
		}
	}
	for i := 0; i < 15; i++ {
		x, y := rng.Float64()*10, rng.Float64()*5
		scripts = append(scripts,
			fmt.Sprintf("return string.format('%%.17g', math.pow(%v, %v))", x, y),
			fmt.Sprintf("return string.format('%%.17g', math.atan2(%v, %v))", x, y),
			fmt.Sprintf("return string.format('%%.17g', math.fmod(%v, %v))", x*1e10, y))
	}
	compare(t, newDiffer(t), scripts)
}
