package stdlib

import (
	"strings"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// openString replaces go-lua's string library with lstrlib.c's functions
// and points the string metatable's __index at it.
func (e *Env) openString(l *lua.State) {
	funcs := []lua.RegistryFunction{
		{Name: "len", Function: strLen},
		{Name: "sub", Function: strSub},
		{Name: "upper", Function: e.strUpper},
		{Name: "lower", Function: e.strLower},
		{Name: "reverse", Function: e.strReverse},
		{Name: "rep", Function: e.strRep},
		{Name: "byte", Function: strByte},
		{Name: "char", Function: e.strChar},
		{Name: "find", Function: e.strFind},
		{Name: "match", Function: e.strMatch},
		{Name: "gmatch", Function: e.strGmatch},
		{Name: "gsub", Function: e.strGsub},
		{Name: "format", Function: e.strFormat},
		{Name: "gfind", Function: e.strGmatch}, // LUA_COMPAT_GFIND: an alias in Redis's build
		// string.dump would hand out bytecode, which luavm never loads;
		// 5.1 has it, so keep the name present but refusing.
		{Name: "dump", Function: strDump},
	}
	l.Global("string")
	luautil.SetFuncs(l, funcs, 0)
	// The metatable shared by all strings: __index is the string table.
	l.PushString("")
	if !l.MetaTable(-1) {
		l.NewTable()
		l.PushValue(-1)
		l.SetMetaTable(-3)
	}
	l.PushValue(-3)
	l.SetField(-2, "__index")
	l.Pop(3)
}

// dumpHeader is the header of a Lua 5.1 binary chunk as Redis's x86-64
// build writes it (lundump.c's luaU_header): signature, version 5.1,
// official format, little endian, the sizes of int, size_t, Instruction
// and lua_Number, and floating-point numbers.
const dumpHeader = "\x1bLua\x51\x00\x01\x04\x08\x04\x08\x00"

// strDump returns only the header of a Lua 5.1 binary chunk: go-lua cannot
// write 5.1 bytecode, and nothing can load a binary chunk anyway (loadstring
// refuses it as Redis's does), so what scripts can observe is that a Lua
// function dumps to a string starting with this header and a Go function
// does not dump.
func strDump(l *lua.State) int {
	luautil.CheckType(l, 1, lua.TypeFunction)
	if l.IsGoFunction(1) {
		luautil.Errorf(l, "unable to dump given function")
	}
	l.PushString(dumpHeader)
	return 1
}

// posRelat is lstrlib.c's posrelat: negative positions count from the end.
func posRelat(pos int64, n int) int64 {
	if pos < 0 {
		pos += int64(n) + 1
	}
	if pos >= 0 {
		return pos
	}
	return 0
}

func strLen(l *lua.State) int {
	l.PushInteger(len(luautil.CheckString(l, 1)))
	return 1
}

func strSub(l *lua.State) int {
	s := luautil.CheckString(l, 1)
	start := posRelat(luautil.CheckInteger(l, 2), len(s))
	end := posRelat(luautil.OptInteger(l, 3, -1), len(s))
	if start < 1 {
		start = 1
	}
	if end > int64(len(s)) {
		end = int64(len(s))
	}
	if start <= end {
		l.PushString(s[start-1 : end])
	} else {
		l.PushString("")
	}
	return 1
}

func (e *Env) mapBytes(l *lua.State, f func(byte) byte) int {
	s := luautil.CheckString(l, 1)
	e.lim.Charge(l, len(s))
	b := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		b[i] = f(s[i])
	}
	l.PushString(string(b))
	return 1
}

func (e *Env) strUpper(l *lua.State) int { return e.mapBytes(l, toUpper) }
func (e *Env) strLower(l *lua.State) int { return e.mapBytes(l, toLower) }

func (e *Env) strReverse(l *lua.State) int {
	s := luautil.CheckString(l, 1)
	e.lim.Charge(l, len(s))
	b := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		b[len(s)-1-i] = s[i]
	}
	l.PushString(string(b))
	return 1
}

func (e *Env) strRep(l *lua.State) int {
	s := luautil.CheckString(l, 1)
	n := luautil.CheckInt(l, 2)
	if n <= 0 || len(s) == 0 {
		l.PushString("")
		return 1
	}
	total := int64(len(s)) * int64(n)
	if total > int64(maxInt) {
		e.lim.Charge(l, -1)
	}
	e.lim.Charge(l, int(total))
	l.PushString(strings.Repeat(s, int(n)))
	return 1
}

const maxInt = int(^uint(0) >> 1)

// maxCStack is LUAI_MAXCSTACK: how many values a C function may have on
// its stack, which bounds string.byte's and unpack's results.
const maxCStack = 8000

func strByte(l *lua.State) int {
	s := luautil.CheckString(l, 1)
	posi := posRelat(luautil.OptInteger(l, 2, 1), len(s))
	pose := posRelat(luautil.OptInteger(l, 3, posi), len(s))
	if posi <= 0 {
		posi = 1
	}
	if pose > int64(len(s)) {
		pose = int64(len(s))
	}
	if posi > pose {
		return 0
	}
	n := int(pose - posi + 1)
	if l.Top()+n > maxCStack || !l.CheckStack(n+lua.MinStack) {
		luautil.Errorf(l, "stack overflow (string slice too long)")
	}
	for i := 0; i < n; i++ {
		l.PushInteger(int(s[int(posi)+i-1]))
	}
	return n
}

