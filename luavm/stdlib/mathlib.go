package stdlib

import (
	"math"

	"github.com/Shopify/go-lua"
)

// lrand48Max is REDIS_LRAND48_MAX (INT32_MAX).
const lrand48Max = math.MaxInt32

// openMath replaces go-lua's math library with lmathlib.c's functions and
// Redis's math.random/randomseed.
func (e *Env) openMath(l *lua.State) {
	l.NewTable()
	fn1 := func(f func(float64) float64) lua.Function {
		return func(l *lua.State) int {
			l.PushNumber(f(checkNumber(l, 1)))
			return 1
		}
	}
	fn2 := func(f func(float64, float64) float64) lua.Function {
		return func(l *lua.State) int {
			x := checkNumber(l, 1)
			l.PushNumber(f(x, checkNumber(l, 2)))
			return 1
		}
	}
	const radiansPerDegree = math.Pi / 180.0
	setFuncs(l, map[string]lua.Function{
		"abs":   fn1(math.Abs),
		"acos":  fn1(libm1("acos")),
		"asin":  fn1(libm1("asin")),
		"atan2": fn2(libm2("atan2")),
		"atan":  fn1(libm1("atan")),
		"ceil":  fn1(math.Ceil),
		"cosh":  fn1(libm1("cosh")),
		"cos":   fn1(libm1("cos")),
		"deg":   fn1(func(x float64) float64 { return x / radiansPerDegree }),
		"exp":   fn1(libm1("exp")),
		"floor": fn1(math.Floor),
		"fmod":  fn2(libm2("fmod")),
		"mod":   fn2(libm2("fmod")),
		"frexp": func(l *lua.State) int {
			f, exp := math.Frexp(checkNumber(l, 1))
			if math.IsInf(f, 0) || math.IsNaN(f) {
				exp = 0
			}
			l.PushNumber(f)
			l.PushInteger(exp)
			return 2
		},
		"ldexp": func(l *lua.State) int {
			x := checkNumber(l, 1)
			l.PushNumber(math.Ldexp(x, int(checkInt(l, 2))))
			return 1
		},
		"log10": fn1(libm1("log10")),
		"log":   fn1(libm1("log")),
		"max": func(l *lua.State) int {
			n := l.Top()
			m := checkNumber(l, 1)
			for i := 2; i <= n; i++ {
				if d := checkNumber(l, i); d > m {
					m = d
				}
			}
			l.PushNumber(m)
			return 1
		},
		"min": func(l *lua.State) int {
			n := l.Top()
			m := checkNumber(l, 1)
			for i := 2; i <= n; i++ {
				if d := checkNumber(l, i); d < m {
					m = d
				}
			}
			l.PushNumber(m)
			return 1
		},
		"modf": func(l *lua.State) int {
			x := checkNumber(l, 1)
			ip, fp := math.Modf(x)
			if math.IsInf(x, 0) {
				fp = math.Copysign(0, x) // C's modf: ±0, Go's: NaN
			}
			l.PushNumber(ip)
			l.PushNumber(fp)
			return 2
		},
		"pow":        fn2(libm2("pow")),
		"rad":        fn1(func(x float64) float64 { return x * radiansPerDegree }),
		"random":     e.mathRandom,
		"randomseed": e.mathRandomSeed,
		"sinh":       fn1(libm1("sinh")),
		"sin":        fn1(libm1("sin")),
		"sqrt":       fn1(libm1("sqrt")),
		"tanh":       fn1(libm1("tanh")),
		"tan":        fn1(libm1("tan")),
	})
	l.PushNumber(math.Pi)
	l.SetField(-2, "pi")
	l.PushNumber(math.Inf(1))
	l.SetField(-2, "huge")
	setLib(l, "math")
}

// cNaN gives a NaN result the sign glibc on x86-64 gives it: a NaN
// argument comes back as it was, and an invalid operation yields the
// processor's default NaN, which has the sign bit set ("-nan"). Go's math
// package returns a positive NaN in both cases.
func cNaN(res, x, y float64) float64 {
	switch {
	case !math.IsNaN(res):
		return res
	case math.IsNaN(x):
		return x
	case math.IsNaN(y):
		return y
	}
	return math.Copysign(math.NaN(), -1)
}

// mathRandom is redis_math_random: Lua 5.1's math.random over
// redisLrand48, with C int arithmetic for the bounds.
func (e *Env) mathRandom(l *lua.State) int {
	if e.noRandom {
		errorf(l, "math.random can only be called inside a script invocation")
	}
	r := float64(e.rand.Next()%lrand48Max) / float64(lrand48Max)
	switch l.Top() {
	case 0:
		l.PushNumber(r)
	case 1:
		u := checkInt(l, 1)
		argCheck(l, 1 <= u, 1, "interval is empty")
		l.PushNumber(math.Floor(r*float64(u)) + 1)
	case 2:
		lo := checkInt(l, 1)
		u := checkInt(l, 2)
		argCheck(l, lo <= u, 2, "interval is empty")
		l.PushNumber(math.Floor(r*float64(u-lo+1)) + float64(lo))
	default:
		errorf(l, "wrong number of arguments")
	}
	return 1
}

func (e *Env) mathRandomSeed(l *lua.State) int {
	if e.noRandom {
		errorf(l, "math.randomseed can only be called inside a script invocation")
	}
	e.rand.Seed(checkInt(l, 1))
	return 0
}

// setLib makes the table at the top of the stack the global library name
// and package.loaded[name], and pops it.
func setLib(l *lua.State, name string) {
	lua.SubTable(l, lua.RegistryIndex, "_LOADED")
	l.PushValue(-2)
	l.SetField(-2, name)
	l.Pop(1)
	l.SetGlobal(name)
}
