package luavm

import (
	"io"

	"github.com/Shopify/go-lua"

	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// installBase installs the base functions whose behaviour is part of the
// sandbox or of Redis's error model, over whatever stdlib installed:
//   - error, pcall, xpcall: Redis raises and catches tables (see raise),
//     and Redis's pcall hands back the err string of an error table;
//   - getmetatable, setmetatable, rawset: they show the metatables Redis
//     shows and refuse writes as Redis's read-only tables do (stdlib's
//     rawget, next and pairs see through the proxies with luautil);
//   - load, loadstring: Lua 5.1's signatures, text chunks only;
//   - coroutine: go-lua has no coroutines, so every function but running
//     raises an error.
func (st *state) installBase(l *lua.State) {
	fns := []lua.RegistryFunction{
		{Name: "error", Function: st.baseError},
		{Name: "pcall", Function: st.basePcall},
		{Name: "xpcall", Function: st.baseXpcall},
		{Name: "getmetatable", Function: st.baseGetmetatable},
		{Name: "setmetatable", Function: st.baseSetmetatable},
		{Name: "rawset", Function: st.baseRawset},
		{Name: "loadstring", Function: st.baseLoadstring},
		{Name: "load", Function: st.baseLoad},
		{Name: "__redis__err__handler", Function: st.baseErrHandler},
	}
	for _, f := range fns {
		luautil.PushNamed(l, f.Name, f.Function, 0)
		l.SetGlobal(f.Name)
	}

	l.NewTable()
	for _, name := range []string{"create", "resume", "status", "wrap", "yield"} {
		l.PushGoFunction(noCoroutines)
		l.SetField(-2, name)
	}
	l.PushGoFunction(func(l *lua.State) int { l.PushNil(); return 1 })
	l.SetField(-2, "running")
	l.SetGlobal("coroutine")
}

func noCoroutines(l *lua.State) int {
	lua.Errorf(l, "coroutines are not supported by luaproxy")
	return 0
}

// baseError is Lua 5.1's error: a string (or number) gets the position of
// the given level; any other value is raised as it is.
func (st *state) baseError(l *lua.State) int {
	level := lua.OptInteger(l, 2, 1)
	l.SetTop(1)
	if l.IsString(1) && level > 0 {
		s := luaString(l, 1)
		lua.Where(l, level)
		l.PushString(s)
		l.Concat(2)
	}
	st.raise(l)
	return 0
}

// basePcall is Redis's pcall: an error table with an err string comes back
// as that string.
func (st *state) basePcall(l *lua.State) int {
	argc := l.Top()
	if argc == 0 {
		l.PushBoolean(false)
		l.PushString("attempt to call a boolean value")
		return 2
	}
	l.PushBoolean(true)
	l.Insert(1)
	if err := st.protectedCall(l, argc-1, nil); err != nil {
		if l.IsTable(-1) {
			l.Field(-1, "err") // lua_getfield: metamethods apply
			if l.IsString(-1) {
				l.Replace(-2)
			} else {
				l.Pop(1)
			}
		}
		l.PushBoolean(false)
		l.Replace(1)
		l.SetTop(2)
	}
	return l.Top()
}

// protectedCall calls the function below the argCount arguments on top in
// protected mode, with the run's message handler (always at stack slot 1;
// go-lua's ProtectedCall reads the handler index as an absolute stack slot)
// and handler as the script's own handler (nil for pcall). On error the
// unboxed error value is left on top; an interrupt is raised again at once,
// since a script must not survive its kill by catching it.
func (st *state) protectedCall(l *lua.State, argCount int, handler any) error {
	n := len(st.handlers)
	st.handlers = append(st.handlers, handler)
	err := l.ProtectedCall(argCount, lua.MultipleReturns, 1)
	st.handlers = st.handlers[:n]
	if err != nil {
		if msg, ok := st.lim.Interrupted(); ok {
			st.raiseInterrupt(l, msg)
		}
		st.unbox(l, -1)
		st.noteError(l)
	}
	return err
}

// baseXpcall is Lua 5.1's xpcall(f, handler): the handler sees the raw
// error value.
func (st *state) baseXpcall(l *lua.State) int {
	luautil.CheckAny(l, 2)
	l.SetTop(2)
	h := l.ToValue(2)
	if h == nil {
		h = nilHandler{}
	}
	l.Pop(1)
	err := st.protectedCall(l, 0, h)
	l.PushBoolean(err == nil)
	l.Insert(1)
	return l.Top()
}

// nilHandler stands for xpcall's handler when it is nil.
type nilHandler struct{}

// baseErrHandler is the __redis__err__handler global: Redis's error handler
// as a function scripts can call.
func (st *state) baseErrHandler(l *lua.State) int {
	l.SetTop(1)
	st.unbox(l, 1)
	level := 1
	if st.inUserHandler {
		level = 2 // called by messageHandler for xpcall
	}
	src, line, ok := errorPlace(l, level)
	if !l.IsTable(1) {
		msg := "ERR " + tostring51(l, 1)
		l.CreateTable(0, 3)
		l.PushString(msg)
		l.SetField(-2, "err")
		l.Replace(1)
	}
	if ok && !st.readonly[l.ToValue(1)] {
		l.PushString(src)
		l.SetField(1, "source")
		l.PushInteger(line)
		l.SetField(1, "line")
	}
	return 1
}

func (st *state) baseGetmetatable(l *lua.State) int {
	luautil.CheckAny(l, 1)
	if vis, ok := st.proxies[l.ToValue(1)]; ok {
		if vis == nil {
			l.PushNil()
		} else {
			l.PushLightUserData(vis)
		}
		return 1
	}
	if l.TypeOf(1) == lua.TypeString {
		l.PushLightUserData(st.strMeta)
		return 1
	}
	if !l.MetaTable(1) {
		l.PushNil()
		return 1
	}
	lua.MetaField(l, 1, "__metatable")
	return 1
}

func (st *state) baseSetmetatable(l *lua.State) int {
	t := l.TypeOf(2)
	luautil.CheckType(l, 1, lua.TypeTable)
	if t != lua.TypeNil && t != lua.TypeTable {
		luautil.ArgError(l, 2, "nil or table expected")
	}
	if _, isProxy := st.proxies[l.ToValue(1)]; !isProxy && lua.MetaField(l, 1, "__metatable") {
		lua.Errorf(l, "cannot change a protected metatable")
	}
	if st.readonly[l.ToValue(1)] {
		l.PushString(readonlyError)
		l.Error()
	}
	l.SetTop(2)
	l.SetMetaTable(1)
	return 1
}

func (st *state) baseRawset(l *lua.State) int {
	luautil.CheckType(l, 1, lua.TypeTable)
	luautil.CheckAny(l, 2)
	luautil.CheckAny(l, 3)
	if st.readonly[l.ToValue(1)] {
		l.PushString(readonlyError)
		l.Error()
	}
	l.SetTop(3)
	l.RawSet(1)
	return 1
}

// baseLoadstring is Lua 5.1's loadstring(s [, chunkname]), text only.
func (st *state) baseLoadstring(l *lua.State) int {
	if !l.IsString(1) {
		luautil.CheckType(l, 1, lua.TypeString)
	}
	s := luaString(l, 1)
	name := s
	if !l.IsNoneOrNil(2) {
		if !l.IsString(2) {
			luautil.CheckType(l, 2, lua.TypeString)
		}
		name = luaString(l, 2)
	}
	if err := st.load([]byte(s), name); err != nil {
		return loadFailed(l)
	}
	return 1
}

// baseLoad is Lua 5.1's load(func [, chunkname]), text only.
func (st *state) baseLoad(l *lua.State) int {
	luautil.CheckType(l, 1, lua.TypeFunction)
	name := "=(load)"
	if !l.IsNoneOrNil(2) {
		if !l.IsString(2) {
			luautil.CheckType(l, 2, lua.TypeString)
		}
		name = luaString(l, 2)
	}
	l.SetTop(1)
	r := &pieceReader{l: l}
	// Read the whole chunk first: a binary chunk is refused on its first
	// byte with Lua 5.1's message (see load).
	chunk, err := io.ReadAll(r)
	if err != nil {
		l.PushString(err.Error())
		return loadFailed(l)
	}
	if err := st.load(chunk, name); err != nil {
		return loadFailed(l)
	}
	return 1
}

func loadFailed(l *lua.State) int {
	l.PushNil()
	l.Insert(-2)
	return 2
}

// pieceReader reads a chunk from the pieces a Lua function returns.
type pieceReader struct {
	l    *lua.State
	rest string
	done bool
}

func (r *pieceReader) Read(p []byte) (int, error) {
	for r.rest == "" {
		if r.done {
			return 0, io.EOF
		}
		r.l.PushValue(1)
		r.l.Call(0, 1)
		switch {
		case r.l.IsNil(-1):
			r.done = true
		case r.l.IsString(-1):
			r.rest = luaString(r.l, -1)
			if r.rest == "" {
				r.done = true
			}
		default:
			r.l.Pop(1)
			lua.Errorf(r.l, "reader function must return a string")
		}
		r.l.Pop(1)
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}