func (e *Env) strChar(l *lua.State) int {
	n := l.Top()
	b := make([]byte, n)
	for i := 1; i <= n; i++ {
		c := luautil.CheckInt(l, i)
		luautil.ArgCheck(l, c >= 0 && c <= 255, i, "invalid value")
		b[i-1] = byte(c)
	}
	e.lim.Charge(l, n)
	l.PushString(string(b))
	return 1
}

func (e *Env) newMatcher(l *lua.State, src, pat string) *matcher {
	return &matcher{l: l, lim: e.lim, src: src, pat: pat}
}

func (e *Env) strFind(l *lua.State) int  { return e.findAux(l, true) }
func (e *Env) strMatch(l *lua.State) int { return e.findAux(l, false) }

// findAux is str_find_aux: find and match.
func (e *Env) findAux(l *lua.State, find bool) int {
	s := luautil.CheckString(l, 1)
	p := luautil.CheckString(l, 2)
	init := posRelat(luautil.OptInteger(l, 3, 1), len(s)) - 1
	if init < 0 {
		init = 0
	} else if init > int64(len(s)) {
		init = int64(len(s))
	}
	cp := cPattern(p)
	if find && (l.ToBoolean(4) || !strings.ContainsAny(cp, specials)) {
		if i := strings.Index(s[init:], p); i >= 0 {
			start := int(init) + i
			l.PushInteger(start + 1)
			l.PushInteger(start + len(p))
			return 2
		}
		l.PushNil()
		return 1
	}
	anchor := len(cp) > 0 && cp[0] == '^'
	if anchor {
		cp = cp[1:]
	}
	m := e.newMatcher(l, s, cp)
	for s1 := int(init); ; s1++ {
		m.level = 0
		if res := m.match(s1, 0); res != -1 {
			if find {
				l.PushInteger(s1 + 1)
				l.PushInteger(res)
				return m.pushCaptures(-1, -1, false) + 2
			}
			return m.pushCaptures(s1, res, true)
		}
		if s1 >= len(s) || anchor {
			break
		}
	}
	l.PushNil()
	return 1
}

func (e *Env) strGmatch(l *lua.State) int {
	s := luautil.CheckString(l, 1)
	p := cPattern(luautil.CheckString(l, 2))
	pos := 0
	luautil.PushNamed(l, "(for generator)", func(l *lua.State) int {
		m := e.newMatcher(l, s, p)
		for src := pos; src <= len(s); src++ {
			m.level = 0
			if end := m.match(src, 0); end != -1 {
				pos = end
				if end == src {
					pos++
				}
				return m.pushCaptures(src, end, true)
			}
		}
		pos = len(s) + 1
		return 0
	}, 0)
	return 1
}

func (e *Env) strGsub(l *lua.State) int {
	src := luautil.CheckString(l, 1)
	p := cPattern(luautil.CheckString(l, 2))
	tr := l.TypeOf(3)
	maxS := luautil.OptInt(l, 4, int32(len(src)+1))
	anchor := len(p) > 0 && p[0] == '^'
	if anchor {
		p = p[1:]
	}
	luautil.ArgCheck(l, tr == lua.TypeNumber || tr == lua.TypeString || tr == lua.TypeFunction || tr == lua.TypeTable,
		3, "string/function/table expected")
	var repl string
	if tr == lua.TypeNumber || tr == lua.TypeString {
		repl, _ = luautil.ToLString(l, 3)
	}
	m := e.newMatcher(l, src, p)
	var b []byte
	add := func(s string) {
		e.lim.Charge(l, len(s))
		b = append(b, s...)
	}
	s, n := 0, int32(0)
	for n < maxS {
		m.level = 0
		end := m.match(s, 0)
		if end != -1 {
			n++
			e.addValue(l, m, tr, repl, s, end, add)
		}
		if end != -1 && end > s {
			s = end
		} else if s < len(src) {
			add(src[s : s+1])
			s++
		} else {
			break
		}
		if anchor {
			break
		}
	}
	add(src[s:])
	l.PushString(string(b))
	l.PushInteger(int(n))
	return 2
}

// addValue appends the replacement for the match s..e (add_value).
func (e *Env) addValue(l *lua.State, m *matcher, tr lua.Type, repl string, s, end int, add func(string)) {
	switch tr {
	case lua.TypeNumber, lua.TypeString:
		for i := 0; i < len(repl); i++ {
			c := repl[i]
			if c != '%' {
				// Copy the run up to the next escape in one go.
				j := strings.IndexByte(repl[i:], '%')
				if j < 0 {
					j = len(repl) - i
				}
				add(repl[i : i+j])
				i += j - 1
				continue
			}
			i++
			var d byte // past the end C reads the terminating NUL
			if i < len(repl) {
				d = repl[i]
			}
			switch {
			case !isDigit(d):
				add(string([]byte{d}))
			case d == '0':
				add(m.src[s:end])
			default:
				add(m.captureString(int(d-'1'), s, end))
			}
		}
		return
	case lua.TypeFunction:
		l.PushValue(3)
		n := m.pushCaptures(s, end, true)
		l.Call(n, 1)
	case lua.TypeTable:
		m.pushCapture(0, s, end)
		l.Table(3)
	}
	if !l.ToBoolean(-1) {
		l.Pop(1)
		add(m.src[s:end])
		return
	}
	v, ok := luautil.ToLString(l, -1)
	if !ok {
		luautil.Errorf(l, "invalid replacement value (a %s)", luautil.TypeName(l, -1))
	}
	l.Pop(1)
	add(v)
}
