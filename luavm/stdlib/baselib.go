package stdlib

import (
	"strings"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// openBase replaces the base functions whose go-lua versions differ from
// lbaselib.c (5.2 semantics, messages or number formatting) and adds the
// 5.1 names go-lua lacks. print, dofile and loadfile stay as go-lua has
// them: Redis removes them, and luavm's sandbox decides. getfenv, setfenv
// and newproxy are not installed: Redis 7.0.15 scripts do not have them
// (and 5.2's VM could not honour setfenv).
func (e *Env) openBase(l *lua.State) {
	l.PushGlobalTable()
	luautil.SetFuncs(l, []lua.RegistryFunction{
		{Name: "assert", Function: baseAssert},
		{Name: "collectgarbage", Function: e.baseCollectGarbage},
		{Name: "error", Function: baseError},
		{Name: "gcinfo", Function: e.baseGCInfo},
		{Name: "getmetatable", Function: baseGetmetatable},
		{Name: "load", Function: e.baseLoad},
		{Name: "loadstring", Function: baseLoadstring},
		{Name: "next", Function: e.baseNext},
		{Name: "pcall", Function: basePcall},
		{Name: "rawequal", Function: baseRawequal},
		{Name: "rawget", Function: baseRawget},
		{Name: "rawset", Function: baseRawset},
		{Name: "select", Function: baseSelect},
		{Name: "setmetatable", Function: baseSetmetatable},
		{Name: "tonumber", Function: baseTonumber},
		{Name: "tostring", Function: baseTostring},
		{Name: "type", Function: baseType},
		{Name: "unpack", Function: baseUnpack},
		{Name: "xpcall", Function: baseXpcall},
	}, 0)
	// 5.1's pairs and ipairs return generators of their own (upvalues),
	// named as a generic for names them in errors.
	for _, f := range []struct {
		name string
		fn   lua.Function
		gen  lua.Function
	}{{"pairs", basePairs, e.baseNext}, {"ipairs", baseIpairs, ipairsAux}} {
		luautil.PushNamed(l, "(for generator)", f.gen, 0)
		luautil.PushNamed(l, f.name, f.fn, 1)
		l.SetField(-2, f.name)
	}
	l.PushNil()
	l.SetField(-2, "rawlen") // Lua 5.2 only
	l.PushString("Lua 5.1")
	l.SetField(-2, "_VERSION")
	l.Pop(1)
}

func baseAssert(l *lua.State) int {
	luautil.CheckAny(l, 1)
	if !l.ToBoolean(1) {
		luautil.Errorf(l, "%s", luautil.OptString(l, 2, "assertion failed!"))
	}
	return l.Top()
}

func baseError(l *lua.State) int {
	level := luautil.OptInt(l, 2, 1)
	l.SetTop(1)
	if _, ok := luautil.ToLString(l, 1); ok {
		if level > 0 {
			lua.Where(l, int(level))
			l.PushValue(1)
			l.Concat(2)
		}
		l.Error()
	}
	throwValue(l)
	return 0
}

// throwValue raises the value on top of the stack as the error object.
// go-lua's Error can raise only strings (it runs CheckString on the
// value, so error({...}) and error(nil) would become "bad argument"
// messages); a RuntimeError panic with the value on top is what go-lua's
// protected calls catch, and they take the top of the stack as the error
// object. The message handler of an enclosing ProtectedCall is not run
// for such values.
func throwValue(l *lua.State) {
	panic(lua.RuntimeError("non-string error object"))
}

func baseGetmetatable(l *lua.State) int {
	luautil.CheckAny(l, 1)
	if !l.MetaTable(1) {
		l.PushNil()
		return 1
	}
	lua.MetaField(l, 1, "__metatable")
	return 1
}

func baseSetmetatable(l *lua.State) int {
	t := l.TypeOf(2)
	luautil.CheckType(l, 1, lua.TypeTable)
	luautil.ArgCheck(l, t == lua.TypeNil || t == lua.TypeTable, 2, "nil or table expected")
	if lua.MetaField(l, 1, "__metatable") {
		luautil.Errorf(l, "cannot change a protected metatable")
	}
	l.SetTop(2)
	l.SetMetaTable(1)
	return 1
}

func baseRawequal(l *lua.State) int {
	luautil.CheckAny(l, 1)
	luautil.CheckAny(l, 2)
	l.PushBoolean(l.RawEqual(1, 2))
	return 1
}

// baseRawget, baseRawset and baseNext see through luavm's read-only
// proxies to the tables they show (see luautil.Unproxy).
func baseRawget(l *lua.State) int {
	luautil.CheckType(l, 1, lua.TypeTable)
	luautil.CheckAny(l, 2)
	l.SetTop(2)
	luautil.Unproxy(l, 1)
	l.RawGet(1)
	return 1
}

func baseRawset(l *lua.State) int {
	luautil.CheckType(l, 1, lua.TypeTable)
	luautil.CheckAny(l, 2)
	luautil.CheckAny(l, 3)
	luautil.CheckWritable(l, 1)
	l.SetTop(3)
	l.RawSet(1)
	return 1
}

func baseType(l *lua.State) int {
	luautil.CheckAny(l, 1)
	l.PushString(luautil.TypeName(l, 1))
	return 1
}

// baseNext steps with Limits.Next, go-lua's l.Next being quadratic over a
// table's hash part.
func (e *Env) baseNext(l *lua.State) int {
	luautil.CheckType(l, 1, lua.TypeTable)
	l.SetTop(2)
	luautil.Unproxy(l, 1)
	if e.lim.Next(l, 1) {
		return 2
	}
	l.PushNil()
	return 1
}

// basePairs and baseIpairs ignore __pairs/__ipairs, which 5.1 lacks.
func basePairs(l *lua.State) int {
	luautil.CheckType(l, 1, lua.TypeTable)
	l.PushValue(lua.UpValueIndex(2))
	l.PushValue(1)
	l.PushNil()
	return 3
}

func ipairsAux(l *lua.State) int {
	i := luautil.CheckInt(l, 2)
	luautil.CheckType(l, 1, lua.TypeTable)
	i++
	l.PushInteger(int(i))
	l.RawGetInt(1, int(i))
	if l.IsNil(-1) {
		return 0
	}
	return 2
}

func baseIpairs(l *lua.State) int {
	luautil.CheckType(l, 1, lua.TypeTable)
	l.PushValue(lua.UpValueIndex(2))
	l.PushValue(1)
	l.PushInteger(0)
	return 3
}

func baseSelect(l *lua.State) int {
	n := l.Top()
	if l.TypeOf(1) == lua.TypeString {
		if s, _ := l.ToString(1); strings.HasPrefix(s, "#") {
			l.PushInteger(n - 1)
			return 1
		}
	}
	i := int(luautil.CheckInt(l, 1))
	if i < 0 {
		i = n + i
	} else if i > n {
		i = n
	}
	luautil.ArgCheck(l, 1 <= i, 1, "index out of range")
	return n - i
}

func baseUnpack(l *lua.State) int {
	luautil.CheckType(l, 1, lua.TypeTable)
	i := luautil.OptInt(l, 2, 1)
	var e int32
	if l.IsNoneOrNil(3) {
		e = int32(l.RawLength(1))
	} else {
		e = luautil.CheckInt(l, 3)
	}
	if i > e {
		return 0
	}
	n := int64(e) - int64(i) + 1
	if n <= 0 || int64(l.Top())+n > maxCStack || !l.CheckStack(int(n)) {
		luautil.Errorf(l, "too many results to unpack")
	}
	for k := int64(i); k <= int64(e); k++ {
		l.RawGetInt(1, int(k))
	}
	return int(n)
}

func baseTostring(l *lua.State) int {
	luautil.CheckAny(l, 1)
	if lua.CallMeta(l, 1, "__tostring") {
		return 1
	}
	switch l.TypeOf(1) {
	case lua.TypeNumber:
		n, _ := l.ToNumber(1)
		l.PushString(luautil.FormatNumber(n))
	case lua.TypeUserData:
		if _, ok := l.ToUserData(1).(luautil.CNull); !ok {
			lua.ToStringMeta(l, 1)
			break
		}
		l.PushString("userdata: (nil)")
	default:
		lua.ToStringMeta(l, 1)
	}
	return 1
}

// baseTonumber is luaB_tonumber: base 10 uses strtod rules, other bases
// C's strtoul (a leading minus negates modulo 2^64).
func baseTonumber(l *lua.State) int {
	base := luautil.OptInt(l, 2, 10)
	if base == 10 {
		luautil.CheckAny(l, 1)
		if n, ok := luautil.ToNumber(l, 1); ok {
			l.PushNumber(n)
			return 1
		}
		l.PushNil()
		return 1
	}
	s := cString(luautil.CheckString(l, 1))
	luautil.ArgCheck(l, 2 <= base && base <= 36, 2, "base out of range")
	if n, used := strtoul(s, int(base)); used > 0 {
		rest := s[used:]
		for len(rest) > 0 && luautil.IsSpace(rest[0]) {
			rest = rest[1:]
		}
		if rest == "" {
			l.PushNumber(float64(n))
			return 1
		}
	}
	l.PushNil()
	return 1
}

// strtoul parses s as C's strtoul with base 2..36 and returns the value
// and the bytes used (0 when no digit was read).
func strtoul(s string, base int) (uint64, int) {
	i := 0
	for i < len(s) && luautil.IsSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if base == 16 && i+2 < len(s)+1 && i+1 < len(s) && s[i] == '0' && (s[i+1]|0x20) == 'x' &&
		i+2 < len(s) && digitVal(s[i+2]) < 16 {
		i += 2
	}
	start := i
	var n uint64
	overflow := false
	for i < len(s) {
		d := digitVal(s[i])
		if d >= base {
			break
		}
		hi, lo := mulAdd(n, uint64(base), uint64(d))
		if hi != 0 {
			overflow = true
		}
		n = lo
		i++
	}
	if i == start {
		return 0, 0
	}
	if overflow {
		return ^uint64(0), i
	}
	if neg {
		n = -n
	}
	return n, i
}

func mulAdd(a, b, c uint64) (hi, lo uint64) {
	const mask32 = 1<<32 - 1
	// 128-bit a*b+c, enough to detect overflow.
	a0, a1 := a&mask32, a>>32
	b0, b1 := b&mask32, b>>32
	w0 := a0 * b0
	t := a1*b0 + w0>>32
	w1 := t & mask32
	w2 := t >> 32
	w1 += a0 * b1
	hi = a1*b1 + w2 + w1>>32
	lo = a * b
	lo2 := lo + c
	if lo2 < lo {
		hi++
	}
	return hi, lo2
}

func digitVal(c byte) int {
	switch {
	case isDigit(c):
		return int(c - '0')
	case isLower(c):
		return int(c-'a') + 10
	case isUpper(c):
		return int(c-'A') + 10
	}
	return 99
}

// basePcall is luaB_pcall. The reference Redis build does not check for
// a function argument: pcall() calls whatever stale value lies past the
// stack top, which in practice is a boolean, so that is what is called.
func basePcall(l *lua.State) int {
	if l.Top() == 0 {
		l.PushBoolean(false)
	}
	err := l.ProtectedCall(l.Top()-1, lua.MultipleReturns, 0)
	l.PushBoolean(err == nil)
	l.Insert(1)
	return l.Top()
}

// baseXpcall is 5.1's xpcall(f, handler): no extra arguments for f. The
// handler runs after the failed call has unwound, not at the error point:
// go-lua's ProtectedCall resolves a message handler index relative to the
// running frame but reads it as an absolute stack slot, so it calls the
// wrong value anywhere but at the bottom of the stack. Scripts cannot tell
// the difference without the debug library, which Redis removes.
func baseXpcall(l *lua.State) int {
	luautil.CheckAny(l, 2)
	l.SetTop(2)
	l.Insert(1) // handler below f
	if err := l.ProtectedCall(0, lua.MultipleReturns, 0); err == nil {
		l.PushBoolean(true)
		l.Replace(1)
		return l.Top()
	}
	// Stack: handler, error value.
	l.PushBoolean(false)
	l.Insert(1)
	if !l.IsFunction(2) {
		l.SetTop(1)
		l.PushString("error in error handling")
		return 2
	}
	if err := l.ProtectedCall(1, 1, 0); err != nil {
		l.SetTop(1)
		l.PushString("error in error handling")
	}
	return 2
}

// loadChunk compiles source text with go-lua's parser, in text mode only.
//
// Chunk names: go-lua renders them unlike Lua 5.1 (no cut for long source
// text, a panic for ""), and 5.1 itself uses two widths, LUA_IDSIZE for
// runtime errors and the lexer's MAXSRC for syntax errors. go-lua gets "="
// plus 5.1's runtime rendering, which it shows unchanged (it always fits
// in go-lua's "=" form), and a syntax error's prefix is rewritten with the
// wider rendering.
func loadChunk(l *lua.State, chunk, name string) int {
	syntaxID := luautil.ChunkID(name, luautil.SyntaxIDSize)
	if strings.HasPrefix(chunk, "\x1b") {
		// Redis's Lua has no binary loader: ESC is an unexpected symbol.
		l.PushNil()
		l.PushString(syntaxID + ":1: unexpected symbol near 'char(27)'")
		return 2
	}
	id := luautil.ChunkID(name, luautil.IDSize)
	if err := l.Load(strings.NewReader(chunk), "="+id, "t"); err != nil {
		msg, _ := l.ToString(-1)
		l.Pop(1)
		if strings.HasPrefix(msg, id+":") {
			msg = syntaxID + msg[len(id):]
		}
		l.PushNil()
		l.PushString(luautil.SyntaxMessage(msg))
		return 2
	}
	return 1
}

func baseLoadstring(l *lua.State) int {
	s := luautil.CheckString(l, 1)
	name := luautil.OptString(l, 2, s)
	return loadChunk(l, s, name)
}

// baseLoad is 5.1's load(func [, chunkname]): the reader function is called
// until it returns nil or an empty string.
func (e *Env) baseLoad(l *lua.State) int {
	name := luautil.OptString(l, 2, "=(load)")
	luautil.CheckType(l, 1, lua.TypeFunction)
	l.SetTop(3)
	var b strings.Builder
	for {
		e.lim.Tick(l)
		l.PushValue(1)
		if err := l.ProtectedCall(0, 1, 0); err != nil {
			// lua_load returns reader errors as nil plus message.
			l.PushNil()
			l.Insert(-2)
			return 2
		}
		if l.IsNil(-1) {
			l.Pop(1)
			break
		}
		s, ok := luautil.ToLString(l, -1)
		if !ok {
			luautil.Errorf(l, "reader function must return a string")
		}
		l.Pop(1)
		if s == "" {
			break
		}
		e.lim.Charge(l, len(s))
		b.WriteString(s)
	}
	return loadChunk(l, b.String(), name)
}

// memoryKB is a plausible heap size in KB for gcinfo/collectgarbage:
// go-lua has no allocator of its own to ask.
func (e *Env) memoryKB() float64 { return 20 + float64(e.lim.Used())/1024 }

func (e *Env) baseGCInfo(l *lua.State) int {
	l.PushInteger(int(e.memoryKB()))
	return 1
}

// baseCollectGarbage accepts 5.1's options; the Go collector is never
// stopped or forced from a script.
func (e *Env) baseCollectGarbage(l *lua.State) int {
	opts := []string{"stop", "restart", "collect", "count", "step", "setpause", "setstepmul"}
	opt := luautil.OptString(l, 1, "collect")
	o := -1
	for i, s := range opts {
		if s == opt {
			o = i
		}
	}
	if o < 0 {
		luautil.ArgError(l, 1, "invalid option '"+opt+"'")
	}
	ex := luautil.OptInt(l, 2, 0)
	switch opts[o] {
	case "count":
		l.PushNumber(e.memoryKB())
	case "step":
		l.PushBoolean(false)
	case "setpause":
		l.PushInteger(int(e.gcPause))
		e.gcPause = ex
	case "setstepmul":
		l.PushInteger(int(e.gcStepMul))
		e.gcStepMul = ex
	default:
		l.PushInteger(0)
	}
	return 1
}
