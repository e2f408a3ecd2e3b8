package luavm

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Shopify/go-lua"

	"github.com/luaproxy/luaproxy/luavm/bitop"
	"github.com/luaproxy/luaproxy/luavm/cjson"
	"github.com/luaproxy/luaproxy/luavm/cmsgpack"
	"github.com/luaproxy/luaproxy/luavm/internal/luaresp"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
	"github.com/luaproxy/luaproxy/luavm/stdlib"
	"github.com/luaproxy/luaproxy/luavm/structlib"
)

// Messages of interrupted scripts. The kill text is Redis's; Redis has no
// time limit of its own (it only starts answering BUSY), so the deadline
// text is luaproxy's.
const (
	killedMessage  = "ERR Script killed by user with SCRIPT KILL..."
	timeoutMessage = "ERR Script killed by luaproxy: time limit exceeded..."
	cancelMessage  = "ERR Script killed by luaproxy: request cancelled..."
	// loadTimeoutMessage is Redis's: FUNCTION LOAD code gets 500 ms.
	loadTimeoutMessage = "ERR FUNCTION LOAD timeout"
	loadTimeout        = 500 * time.Millisecond
	// maxCallDepth is Lua 5.1's LUAI_MAXCALLS, checked at every hook tick.
	maxCallDepth = 20000
)

// state is one go-lua state with Redis's environment, used by one script at
// a time.
type state struct {
	vm  *VM
	l   *lua.State
	lim luautil.Limits
	env *stdlib.Env
	// cjson is the global cjson table, whose settings start afresh for
	// every script (see cjson.Module.Reset).
	cjson *cjson.Module

	// scripts maps a body's SHA1 to its compiled function, also kept in the
	// registry as "f_<sha>" like Redis does.
	scripts map[[20]byte]compiled

	realG    any          // the real globals table (value identity)
	proxies  map[any]any  // read-only proxy -> visible metatable (nil for none)
	readonly map[any]bool // tables no script may modify
	proxyOf  any          // registry table proxy -> real table, as a value
	strMeta  any          // the string metatable as scripts see it
	boxes    any          // registry table of boxed error values
	boxSeq   int

	// Pre-boxed values pushed with PushLightUserData, which pushes any Go
	// value as is: this avoids an allocation per push on the hot path.
	keysName, argvName, handler any

	hookFn    lua.Hook
	hookEvery int
	inLoad    atomic.Bool // running FUNCTION LOAD code: its own timeout text

	fn      functionEnv                 // Redis Functions' environment
	libs    map[[20]byte]map[string]any // libraries loaded here: name -> function
	loading *libraryBuild               // the library FUNCTION LOAD is running

	// handlers holds, innermost last, the handler of each pcall (nil) and
	// xpcall running in the script.
	handlers      []any
	inUserHandler bool

	// Per-run data.
	body       []byte // the running script's source, for error texts
	running    atomic.Bool
	cancelWG   sync.WaitGroup // a cancellation's interrupt in flight
	started    atomic.Int64   // UnixNano of the run's start, for KillScripts
	isFunction atomic.Bool    // the run is FCALL, not EVAL
	wrote      atomic.Bool    // the run called a write command
	deadline   atomic.Int64   // UnixNano, 0 for none
	broken     bool
	req        *Request // &reqv during a run
	reqv       Request
	arrays     [2]runArray // KEYS and ARGV
	sha        string
	resp       int // protocol chosen with redis.setresp
	repl       int
	ticks      int
	heapBase   uint64
	killed     bool
	errInfo    errorInfo
	argv       [][]byte
	numBuf     []byte
	heap       [1]metrics.Sample
}

func (vm *VM) newState() (st *state, err error) {
	defer func() {
		if r := recover(); r != nil {
			st, err = nil, fmt.Errorf("luavm: initialise state: %v", r)
		}
	}()
	st = &state{vm: vm, l: lua.NewState(), scripts: make(map[[20]byte]compiled)}
	st.proxies = make(map[any]any)
	st.readonly = make(map[any]bool)
	st.keysName, st.argvName = any("KEYS"), any("ARGV")
	st.hookFn = st.hook
	st.heap[0].Name = "/gc/heap/live:bytes"
	if err := st.init(); err != nil {
		return nil, err
	}
	vm.register(st)
	return st, nil
}

