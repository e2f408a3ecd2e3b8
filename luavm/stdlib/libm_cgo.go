//go:build cgo

package stdlib

/*
#cgo LDFLAGS: -lm
#include <math.h>
*/
import "C"

// With cgo, math functions come from the C library itself: Redis's Lua
// calls glibc's libm, whose results differ from Go's math package in the
// last bit for about a quarter of arguments (pow, tan, acos, sinh...), and
// whose NaN results carry glibc's sign.

func libm1(name string) func(float64) float64 {
	switch name {
	case "sin":
		return func(x float64) float64 { return float64(C.sin(C.double(x))) }
	case "cos":
		return func(x float64) float64 { return float64(C.cos(C.double(x))) }
	case "tan":
		return func(x float64) float64 { return float64(C.tan(C.double(x))) }
	case "asin":
		return func(x float64) float64 { return float64(C.asin(C.double(x))) }
	case "acos":
		return func(x float64) float64 { return float64(C.acos(C.double(x))) }
	case "atan":
		return func(x float64) float64 { return float64(C.atan(C.double(x))) }
	case "sinh":
		return func(x float64) float64 { return float64(C.sinh(C.double(x))) }
	case "cosh":
		return func(x float64) float64 { return float64(C.cosh(C.double(x))) }
	case "tanh":
		return func(x float64) float64 { return float64(C.tanh(C.double(x))) }
	case "exp":
		return func(x float64) float64 { return float64(C.exp(C.double(x))) }
	case "log":
		return func(x float64) float64 { return float64(C.log(C.double(x))) }
	case "log10":
		return func(x float64) float64 { return float64(C.log10(C.double(x))) }
	case "sqrt":
		return func(x float64) float64 { return float64(C.sqrt(C.double(x))) }
	}
	panic("stdlib: no libm function " + name)
}

func libm2(name string) func(float64, float64) float64 {
	switch name {
	case "atan2":
		return func(x, y float64) float64 { return float64(C.atan2(C.double(x), C.double(y))) }
	case "pow":
		return func(x, y float64) float64 { return float64(C.pow(C.double(x), C.double(y))) }
	case "fmod":
		return func(x, y float64) float64 { return float64(C.fmod(C.double(x), C.double(y))) }
	}
	panic("stdlib: no libm function " + name)
}
