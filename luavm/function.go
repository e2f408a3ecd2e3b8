package luavm

import (
	"context"
	"crypto/sha1"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Shopify/go-lua"

	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// Redis Functions (FUNCTION LOAD, FCALL) as Redis 7.0's Lua engine runs
// them. Redis keeps functions in a Lua state of their own; luavm gives each
// pooled state a second environment instead: function code is compiled with
// its _ENV bound to a read-only globals proxy whose __index is switched, as
// Redis switches its globals' metatable, between the loading API (only
// redis.register_function, redis.log and the version fields) while the
// library's code runs and the function globals (the EVAL globals without
// KEYS, ARGV and __redis__err__handler, and a redis table without the
// debugger's functions) when a function is called.

// Library is a loaded function library.
type Library struct {
	Name      string
	Code      []byte // the whole payload, metadata line included
	Functions []FunctionInfo
	sum       [20]byte
}

// FunctionInfo describes one registered function.
type FunctionInfo struct {
	Name        string
	Description string // "" when not given
	HasDesc     bool
	Flags       []string // lower-case Redis script flags
}

// Function returns the library's function called name.
func (lib *Library) Function(name string) (FunctionInfo, bool) {
	for _, f := range lib.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return FunctionInfo{}, false
}

func (f FunctionInfo) noWrites() bool { return contains(f.Flags, "no-writes") }

// functionEnv holds one state's function environment.
type functionEnv struct {
	globals any // the real function globals table
	loadAPI any // the globals while library code runs
	env     any // the read-only proxy bound as _ENV
	meta    any // env's metatable, whose __index is switched
	// What getmetatable(_G) shows function code, as Redis shows the real
	// metatable of its globals: a read-only table whose __index is a
	// read-only view of the current globals (switched with meta's).
	visMeta any         // the real table behind that view
	views   map[any]any // globals table -> its read-only view
}

// libraryBuild collects what register_function registers.
type libraryBuild struct {
	funcs []FunctionInfo
	fns   map[string]any
}

func (st *state) buildFunctionEnv(l *lua.State) {
	// Function globals: the EVAL globals minus what only EVAL has.
	l.NewTable()
	fg := l.Top()
	l.PushLightUserData(st.realG)
	g := l.Top()
	l.PushNil()
	for l.Next(g) {
		if k, ok := l.ToValue(-2).(string); ok {
			switch k {
			case "KEYS", "ARGV", "__redis__err__handler", "_G", "redis":
			default:
				l.PushValue(-2)
				l.PushValue(-2)
				l.RawSet(fg)
			}
		}
		l.Pop(1)
	}
	// redis for functions: without breakpoint, debug, replicate_commands.
	l.Field(g, "redis")
	st.unproxy(l, -1)
	r := l.Top()
	l.NewTable()
	l.PushNil()
	for l.Next(r) {
		if k, ok := l.ToValue(-2).(string); ok && k != "breakpoint" && k != "debug" && k != "replicate_commands" {
			l.PushValue(-2)
			l.PushValue(-2)
			l.RawSet(-5)
		}
		l.Pop(1)
	}
	st.pushProxy(l, -1)
	l.SetField(fg, "redis")
	l.SetTop(fg)
	st.setErrorMetatable(l, fg)
	st.readonly[l.ToValue(fg)] = true
	st.fn.globals = l.ToValue(fg)

	// The loading API.
	l.PushLightUserData(st.realG)
	l.Field(-1, "redis")
	st.unproxy(l, -1)
	l.Replace(-2)
	r = l.Top()
	l.NewTable()
	api := l.Top()
	l.NewTable()
	l.PushGoFunction(st.registerFunction)
	l.SetField(-2, "register_function")
	l.Field(r, "log")
	l.SetField(-2, "log")
	for _, k := range []string{"LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING", "REDIS_VERSION", "REDIS_VERSION_NUM"} {
		l.Field(r, k)
		l.SetField(-2, k)
	}
	st.setErrorMetatable(l, -1)
	st.pushProxy(l, -1)
	st.proxies[l.ToValue(-1)] = nil
	l.SetField(api, "redis")
	l.Pop(1)
	st.setErrorMetatable(l, api)
	st.readonly[l.ToValue(api)] = true
	st.fn.loadAPI = l.ToValue(api)

	// The _ENV of function code.
	l.NewTable()
	l.NewTable()
	l.PushValue(fg)
	l.SetField(-2, "__index")
	l.PushGoFunction(readonlyNewIndex)
	l.SetField(-2, "__newindex")
	st.fn.meta = l.ToValue(-1)
	st.readonly[st.fn.meta] = true
	l.SetMetaTable(-2)
	st.fn.env = l.ToValue(-1)
	st.readonly[st.fn.env] = true
	st.buildVisibleMeta(l, fg, api)
	l.PushLightUserData(st.proxyOf) // next and pairs iterate the globals
	l.PushValue(-2)
	l.PushValue(fg)
	l.RawSet(-3)
	l.Pop(1)
	l.SetField(fg, "_G")
	l.SetTop(0)
	st.libs = make(map[[20]byte]map[string]any)
}

// buildVisibleMeta makes what getmetatable(_G) returns in function code.
func (st *state) buildVisibleMeta(l *lua.State, fg, api int) {
	st.fn.views = make(map[any]any, 2)
	for _, idx := range []int{fg, api} {
		st.pushProxy(l, idx)
		st.fn.views[l.ToValue(idx)] = l.ToValue(-1)
		l.Pop(1)
	}
	l.NewTable()
	l.PushLightUserData(st.fn.views[l.ToValue(fg)])
	l.SetField(-2, "__index")
	st.fn.visMeta = l.ToValue(-1)
	st.pushProxy(l, -1)
	st.proxies[st.fn.env] = l.ToValue(-1)
	l.Pop(2)
}

// setErrorMetatable gives the table at idx Redis's nonexistent-global error.
func (st *state) setErrorMetatable(l *lua.State, idx int) {
	idx = l.AbsIndex(idx)
	l.NewTable()
	l.PushGoFunction(nonexistentGlobal)
	l.SetField(-2, "__index")
	st.readonly[l.ToValue(-1)] = true
	l.SetMetaTable(idx)
}

// setFunctionIndex switches what function code sees as its globals.
func (st *state) setFunctionIndex(l *lua.State, v any) {
	l.PushLightUserData(st.fn.meta)
	l.PushString("__index")
	l.PushLightUserData(v)
	l.RawSet(-3)
	l.PushLightUserData(st.fn.visMeta)
	l.PushString("__index")
	l.PushLightUserData(st.fn.views[v])
	l.RawSet(-3)
	l.Pop(2)
}

// LoadLibrary compiles and runs a FUNCTION LOAD payload as Redis 7.0 does
// and returns the library, or the complete error reply. Whether the
// library or its functions clash with already loaded ones is the caller's
// business (Redis's "Library 'x' already exists", "Function x already
// exists").
func (vm *VM) LoadLibrary(code []byte) (*Library, []byte) {
	name, body, errMsg := parseLibraryMetadata(code)
	if errMsg != "" {
		return nil, appendError(nil, "ERR "+errMsg)
	}
	st, err := vm.get(context.Background())
	if err != nil {
		return nil, appendError(nil, "ERR luaproxy: no Lua state available: "+err.Error())
	}
	defer vm.put(st)
	lib := &Library{Name: name, Code: code, sum: sha1.Sum(code)}
	var fns map[string]any
	fns, lib.Functions, errMsg = st.loadLibrary(body)
	if errMsg != "" {
		return nil, appendError(nil, "ERR "+errMsg)
	}
	st.libs[lib.sum] = fns
	return lib, nil
}

// parseLibraryMetadata reads "#!lua name=<lib>" as functionExtractLibMetaData
// does and returns the name and the code after the metadata line (its line
// feed kept).
func parseLibraryMetadata(code []byte) (name string, body []byte, errMsg string) {
	s := string(code)
	if !strings.HasPrefix(s, "#!") {
		return "", nil, "Missing library metadata"
	}
	end := shebangEnd(code)
	if end < 0 {
		return "", nil, "Invalid library metadata"
	}
	parts, ok := luautil.SplitArgs(s[:end])
	if !ok || len(parts) == 0 {
		return "", nil, "Invalid library metadata"
	}
	engine := parts[0][2:]
	found := false
	for _, p := range parts[1:] {
		if len(p) >= 5 && strings.EqualFold(p[:5], "name=") {
			if found {
				return "", nil, "Invalid metadata value, name argument was given multiple times"
			}
			name, found = p[5:], true
			continue
		}
		return "", nil, "Invalid metadata value given: " + p
	}
	if !found {
		return "", nil, "Library name was not given"
	}
	if !validName(name) {
		return "", nil, "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"
	}
	if !strings.EqualFold(engine, "lua") {
		return "", nil, "Engine '" + engine + "' not found"
	}
	return name, code[end:], ""
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// loadLibrary runs library code on this state (luaEngineCreate).
func (st *state) loadLibrary(body []byte) (fns map[string]any, infos []FunctionInfo, errMsg string) {
	l := st.l
	var out []byte // set by guard on a Go panic
	defer func() {
		if out != nil {
			fns, infos, errMsg = nil, nil, "luaproxy: internal error while loading the library"
		}
	}()
	if stop := st.begin(context.Background(), &Request{}, ""); stop != nil {
		defer stop()
	}
	defer st.guard(&out, nil)
	defer st.setFunctionIndex(l, st.fn.globals)
	st.deadline.Store(time.Now().Add(loadTimeout).UnixNano())
	st.inLoad.Store(true)
	defer st.inLoad.Store(false)
	st.env.AllowRandom(false) // as Redis: no run context while loading
	defer st.env.AllowRandom(true)

	l.PushLightUserData(st.handlerValue()) // slot 1, for pcall inside the code
	if err := st.load(body, "@user_function"); err != nil {
		msg, _ := l.ToString(-1)
		return nil, nil, "Error compiling function: " + msg
	}
	l.PushLightUserData(st.fn.env)
	lua.SetUpValue(l, -2, 1)
	st.setFunctionIndex(l, st.fn.loadAPI)
	build := &libraryBuild{fns: make(map[string]any)}
	st.loading = build
	lua.SetDebugHook(l, st.hookFn, lua.MaskCount, hookInstructions)
	err := l.ProtectedCall(0, 0, 0)
	lua.SetDebugHook(l, nil, 0, 0)
	if err != nil {
		st.unbox(l, -1)
		return nil, nil, "Error registering functions: " + st.plainErrorMessage(l)
	}
	if len(build.funcs) == 0 {
		return nil, nil, "No functions registered"
	}
	return build.fns, build.funcs, ""
}

// plainErrorMessage is luaExtractErrorInformation's message for the error
// value on top when no handler ran.
func (st *state) plainErrorMessage(l *lua.State) string {
	if l.IsString(-1) {
		return "ERR " + cString(luaString(l, -1))
	}
	if l.IsTable(-1) {
		l.PushString("err")
		l.RawGet(-2)
		defer l.Pop(1)
		if l.IsString(-1) {
			return cString(luaString(l, -1))
		}
	}
	return "ERR Script raised an error table without an 'err' field"
}

// registerFunction is redis.register_function.
func (st *state) registerFunction(l *lua.State) int {
	b := st.loading
	if b == nil {
		st.raiseError(l, "redis.register_function can only be called on FUNCTION LOAD command")
	}
	var f FunctionInfo
	var fn any
	switch l.Top() {
	case 1:
		if !l.IsTable(1) {
			st.raiseError(l, "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
		}
		l.PushNil()
		for l.Next(1) {
			if !l.IsString(-2) {
				st.raiseError(l, "named argument key given to redis.register_function is not a string")
			}
			switch key := luaString(l, -2); {
			case strings.EqualFold(key, "function_name"):
				if !l.IsString(-1) {
					st.raiseError(l, "function_name argument given to redis.register_function must be a string")
				}
				f.Name = luaString(l, -1)
			case strings.EqualFold(key, "description"):
				if !l.IsString(-1) {
					st.raiseError(l, "description argument given to redis.register_function must be a string")
				}
				f.Description, f.HasDesc = luaString(l, -1), true
			case strings.EqualFold(key, "callback"):
				if !l.IsFunction(-1) {
					st.raiseError(l, "callback argument given to redis.register_function must be a function")
				}
				fn = l.ToValue(-1)
			case strings.EqualFold(key, "flags"):
				if !l.IsTable(-1) {
					st.raiseError(l, "flags argument to redis.register_function must be a table representing function flags")
				}
				flags, ok := readFunctionFlags(l)
				if !ok {
					st.raiseError(l, "unknown flag given")
				}
				f.Flags = flags
			default:
				st.raiseError(l, "unknown argument given to redis.register_function")
			}
			l.Pop(1)
		}
		if f.Name == "" && !hasName(l) {
			st.raiseError(l, "redis.register_function must get a function name argument")
		}
		if fn == nil {
			st.raiseError(l, "redis.register_function must get a callback argument")
		}
	case 2:
		if !l.IsString(1) {
			st.raiseError(l, "first argument to redis.register_function must be a string")
		}
		if !l.IsFunction(2) {
			st.raiseError(l, "second argument to redis.register_function must be a function")
		}
		f.Name, fn = luaString(l, 1), l.ToValue(2)
	default:
		st.raiseError(l, "wrong number of arguments to redis.register_function")
	}
	// Redis keeps the name's full length: a NUL in it makes it invalid.
	if !validName(f.Name) {
		st.raiseError(l, "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
	}
	if _, dup := b.fns[f.Name]; dup {
		st.raiseError(l, "Function already exists in the library")
	}
	b.fns[f.Name] = fn
	b.funcs = append(b.funcs, f)
	return 0
}

// hasName reports whether the named-arguments table at 1 has a
// function_name (an empty name is given, and invalid, not missing).
func hasName(l *lua.State) bool {
	l.PushNil()
	for l.Next(1) {
		if k, ok := l.ToValue(-2).(string); ok && strings.EqualFold(k, "function_name") {
			l.Pop(2)
			return true
		}
		l.Pop(1)
	}
	return false
}

// readFunctionFlags reads the flags table on top as
// luaRegisterFunctionReadFlags does.
func readFunctionFlags(l *lua.State) ([]string, bool) {
	flags := []string{}
	for j := 1; ; j++ {
		l.PushInteger(j)
		l.Table(-2)
		if l.IsNil(-1) {
			l.Pop(1)
			return flags, true
		}
		if !l.IsString(-1) {
			l.Pop(1)
			return nil, false
		}
		name := strings.ToLower(luaString(l, -1))
		l.Pop(1)
		switch name {
		case "no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys":
			flags = append(flags, name)
		default:
			return nil, false
		}
	}
}

// FCall runs the library's function name as FCALL (or FCALL_RO, with
// req.ReadOnly) does and returns the complete raw reply.
func (vm *VM) FCall(ctx context.Context, lib *Library, name string, req Request) []byte {
	info, ok := lib.Function(name)
	if !ok {
		return appendError(nil, "ERR Function not found")
	}
	if req.ReadOnly && !info.noWrites() {
		return appendError(nil, "ERR Can not execute a script with write flag using *_ro command.")
	}
	req.ReadOnly = req.ReadOnly || info.noWrites()
	st, err := vm.get(ctx)
	if err != nil {
		return appendError(nil, "ERR luaproxy: no Lua state available: "+err.Error())
	}
	defer vm.put(st)
	fns, ok := st.libs[lib.sum]
	if !ok {
		// Loading the library on this state is part of the FCALL: a
		// FUNCTION KILL meanwhile is for it, and ends it.
		st.isFunction.Store(true)
		_, body, _ := parseLibraryMetadata(lib.Code)
		var errMsg string
		fns, _, errMsg = st.loadLibrary(body)
		st.isFunction.Store(false)
		if msg, killed := st.lim.Interrupted(); killed {
			return appendError(nil, msg)
		}
		if errMsg != "" {
			return appendError(nil, "ERR "+errMsg)
		}
		st.libs[lib.sum] = fns
	}
	st.body = lib.Code
	return st.fcall(nil, ctx, fns[name], name, &req)
}

func (st *state) fcall(dst []byte, ctx context.Context, fn any, name string, req *Request) (out []byte) {
	l := st.l
	st.isFunction.Store(true)
	defer st.isFunction.Store(false)
	if stop := st.begin(ctx, req, name); stop != nil {
		defer stop()
	}
	defer st.guard(&out, dst)
	l.PushLightUserData(st.handlerValue())
	l.PushLightUserData(fn)
	for _, items := range [][][]byte{req.Keys, req.Args} {
		l.CreateTable(len(items), 0)
		for i, it := range items {
			l.PushString(string(it))
			l.RawSetInt(-2, i+1)
		}
	}
	return st.call(dst, 2)
}

// errorLineRE finds the line a library load error names.
var errorLineRE = regexp.MustCompile(`user_function:(\d+):`)

// ErrorLine returns the line of a library's code that a LoadLibrary error
// names ("user_function:3: ..."), for reports by file and line.
func ErrorLine(msg string) (line int, ok bool) {
	m := errorLineRE.FindStringSubmatch(msg)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}