// init builds Redis's environment. Everything runs in one protected call so
// that a library failing to open is an error, not a process exit.
func (st *state) init() error {
	l := st.l
	l.PushGoFunction(func(l *lua.State) int {
		st.env = stdlib.Open(l, &st.lim)
		st.env.SetRand(st.vm.rand)
		st.cjson = cjson.Open(l, &st.lim)
		structlib.Open(l, &st.lim)
		cmsgpack.Open(l, &st.lim)
		bitop.Open(l, &st.lim)
		st.installBase(l)
		st.installRedis(l)
		st.sandbox(l)
		st.buildFunctionEnv(l)
		return 0
	})
	if err := l.ProtectedCall(0, 0, 0); err != nil {
		msg, _ := l.ToString(-1)
		return fmt.Errorf("luavm: initialise state: %v: %s", err, msg)
	}
	l.SetTop(0)
	return nil
}

// allowedGlobals is the exact set of globals a Redis 7.0.15 script sees
// (besides KEYS and ARGV, set per run).
var allowedGlobals = map[string]bool{
	"_G": true, "_VERSION": true, "__redis__err__handler": true, "assert": true, "bit": true,
	"cjson": true, "cmsgpack": true, "collectgarbage": true, "coroutine": true, "error": true,
	"gcinfo": true, "getmetatable": true, "ipairs": true, "load": true, "loadstring": true,
	"math": true, "next": true, "pairs": true, "pcall": true, "rawequal": true, "rawget": true,
	"rawset": true, "redis": true, "select": true, "setmetatable": true, "string": true,
	"struct": true, "table": true, "tonumber": true, "tostring": true, "type": true,
	"unpack": true, "xpcall": true,
}

// sandbox removes every global Redis does not have, then locks the
// environment: scripts see read-only proxies of the globals and of every
// library table, and a missing global is an error.
func (st *state) sandbox(l *lua.State) {
	l.PushGlobalTable()
	g := l.Top()
	st.realG = l.ToValue(g)
	var drop []string
	l.PushNil()
	for l.Next(g) {
		if l.TypeOf(-2) == lua.TypeString {
			if k, _ := l.ToString(-2); !allowedGlobals[k] {
				drop = append(drop, k)
			}
		}
		l.Pop(1)
	}
	for _, k := range drop {
		l.PushNil()
		l.SetField(g, k)
	}
	l.PushString("Lua 5.1")
	l.SetField(g, "_VERSION")

	// proxy -> real table, for next/pairs/rawget.
	l.NewTable()
	st.proxyOf = l.ToValue(-1)
	l.SetField(lua.RegistryIndex, luautil.ProxyKey)
	l.NewTable()
	st.boxes = l.ToValue(-1)
	l.SetField(lua.RegistryIndex, "luavm.errboxes")

	// Replace every library table by a read-only proxy.
	var libs []string
	l.PushNil()
	for l.Next(g) {
		if l.TypeOf(-2) != lua.TypeString {
			l.Pop(1)
			continue
		}
		k, _ := l.ToString(-2)
		if l.IsTable(-1) && k != "_G" {
			libs = append(libs, k)
		}
		l.Pop(1)
	}
	for _, k := range libs {
		if k == "_G" {
			continue
		}
		l.Field(g, k)
		st.pushProxy(l, -1)
		l.SetField(g, k)
		l.Pop(1)
	}

	// The string metatable as getmetatable("") shows it: read-only, with
	// __index the (proxied) string table.
	l.NewTable()
	l.Field(g, "string")
	l.SetField(-2, "__index")
	st.pushProxy(l, -1)
	st.strMeta = l.ToValue(-1)
	l.Pop(2)

	// Missing globals raise Redis's error.
	st.readonly[st.realG] = true
	l.NewTable()
	l.PushGoFunction(nonexistentGlobal)
	l.SetField(-2, "__index")
	// The metatable of _G as getmetatable(_G) shows it: Redis's
	// error-raising __index, read-only.
	st.pushProxy(l, -1)
	visible := l.ToValue(-1)
	l.Pop(1)
	l.SetMetaTable(g)

	st.pushProxy(l, g)
	gp := l.ToValue(-1)
	st.proxies[gp] = visible
	l.PushValue(-1)
	l.SetField(g, "_G")
	l.RawSetInt(lua.RegistryIndex, lua.RegistryIndexGlobals)
	l.Pop(1)
}

