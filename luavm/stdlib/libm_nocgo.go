//go:build !cgo

package stdlib

import "math"

// Without cgo, math functions are Go's, with glibc's NaN signs (cNaN);
// results can differ from glibc's in the last bit.

func libm1(name string) func(float64) float64 {
	f := map[string]func(float64) float64{
		"sin": math.Sin, "cos": math.Cos, "tan": math.Tan, "asin": math.Asin, "acos": math.Acos,
		"atan": math.Atan, "sinh": math.Sinh, "cosh": math.Cosh, "tanh": math.Tanh, "exp": math.Exp,
		"log": math.Log, "log10": math.Log10, "sqrt": math.Sqrt,
	}[name]
	return func(x float64) float64 { return cNaN(f(x), x, 0) }
}

func libm2(name string) func(float64, float64) float64 {
	f := map[string]func(float64, float64) float64{"atan2": math.Atan2, "pow": math.Pow, "fmod": math.Mod}[name]
	return func(x, y float64) float64 { return cNaN(f(x, y), x, y) }
}
