package stdlib

import (
	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// openTable installs ltablib.c's table library (5.1 has no table.pack or
// table.unpack).
func (e *Env) openTable(l *lua.State) {
	l.NewTable()
	luautil.SetFuncs(l, []lua.RegistryFunction{
		{Name: "concat", Function: e.tabConcat},
		{Name: "foreach", Function: tabForeach},
		{Name: "foreachi", Function: tabForeachi},
		{Name: "getn", Function: func(l *lua.State) int {
			l.PushInteger(auxGetn(l, 1))
			return 1
		}},
		{Name: "maxn", Function: tabMaxn},
		{Name: "insert", Function: e.tabInsert},
		{Name: "remove", Function: tabRemove},
		{Name: "setn", Function: func(l *lua.State) int {
			luautil.CheckType(l, 1, lua.TypeTable)
			luautil.Errorf(l, "'setn' is obsolete")
			return 0
		}},
		{Name: "sort", Function: e.tabSort},
	}, 0)
	setLib(l, "table")
}

// auxGetn checks that argument i is a table and returns its length.
func auxGetn(l *lua.State, i int) int {
	luautil.CheckType(l, i, lua.TypeTable)
	return l.RawLength(i)
}

func tabForeachi(l *lua.State) int {
	n := auxGetn(l, 1)
	luautil.CheckType(l, 2, lua.TypeFunction)
	for i := 1; i <= n; i++ {
		l.PushValue(2)
		l.PushInteger(i)
		l.RawGetInt(1, i)
		l.Call(2, 1)
		if !l.IsNil(-1) {
			return 1
		}
		l.Pop(1)
	}
	return 0
}

func tabForeach(l *lua.State) int {
	luautil.CheckType(l, 1, lua.TypeTable)
	luautil.CheckType(l, 2, lua.TypeFunction)
	luautil.Unproxy(l, 1)
	l.PushNil()
	for l.Next(1) {
		l.PushValue(2)
		l.PushValue(-3)
		l.PushValue(-3)
		l.Call(2, 1)
		if !l.IsNil(-1) {
			return 1
		}
		l.Pop(2)
	}
	return 0
}

func tabMaxn(l *lua.State) int {
	max := 0.0
	luautil.CheckType(l, 1, lua.TypeTable)
	luautil.Unproxy(l, 1)
	l.PushNil()
	for l.Next(1) {
		l.Pop(1)
		if l.TypeOf(-1) == lua.TypeNumber {
			if v, _ := l.ToNumber(-1); v > max {
				max = v
			}
		}
	}
	l.PushNumber(max)
	return 1
}

func (e *Env) tabInsert(l *lua.State) int {
	lim := e.lim
	n := int32(auxGetn(l, 1)) + 1
	var pos int32
	switch l.Top() {
	case 2:
		pos = n
	case 3:
		pos = luautil.CheckInt(l, 2)
		if pos > n {
			n = pos
		}
	default:
		luautil.Errorf(l, "wrong number of arguments to 'insert'")
	}
	luautil.CheckWritable(l, 1)
	for i := n; i > pos; i-- {
		l.RawGetInt(1, int(i-1))
		l.RawSetInt(1, int(i))
		if i&0xfff == 0 {
			lim.Tick(l) // a far negative pos loops for long
		}
	}
	l.RawSetInt(1, int(pos))
	return 0
}

func tabRemove(l *lua.State) int {
	e := int32(auxGetn(l, 1))
	pos := luautil.OptInt(l, 2, e)
	if !(1 <= pos && pos <= e) {
		return 0
	}
	l.RawGetInt(1, int(pos))
	for ; pos < e; pos++ {
		l.RawGetInt(1, int(pos+1))
		l.RawSetInt(1, int(pos))
	}
	l.PushNil()
	l.RawSetInt(1, int(e))
	return 1
}

// tabConcat builds the result in one buffer (go-lua's is quadratic),
// charging its size before growing it.
func (e *Env) tabConcat(l *lua.State) int {
	sep := luautil.OptString(l, 2, "")
	luautil.CheckType(l, 1, lua.TypeTable)
	i := luautil.OptInt(l, 3, 1)
	var last int32
	if l.IsNoneOrNil(4) {
		last = int32(l.RawLength(1))
	} else {
		last = luautil.CheckInt(l, 4)
	}
	var b []byte
	add := func(s string) {
		e.lim.Charge(l, len(s))
		b = append(b, s...)
	}
	field := func(i int32) {
		l.RawGetInt(1, int(i))
		s, ok := luautil.ToLString(l, -1)
		if !ok {
			luautil.Errorf(l, "invalid value (%s) at index %d in table for 'concat'", luautil.TypeName(l, -1), i)
		}
		l.Pop(1)
		add(s)
	}
	for ; i < last; i++ {
		field(i)
		add(sep)
		if i&0xfff == 0 {
			e.lim.Tick(l)
		}
	}
	if i == last {
		field(i)
	}
	l.PushString(string(b))
	return 1
}

// tabSort is ltablib.c's quicksort, step for step, so that comparison
// order, results with inconsistent comparators and errors are the same.
func (e *Env) tabSort(l *lua.State) int {
	n := auxGetn(l, 1)
	if !l.CheckStack(40 + lua.MinStack) {
		luautil.Errorf(l, "stack overflow")
	}
	if !l.IsNoneOrNil(2) {
		luautil.CheckType(l, 2, lua.TypeFunction)
	}
	l.SetTop(2)
	s := sorter{l: l, e: e, fn: !l.IsNil(2)}
	s.sort(1, n)
	return 0
}

type sorter struct {
	l     *lua.State
	e     *Env
	fn    bool
	steps int
}

func (s *sorter) set2(i, j int) {
	s.l.RawSetInt(1, i)
	s.l.RawSetInt(1, j)
}

// less compares the values at stack indices a and b (negative).
func (s *sorter) less(a, b int) bool {
	l := s.l
	s.steps++
	if s.steps&0xfff == 0 {
		s.e.lim.Tick(l)
	}
	if s.fn {
		l.PushValue(2)
		l.PushValue(a - 1)
		l.PushValue(b - 2)
		l.Call(2, 1)
		res := l.ToBoolean(-1)
		l.Pop(1)
		return res
	}
	return lessThan(l, a, b)
}

// lessThan is lua_lessthan with Lua 5.1's error texts (go-lua quotes the
// type names). Like 5.1 from a C function, the message has no position.
func lessThan(l *lua.State, a, b int) bool {
	ta, tb := l.TypeOf(a), l.TypeOf(b)
	switch {
	case ta == lua.TypeNumber && tb == lua.TypeNumber:
		x, _ := l.ToNumber(a)
		y, _ := l.ToNumber(b)
		return x < y
	case ta == lua.TypeString && tb == lua.TypeString:
		x, _ := l.ToString(a)
		y, _ := l.ToString(b)
		return x < y
	}
	if ta == tb && lua.MetaField(l, a, "__lt") {
		l.Pop(1)
		return l.Compare(a, b, lua.OpLT)
	}
	if ta == tb {
		l.PushString("attempt to compare two " + ta.String() + " values")
	} else {
		l.PushString("attempt to compare " + ta.String() + " with " + tb.String())
	}
	l.Error()
	return false
}

func (s *sorter) sort(lo, up int) {
	l := s.l
	for lo < up {
		l.RawGetInt(1, lo)
		l.RawGetInt(1, up)
		if s.less(-1, -2) {
			s.set2(lo, up)
		} else {
			l.Pop(2)
		}
		if up-lo == 1 {
			break
		}
		i := (lo + up) / 2
		l.RawGetInt(1, i)
		l.RawGetInt(1, lo)
		if s.less(-2, -1) {
			s.set2(i, lo)
		} else {
			l.Pop(1)
			l.RawGetInt(1, up)
			if s.less(-1, -2) {
				s.set2(i, up)
			} else {
				l.Pop(2)
			}
		}
		if up-lo == 2 {
			break
		}
		l.RawGetInt(1, i)
		l.PushValue(-1)
		l.RawGetInt(1, up-1)
		s.set2(i, up-1)
		i = lo
		j := up - 1
		for {
			for {
				i++
				l.RawGetInt(1, i)
				if !s.less(-1, -2) {
					break
				}
				if i > up {
					luautil.Errorf(l, "invalid order function for sorting")
				}
				l.Pop(1)
			}
			for {
				j--
				l.RawGetInt(1, j)
				if !s.less(-3, -1) {
					break
				}
				if j < lo {
					luautil.Errorf(l, "invalid order function for sorting")
				}
				l.Pop(1)
			}
			if j < i {
				l.Pop(3)
				break
			}
			s.set2(i, j)
		}
		l.RawGetInt(1, up-1)
		l.RawGetInt(1, i)
		s.set2(up-1, i)
		if i-lo < up-i {
			j = lo
			i = i - 1
			lo = i + 2
		} else {
			j = i + 1
			i = up
			up = j - 2
		}
		s.sort(j, i)
	}
}