// pushProxy pushes a new read-only proxy for the table at idx: an empty
// table whose metatable reads through to the real one and refuses writes.
func (st *state) pushProxy(l *lua.State, idx int) {
	idx = l.AbsIndex(idx)
	st.readonly[l.ToValue(idx)] = true
	l.NewTable()
	l.NewTable()
	l.PushValue(idx)
	l.SetField(-2, "__index")
	l.PushGoFunction(readonlyNewIndex)
	l.SetField(-2, "__newindex")
	st.readonly[l.ToValue(-1)] = true
	l.SetMetaTable(-2)
	p := l.ToValue(-1)
	st.readonly[p] = true
	st.proxies[p] = nil
	// proxyOf[p] = real
	l.PushLightUserData(st.proxyOf)
	l.PushValue(-2)
	l.PushValue(idx)
	l.RawSet(-3)
	l.Pop(1)
}

// pushReal replaces a proxy at idx by its real table, in place.
func (st *state) unproxy(l *lua.State, idx int) {
	if _, ok := st.proxies[l.ToValue(idx)]; !ok {
		return
	}
	idx = l.AbsIndex(idx)
	l.PushLightUserData(st.proxyOf)
	l.PushValue(idx)
	l.RawGet(-2)
	l.Replace(idx)
	l.Pop(1)
}

func nonexistentGlobal(l *lua.State) int {
	if l.Top() != 2 {
		lua.Errorf(l, "Wrong number of arguments to luaProtectedTableError")
	}
	if !l.IsString(-1) {
		lua.Errorf(l, "Second argument to luaProtectedTableError must be a string or number")
	}
	name, _ := l.ToString(-1)
	lua.Errorf(l, "Script attempted to access nonexistent global variable '%s'", cString(name))
	return 0
}

const readonlyError = luautil.ReadonlyError

func readonlyNewIndex(l *lua.State) int {
	lua.Errorf(l, readonlyError)
	return 0
}

