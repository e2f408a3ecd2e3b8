package stdlib

import (
	"math"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// lrand48Max is REDIS_LRAND48_MAX (INT32_MAX).
const lrand48Max = math.MaxInt32

// openMath replaces go-lua's math library with lmathlib.c's functions and
// Redis's math.random/randomseed.
func (e *Env) openMath(l *lua.State) {
	l.NewTable()
	fn1 := func(f func(float64) float64) lua.Function {
		return func(l *lua.State) int {
			l.PushNumber(f(luautil.CheckNumber(l, 1)))
			return 1
		}
	}
	fn2 := func(f func(float64, float64) float64) lua.Function {
		return func(l *lua.State) int {
			x := luautil.CheckNumber(l, 1)
			l.PushNumber(f(x, luautil.CheckNumber(l, 2)))
			return 1
		}
	}
	const radiansPerDegree = math.Pi / 180.0
	luautil.SetFuncs(l, []lua.RegistryFunction{
		{Name: "abs", Function: fn1(math.Abs)},
		{Name: "acos", Function: fn1(libm1("acos"))},
		{Name: "asin", Function: fn1(libm1("asin"))},
		{Name: "atan2", Function: fn2(libm2("atan2"))},
		{Name: "atan", Function: fn1(libm1("atan"))},
		{Name: "ceil", Function: fn1(math.Ceil)},
		{Name: "cosh", Function: fn1(libm1("cosh"))},
		{Name: "cos", Function: fn1(libm1("cos"))},
		{Name: "deg", Function: fn1(func(x float64) float64 { return x / radiansPerDegree })},
		{Name: "exp", Function: fn1(libm1("exp"))},
		{Name: "floor", Function: fn1(math.Floor)},
		{Name: "fmod", Function: fn2(libm2("fmod"))},
		{Name: "mod", Function: fn2(libm2("fmod"))},
		{Name: "frexp", Function: func(l *lua.State) int {
			f, exp := math.Frexp(luautil.CheckNumber(l, 1))
			if math.IsInf(f, 0) || math.IsNaN(f) {
				exp = 0
			}
			l.PushNumber(f)
			l.PushInteger(exp)
			return 2
		}},
		{Name: "ldexp", Function: func(l *lua.State) int {
			x := luautil.CheckNumber(l, 1)
			l.PushNumber(math.Ldexp(x, int(luautil.CheckInt(l, 2))))
			return 1
		}},
		{Name: "log10", Function: fn1(libm1("log10"))},
		{Name: "log", Function: fn1(libm1("log"))},
		{Name: "max", Function: func(l *lua.State) int {
			n := l.Top()
			m := luautil.CheckNumber(l, 1)
			for i := 2; i <= n; i++ {
				if d := luautil.CheckNumber(l, i); d > m {
					m = d
				}
			}
			l.PushNumber(m)
			return 1
		}},
		{Name: "min", Function: func(l *lua.State) int {
			n := l.Top()
			m := luautil.CheckNumber(l, 1)
			for i := 2; i <= n; i++ {
				if d := luautil.CheckNumber(l, i); d < m {
					m = d
				}
			}
			l.PushNumber(m)
			return 1
		}},
		{Name: "modf", Function: func(l *lua.State) int {
			x := luautil.CheckNumber(l, 1)
			ip, fp := math.Modf(x)
			if math.IsInf(x, 0) {
				fp = math.Copysign(0, x) // C's modf: ±0, Go's: NaN
			}
			l.PushNumber(ip)
			l.PushNumber(fp)
			return 2
		}},
		{Name: "pow", Function: fn2(libm2("pow"))},
		{Name: "rad", Function: fn1(func(x float64) float64 { return x * radiansPerDegree })},
		{Name: "random", Function: e.mathRandom},
		{Name: "randomseed", Function: e.mathRandomSeed},
		{Name: "sinh", Function: fn1(libm1("sinh"))},
		{Name: "sin", Function: fn1(libm1("sin"))},
		{Name: "sqrt", Function: fn1(libm1("sqrt"))},
		{Name: "tanh", Function: fn1(libm1("tanh"))},
		{Name: "tan", Function: fn1(libm1("tan"))},
	}, 0)
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
		luautil.Errorf(l, "math.random can only be called inside a script invocation")
	}
	r := float64(e.rand.Next()%lrand48Max) / float64(lrand48Max)
	switch l.Top() {
	case 0:
		l.PushNumber(r)
	case 1:
		u := luautil.CheckInt(l, 1)
		luautil.ArgCheck(l, 1 <= u, 1, "interval is empty")
		l.PushNumber(math.Floor(r*float64(u)) + 1)
	case 2:
		lo := luautil.CheckInt(l, 1)
		u := luautil.CheckInt(l, 2)
		luautil.ArgCheck(l, lo <= u, 2, "interval is empty")
		l.PushNumber(math.Floor(r*float64(u-lo+1)) + float64(lo))
	default:
		luautil.Errorf(l, "wrong number of arguments")
	}
	return 1
}

func (e *Env) mathRandomSeed(l *lua.State) int {
	if e.noRandom {
		luautil.Errorf(l, "math.randomseed can only be called inside a script invocation")
	}
	e.rand.Seed(luautil.CheckInt(l, 1))
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