// cString cuts s at its first NUL, as C code printing a Lua string does.
func cString(s string) string {
	if i := indexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// run executes one script and appends its reply to dst.
func (st *state) run(dst []byte, ctx context.Context, s *Script, req *Request) (out []byte) {
	l := st.l
	if stop := st.begin(ctx, req, s.sha); stop != nil {
		defer stop()
	}
	defer st.guard(&out, dst)
	st.body = s.Body

	// Push the message handler and the compiled function.
	l.PushLightUserData(st.handlerValue())
	c, ok := st.scripts[s.sum]
	if ok {
		l.PushLightUserData(c.fn)
	} else if c, ok = st.compile(s); !ok {
		return appendError(dst, c.err)
	}
	if c.shebang {
		// A script declaring flags: Redis checks them before running.
		if !c.noWrites && req.ReadOnly {
			return appendError(dst, "ERR Can not execute a script with write flag using *_ro command.")
		}
		st.reqv.ReadOnly = st.reqv.ReadOnly || c.noWrites
	}
	st.setRunGlobals(req)
	return st.call(dst, 0)
}

// begin prepares the state for one run named name (a script's SHA1 or a
// function's name, as error replies show it). It returns a function to
// call when the run ends, or nil.
func (st *state) begin(ctx context.Context, req *Request, name string) (stop func() bool) {
	st.lim.Reset(st.vm.cfg.MemoryLimit)
	st.reqv = *req
	st.req, st.sha, st.resp, st.repl = &st.reqv, name, 2, 3
	st.boxSeq = 0
	st.ticks, st.heapBase, st.killed = 0, 0, false
	st.errInfo = errorInfo{}
	st.handlers = st.handlers[:0]
	st.inUserHandler = false
	if st.env != nil {
		st.env.Reset()
		st.cjson.Reset()
	}
	if d := st.vm.cfg.TimeLimit; d > 0 {
		st.deadline.Store(time.Now().Add(d).UnixNano())
	}
	st.wrote.Store(false)
	st.started.Store(time.Now().UnixNano())
	st.running.Store(true)
	if ctx != nil && ctx.Done() != nil {
		if ctx.Err() != nil {
			st.lim.Interrupt(cancelMessage)
		}
		// The interrupt runs on a goroutine of its own: the run must not
		// end, and the state serve another run, before it has landed, or
		// it would interrupt that other run.
		st.cancelWG.Add(1)
		stop := context.AfterFunc(ctx, func() {
			defer st.cancelWG.Done()
			st.lim.Interrupt(cancelMessage)
		})
		return func() bool {
			if stop() {
				st.cancelWG.Done() // it will never run
			}
			st.cancelWG.Wait()
			return true
		}
	}
	return nil
}

// guard ends a run: it must be deferred directly so that it can recover a
// panic go-lua did not turn into a Lua error; such a state may be
// inconsistent and is not reused.
func (st *state) guard(out *[]byte, dst []byte) {
	l := st.l
	st.running.Store(false)
	st.deadline.Store(0)
	st.req, st.reqv = nil, Request{}
	st.loading, st.body = nil, nil
	lua.SetDebugHook(l, nil, 0, 0)
	if r := recover(); r != nil {
		st.broken = true
		st.vm.cfg.Logger.Error("luavm: panic while running a script",
			zapString("script", st.sha), zapAny("panic", r), zapString("stack", string(debug.Stack())))
		*out = appendError(dst, "ERR luaproxy: internal error while running script")
		return
	}
	if l.Top() != 0 {
		l.SetTop(0)
	}
	if st.ticks > 0 || st.lim.Used() > staleClearBytes {
		st.clearStaleStack()
	}
	st.cleanup()
}

// staleClearBytes is how much a short script must have allocated through
// the libraries for clearStaleStack to run after it.
const staleClearBytes = 64 << 10

// clearStaleStack overwrites the stack slots a finished run used: go-lua
// leaves values above the top in place, so an idle state would keep the
// last script's big tables and strings reachable (and the process-wide
// heap check would count them against the next script).
func (st *state) clearStaleStack() {
	l := st.l
	const slots = 1024
	if !l.CheckStack(slots) {
		return
	}
	for i := 0; i < slots; i++ {
		l.PushNil()
	}
	l.SetTop(0)
}

// call runs the function below nargs arguments, above the message handler
// at slot 1, and converts its result.
func (st *state) call(dst []byte, nargs int) []byte {
	l := st.l
	every := st.hookEvery
	if every == 0 {
		every = hookInstructions
	}
	lua.SetDebugHook(l, st.hookFn, lua.MaskCount, every)
	if err := l.ProtectedCall(nargs, 1, 1); err != nil {
		return st.appendRunError(dst, err)
	}
	if msg, ok := st.lim.Interrupted(); ok {
		// Killed while in Go code that swallowed the interrupt.
		st.errInfo = errorInfo{set: true, msg: msg}
		return st.appendRunError(dst, nil)
	}
	return luaresp.AppendLimits(dst, l, -1, st.resp, clientProto(st.req.Proto), &st.lim)
}

func clientProto(p int) int {
	if p == 3 {
		return 3
	}
	return 2
}

func (st *state) handlerValue() any {
	if st.handler == nil {
		st.l.PushGoFunction(st.messageHandler)
		st.handler = st.l.ToValue(-1)
		st.l.Pop(1)
	}
	return st.handler
}

// compiled is a script compiled on one state, with its shebang flags.
type compiled struct {
	fn       any
	shebang  bool // declared flags ("#!lua"): not in EVAL compatibility mode
	noWrites bool
	err      string // compile error reply text, when fn is nil
}

// compile loads s and caches it with the function pushed, or returns the
// error reply text in c.err.
func (st *state) compile(s *Script) (c compiled, ok bool) {
	l := st.l
	body := s.Body
	skip, flags, err := parseShebang(body)
	if err != "" {
		return compiled{err: err}, false
	}
	if e := st.load(body[skip:], "@user_script"); e != nil {
		msg, _ := l.ToString(-1)
		l.Pop(1)
		return compiled{err: "ERR Error compiling script (new function): " + msg}, false
	}
	if len(st.scripts) >= maxCachedScripts {
		for k := range st.scripts {
			delete(st.scripts, k)
			l.PushNil()
			l.SetField(lua.RegistryIndex, "f_"+hex.EncodeToString(k[:]))
		}
	}
	c = compiled{fn: l.ToValue(-1), shebang: skip > 0 || flags != nil, noWrites: contains(flags, "no-writes")}
	st.scripts[s.sum] = c
	l.PushValue(-1)
	l.SetField(lua.RegistryIndex, "f_"+s.sha)
	return c, true
}

// load compiles a text chunk as Lua 5.1 would, leaving the function or the
// error message on the stack. Lua 5.1 in Redis parses a binary chunk as
// text and fails on its first byte; go-lua in text mode has its own
// message, so the 5.1 one is made here.
func (st *state) load(chunk []byte, name string) error {
	l := st.l
	if len(chunk) > 0 && chunk[0] == 0x1b {
		l.PushString(chunkID51(name) + ":1: unexpected symbol near 'char(27)'")
		return lua.SyntaxError
	}
	if err := l.Load(bytes.NewReader(chunk), name, "t"); err != nil {
		msg, _ := l.ToString(-1)
		l.Pop(1)
		l.PushString(luautil.SyntaxMessage(msg))
		return err
	}
	return nil
}

// chunkID51 is Lua 5.1's luaO_chunkid with LUA_IDSIZE 60.
func chunkID51(source string) string {
	const idSize = 60
	switch {
	case strings.HasPrefix(source, "="):
		s := source[1:]
		if len(s) > idSize-1 {
			s = s[:idSize-1]
		}
		return cString(s)
	case strings.HasPrefix(source, "@"):
		s := cString(source[1:])
		max := idSize - len(" '...' ") - 1
		if len(s) > max {
			return "..." + s[len(s)-max:]
		}
		return s
	}
	s := cString(source)
	n := strings.IndexAny(s, "\n\r")
	if n < 0 {
		n = len(s)
	}
	max := idSize - len(" [string \"...\"] ") - 1
	if n > max {
		n = max
	}
	if n < len(s) {
		return "[string \"" + s[:n] + "...\"]"
	}
	return "[string \"" + s + "\"]"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseShebang validates a "#!lua flags=..." first line as Redis does and
// returns how many bytes to skip (the line feed is kept, so that line
// numbers stay right), the declared flags, or Redis's error reply text.
func parseShebang(body []byte) (skip int, flags []string, errMsg string) {
	if !bytes.HasPrefix(body, []byte("#!")) {
		return 0, nil, ""
	}
	end := shebangEnd(body)
	if end < 0 {
		return 0, nil, "ERR Invalid script shebang"
	}
	parts, ok := luautil.SplitArgs(string(body[:end]))
	if !ok || len(parts) == 0 {
		return 0, nil, "ERR Invalid engine in script shebang"
	}
	// Redis compares and prints the parts as C strings: an escaped NUL
	// ("\x00") ends them.
	if cString(parts[0]) != "#!lua" {
		return 0, nil, "ERR Unexpected engine in script shebang: " + cString(parts[0])
	}
	flags = []string{}
	for _, p := range parts[1:] {
		list, ok := cutPrefix(p, "flags=")
		if !ok {
			return 0, nil, "ERR Unknown lua shebang option: " + cString(p)
		}
		for _, f := range splitComma(list) {
			switch f = cString(f); f {
			case "no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys":
				flags = append(flags, f)
			default:
				return 0, nil, "ERR Unexpected flag in script shebang: " + f
			}
		}
	}
	return end, flags, ""
}

// shebangEnd is the index of the line feed that ends the first line, or -1
// when there is none before the first NUL (Redis finds it with strchr).
func shebangEnd(b []byte) int {
	for i, c := range b {
		switch c {
		case '\n':
			return i
		case 0:
			return -1
		}
	}
	return -1
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

// splitComma splits as sdssplitlen does: an empty string gives no parts.
func splitComma(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// setRunGlobals sets KEYS and ARGV in the real globals table. Each state
// keeps its two tables and refills them in place: a write with a string key
// costs go-lua an allocation, and cleanup replaces a table a script changed
// in any way that refilling would not undo.
func (st *state) setRunGlobals(req *Request) {
	st.fillArray(0, st.keysName, req.Keys)
	st.fillArray(1, st.argvName, req.Args)
}

func (st *state) fillArray(slot int, name any, items [][]byte) {
	l := st.l
	t := &st.arrays[slot]
	if t.table == nil || len(items) > t.capacity {
		l.PushLightUserData(st.realG)
		l.PushLightUserData(name)
		l.CreateTable(len(items), 0)
		t.table, t.capacity, t.length = l.ToValue(-1), len(items), 0
		l.RawSet(-3)
		l.Pop(1)
	}
	l.PushLightUserData(t.table)
	for i, it := range items {
		l.PushString(string(it))
		l.RawSetInt(-2, i+1)
	}
	for i := len(items) + 1; i <= t.length; i++ {
		l.PushNil()
		l.RawSetInt(-2, i)
	}
	t.length = len(items)
	l.Pop(1)
}

// runArray is a per-state KEYS or ARGV table.
type runArray struct {
	table            any
	capacity, length int
}

// checkArrays drops KEYS/ARGV tables a script changed beyond their values
// at 1..length (new keys, a metatable), which refilling would not undo.
func (st *state) checkArrays() {
	l := st.l
	for i := range st.arrays {
		t := &st.arrays[i]
		if t.table == nil {
			continue
		}
		l.PushLightUserData(t.table)
		n := 0
		ok := !l.MetaTable(-1)
		l.SetTop(1)
		l.PushNil()
		for ok && l.Next(1) {
			l.Pop(1)
			k, isNum := l.ToValue(-1).(float64)
			n++
			ok = isNum && k == float64(int(k)) && k >= 1 && int(k) <= t.length && n <= t.length
		}
		if !ok {
			t.table = nil
		}
		l.SetTop(0)
	}
}

// cleanup undoes what a script may have changed behind the read-only
// proxies: library functions written in Go (table.insert and friends) write
// tables with raw accesses, so a proxy could have gained entries.
func (st *state) cleanup() {
	l := st.l
	for p := range st.proxies {
		l.PushLightUserData(p)
		l.PushNil()
		if l.Next(-2) {
			l.Pop(2)
			st.clearTable(-1)
		}
		l.Pop(1)
	}
	st.checkArrays()
	// Boxed error values live only for one run.
	if st.boxSeq > 0 {
		l.NewTable()
		st.boxes = l.ToValue(-1)
		l.SetField(lua.RegistryIndex, "luavm.errboxes")
	}
}

func (st *state) clearTable(idx int) {
	l := st.l
	idx = l.AbsIndex(idx)
	for {
		l.PushNil()
		if !l.Next(idx) {
			return
		}
		l.Pop(1)
		l.PushNil()
		l.RawSet(idx)
	}
}

// hook runs every hookInstructions instructions, and at every instruction
// once the script was interrupted, so that the script's own pcall cannot
// swallow the interrupt for long.
func (st *state) hook(l *lua.State, _ lua.Debug) {
	if msg, ok := st.lim.Interrupted(); ok {
		st.raiseInterrupt(l, msg)
	}
	if d := st.deadline.Load(); d != 0 && time.Now().UnixNano() > d {
		msg := st.timeoutMessage()
		st.lim.Interrupt(msg)
		st.raiseInterrupt(l, msg)
	}
	if _, deep := lua.Stack(l, maxCallDepth); deep {
		// Lua 5.1 stops at LUAI_MAXCALLS frames; go-lua would go on to a
		// million stack slots (and hundreds of MB).
		f, _ := lua.Stack(l, 0)
		ar := frameInfo(l, f)
		l.PushString(chunkID51(ar.Source) + ":" + strconv.Itoa(ar.CurrentLine) + ": stack overflow")
		l.Error()
	}
	if limit := st.vm.cfg.MemoryLimit; limit > 0 && st.ticks%memoryCheckTicks == 0 {
		metrics.Read(st.heap[:])
		if st.heap[0].Value.Kind() == metrics.KindUint64 {
			live := st.heap[0].Value.Uint64()
			if st.ticks == 0 || live < st.heapBase {
				st.heapBase = live
			} else if int64(live-st.heapBase) > limit {
				st.lim.Interrupt(luautil.OutOfMemory)
				st.raiseInterrupt(l, luautil.OutOfMemory)
			}
		}
	}
	st.ticks++
}

func (st *state) timeoutMessage() string {
	if st.inLoad.Load() {
		return loadTimeoutMessage
	}
	return timeoutMessage
}

func (st *state) raiseInterrupt(l *lua.State, msg string) {
	if !st.killed {
		st.killed = true
		lua.SetDebugHook(l, st.hookFn, lua.MaskCount, 1)
	}
	if msg == luautil.OutOfMemory {
		l.PushString(msg)
		l.Error()
	}
	l.CreateTable(0, 1)
	l.PushString(msg)
	l.SetField(-2, "err")
	st.raise(l)
}

func appendError(dst []byte, msg string) []byte {
	dst = append(dst, '-')
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return append(dst, '\r', '\n')
}
