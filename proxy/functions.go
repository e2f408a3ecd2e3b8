package proxy

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/luaproxy/luaproxy/luavm"
	"github.com/luaproxy/luaproxy/registry"
)

// Functions answers FUNCTION, FCALL and FCALL_RO as Redis 7.0.15 does, with
// the libraries compiled and run by a luavm.VM.
//
// The loaded libraries form an immutable librarySet behind an atomic
// pointer: FCALL finds its function without a lock or a network round trip,
// while changes (LOAD, DELETE, RESTORE, FLUSH) are serialised by a mutex,
// build a new set and publish it in one store. With a FunctionStore the
// change is first written to the shared store, and changes other luaproxy
// instances write there are compiled and published here as they arrive.
//
// Differences from Redis 7.0.15:
//   - FUNCTION LIST lists libraries sorted by name and functions in the
//     order they were registered; Redis follows its hash tables. FUNCTION
//     DUMP writes libraries in name order, so with several libraries the
//     payload's records may be ordered differently from Redis's (each
//     record is identical; a single library's dump is byte-identical).
//   - function flags: no-writes is enforced (FCALL_RO of a function
//     without it is refused, and its redis.call refuses writes).
//     allow-oom, allow-stale, no-cluster and allow-cross-slot-keys are
//     listed but change nothing: the upstream decides about memory,
//     replication and cluster state for each command the function sends.
//     In particular a function without allow-oom is not refused up front
//     when the upstream is out of memory; its first write gets the
//     upstream's OOM error instead.
//   - FUNCTION STATS reports the oldest of the FCALLs running in this
//     process (Redis runs one at a time), and never answers BUSY while an
//     EVAL runs. FUNCTION KILL stops the functions running in this
//     process, not those of other luaproxy instances sharing the registry.
//   - with a registry, a change made through another luaproxy reaches
//     this one through a notification: FCALL of a function this instance
//     does not know, LIST, DUMP and STATS catch up first, but a function
//     deleted or replaced elsewhere may still run here until the
//     notification (or the registry's periodic check) arrives.
//   - FUNCTION and FCALL inside MULTI are refused and fail the
//     transaction (Redis queues them).
//   - FUNCTION FLUSH ASYNC flushes synchronously.
//   - authentication and ACLs: FUNCTION answers NOAUTH as Redis does (a
//     probe on the session's connection tells), but ACL rules on the
//     FUNCTION and FCALL commands themselves are not applied: the
//     upstream only judges the commands a function sends. FCALL learns
//     that a client has not authenticated from the function's first
//     redis.call, so an FCALL that fails earlier (function not found,
//     bad numkeys) or a function that calls nothing answers as if the
//     client had authenticated.
type Functions struct {
	vm      *luavm.VM
	store   FunctionStore
	log     *zap.Logger
	metrics *functionMetrics
	cancel  func() // unregisters the store callback

	mu      sync.Mutex // serialises changes to set and version
	set     atomic.Pointer[librarySet]
	version int64 // the store version set reflects
	// unsaved: set holds a deletion the registry refused; it is written
	// back by writeBackLoop (see functions_writeback.go).
	unsaved   bool
	writeBack chan struct{}
	stop      chan struct{} // closed by Close
	closeOnce sync.Once

	// running holds the FCALLs in progress by session ID, for FUNCTION
	// STATS.
	running sync.Map
}

// FunctionStore keeps the function libraries in the upstream Redis, shared
// by every luaproxy in front of it and kept across restarts.
// *registry.Store implements it.
type FunctionStore interface {
	// Snapshot returns the current libraries without blocking.
	Snapshot() *registry.Snapshot
	// Update applies the change fn computes from the current libraries
	// atomically; an error from fn is returned as is.
	Update(ctx context.Context, fn func(cur *registry.Snapshot) (registry.Change, error)) (*registry.Snapshot, error)
	// OnChange calls fn with every new snapshot, whoever made the change.
	OnChange(fn func(*registry.Snapshot)) (cancel func())
	// Refresh catches up with the shared store (one round trip).
	Refresh(ctx context.Context) error
}

// FunctionsOptions configures NewFunctions. The zero value is usable.
type FunctionsOptions struct {
	// Store, if not nil, shares the libraries with other luaproxy
	// instances and keeps them across restarts; nil keeps them in this
	// process only.
	Store FunctionStore
}

// NewFunctions returns a Functions that runs libraries on vm, starting
// with the libraries of opts.Store (none without a store). Its metrics are
// registered on reg unless reg is nil; a nil log discards. Close releases
// the store callback.
func NewFunctions(vm *luavm.VM, opts FunctionsOptions, log *zap.Logger, reg prometheus.Registerer) (*Functions, error) {
	if log == nil {
		log = zap.NewNop()
	}
	m, err := newFunctionMetrics(reg)
	if err != nil {
		return nil, err
	}
	f := &Functions{vm: vm, store: opts.Store, log: log, metrics: m, cancel: func() {},
		writeBack: make(chan struct{}, 1), stop: make(chan struct{})}
	f.set.Store(emptyLibrarySet)
	if f.store != nil {
		// Register first: a change between the two calls is not missed.
		f.cancel = f.store.OnChange(f.apply)
		f.apply(f.store.Snapshot())
		go f.writeBackLoop(f.stop)
	}
	return f, nil
}

// Close stops following the store's changes and writing back to it.
func (f *Functions) Close() {
	f.closeOnce.Do(func() {
		f.cancel()
		close(f.stop)
	})
}

// apply publishes the libraries of a store snapshot newer than the set.
func (f *Functions) apply(snap *registry.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if snap.Version() <= f.version && f.version != 0 || f.unsaved {
		return // not newer, or this instance is ahead (see keepUnsavedLocked)
	}
	f.set.Store(f.setFrom(snap, f.set.Load()))
	f.version = snap.Version()
}

// setFrom compiles the libraries of snap, reusing those of prev whose code
// is unchanged. A library that does not compile here (it did where it was
// loaded) is logged and left out.
func (f *Functions) setFrom(snap *registry.Snapshot, prev *librarySet) *librarySet {
	var libs []*luavm.Library
	for _, l := range snap.Libraries() {
		if old, ok := prev.libs[l.Name]; ok && string(old.Code) == l.Code {
			libs = append(libs, old)
			continue
		}
		lib, errReply := f.vm.LoadLibrary([]byte(l.Code))
		if errReply != nil {
			f.log.Error("function library from the registry does not load", zap.String("library", l.Name),
				zap.String("error", strings.TrimSpace(string(errReply))))
			continue
		}
		libs = append(libs, lib)
	}
	return newLibrarySet(libs)
}

// refresh catches up with the shared store before an answer that must
// not be stale (a function not found, LIST, DUMP, STATS).
func (f *Functions) refresh(ctx context.Context) *librarySet {
	if f.store == nil {
		return f.set.Load()
	}
	if err := f.store.Refresh(ctx); err != nil {
		f.log.Warn("function registry refresh failed; answering from the local copy", zap.Error(err))
		return f.set.Load()
	}
	f.apply(f.store.Snapshot())
	return f.set.Load()
}

// Commands lists the commands Functions answers, for a Server that uses it
// as its only Handler.
func (f *Functions) Commands() []string { return []string{"FUNCTION", "FCALL", "FCALL_RO"} }

// Serve answers one FUNCTION, FCALL or FCALL_RO command.
func (f *Functions) Serve(ctx context.Context, sess *Session, argv [][]byte) []byte {
	var reply []byte
	var checked bool // the command passed Redis's arity and name checks
	switch {
	case equalFold(argv[0], "FCALL"):
		reply, checked = f.fcall(ctx, sess, argv, false)
	case equalFold(argv[0], "FCALL_RO"):
		reply, checked = f.fcall(ctx, sess, argv, true)
	case equalFold(argv[0], "FUNCTION"):
		reply, checked = f.function(ctx, sess, argv)
	default:
		reply = funcError("unknown command '" + truncate128(string(argv[0])) + "'")
	}
	if !checked && sess.InMulti() {
		// Redis refuses the command and fails the transaction at EXEC:
		// a command with the wrong arity makes the upstream do the same.
		if _, err := sess.Upstream().Do([][]byte{[]byte("GET")}); err != nil {
			f.log.Debug("flagging the transaction failed", zap.Error(err))
		}
	}
	return reply
}

// errFunctionInMulti answers FUNCTION and FCALL inside MULTI when
// Functions serves without Scripting in front, which queues them.
const errFunctionInMulti = "luaproxy does not support FUNCTION and FCALL inside MULTI without its Scripting handler"

// queueTimeError is the error Redis gives when queueing FCALL, FCALL_RO
// or FUNCTION with the wrong arity or an unknown subcommand, or nil.
func (f *Functions) queueTimeError(argv [][]byte) []byte {
	switch {
	case equalFold(argv[0], "FCALL"), equalFold(argv[0], "FCALL_RO"):
		if len(argv) < 3 {
			return funcError("wrong number of arguments for '" + strings.ToLower(string(argv[0])) + "' command")
		}
		return nil
	case equalFold(argv[0], "FUNCTION"):
		if len(argv) < 2 {
			return funcError("wrong number of arguments for 'function' command")
		}
		sub := strings.ToLower(string(argv[1]))
		arity, ok := functionArity[sub]
		if !ok {
			return funcError("unknown subcommand '" + truncate128(string(argv[1])) + "'. Try FUNCTION HELP.")
		}
		if arity > 0 && len(argv) != arity || arity < 0 && len(argv) < -arity {
			return funcError("wrong number of arguments for 'function|" + sub + "' command")
		}
	}
	return nil
}

// Libraries returns the loaded libraries sorted by name.
func (f *Functions) Libraries() []*luavm.Library { return f.set.Load().list() }

// librarySet is one immutable state of the loaded libraries.
type librarySet struct {
	libs   map[string]*luavm.Library // by library name
	funcs  map[string]funcRef        // by lower-case function name
	names  []string                  // library names, sorted
	nFuncs int
}

var emptyLibrarySet = newLibrarySet(nil)

func newLibrarySet(libs []*luavm.Library) *librarySet {
	s := &librarySet{libs: make(map[string]*luavm.Library, len(libs)), funcs: make(map[string]funcRef)}
	for _, lib := range libs {
		s.libs[lib.Name] = lib
		s.names = append(s.names, lib.Name)
		for _, fn := range lib.Functions {
			s.funcs[strings.ToLower(fn.Name)] = funcRef{lib: lib, name: fn.Name}
		}
		s.nFuncs += len(lib.Functions)
	}
	sort.Strings(s.names)
	return s
}

// funcRef is a function of a library, under its registered name.
type funcRef struct {
	lib  *luavm.Library
	name string
}

// list returns the set's libraries, sorted by name.
func (s *librarySet) list() []*luavm.Library {
	out := make([]*luavm.Library, 0, len(s.names))
	for _, n := range s.names {
		out = append(out, s.libs[n])
	}
	return out
}

// join adds libs to s as Redis's libraryJoin does: a library that exists
// is an error unless replace, and no function may clash with one of
// another library.
func (s *librarySet) join(libs []*luavm.Library, replace bool) (*librarySet, string) {
	keep := make(map[string]*luavm.Library, len(s.libs))
	for n, lib := range s.libs {
		keep[n] = lib
	}
	for _, lib := range libs {
		if _, ok := keep[lib.Name]; ok {
			if !replace {
				return nil, "Library " + lib.Name + " already exists"
			}
			delete(keep, lib.Name)
		}
	}
	funcs := make(map[string]bool)
	for _, lib := range keep {
		for _, fn := range lib.Functions {
			funcs[strings.ToLower(fn.Name)] = true
		}
	}
	for _, lib := range libs {
		for _, fn := range lib.Functions {
			if funcs[strings.ToLower(fn.Name)] {
				return nil, "Function " + fn.Name + " already exists"
			}
		}
	}
	all := make([]*luavm.Library, 0, len(keep)+len(libs))
	for _, lib := range keep {
		all = append(all, lib)
	}
	return newLibrarySet(append(all, libs...)), ""
}

// update runs change on the current set under the change lock and
// publishes the set it returns; change returns nil and an error reply to
// leave things as they are. With a store, change sees the store's current
// libraries and its result is written there first.
func (f *Functions) update(ctx context.Context, change func(cur *librarySet) (*librarySet, []byte)) []byte {
	return f.updateDeferrable(ctx, false, change)
}

// updateDeferrable is update; with deletion set, a change the registry
// refuses is applied here anyway and written back later, as Redis lets
// FUNCTION DELETE and FLUSH through when it refuses writes.
func (f *Functions) updateDeferrable(ctx context.Context, deletion bool, change func(cur *librarySet) (*librarySet, []byte)) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.store == nil {
		next, errReply := change(f.set.Load())
		if errReply != nil {
			return errReply
		}
		f.set.Store(next)
		return nil
	}
	var next *librarySet
	var refused []byte
	snap, err := f.store.Update(ctx, func(cur *registry.Snapshot) (registry.Change, error) {
		base := f.set.Load()
		if cur.Version() != f.version {
			base = f.setFrom(cur, base)
		}
		n, errReply := change(base)
		if errReply != nil {
			refused = errReply
			return registry.Change{}, errChangeRefused
		}
		next = n
		return diffLibraries(base, n), nil
	})
	if refused != nil {
		return refused
	}
	if err != nil && deletion {
		n, errReply := change(f.set.Load())
		if errReply != nil {
			return errReply
		}
		f.keepUnsavedLocked(n, err)
		return nil
	}
	if err != nil {
		return funcError("luaproxy: function registry: " + err.Error())
	}
	f.set.Store(next)
	f.version = snap.Version()
	return nil
}

var errChangeRefused = errors.New("change refused")

// diffLibraries is the registry change that turns base into next.
func diffLibraries(base, next *librarySet) registry.Change {
	var c registry.Change
	if len(next.libs) == 0 {
		c.FlushLibraries = len(base.libs) > 0
		return c
	}
	for name := range base.libs {
		if _, ok := next.libs[name]; !ok {
			c.DeleteLibraries = append(c.DeleteLibraries, name)
		}
	}
	for name, lib := range next.libs {
		if old, ok := base.libs[name]; !ok || !bytes.Equal(old.Code, lib.Code) {
			if c.Libraries == nil {
				c.Libraries = make(map[string]string)
			}
			c.Libraries[name] = string(lib.Code)
		}
	}
	sort.Strings(c.DeleteLibraries)
	return c
}

// function answers FUNCTION <subcommand>.
func (f *Functions) function(ctx context.Context, sess *Session, argv [][]byte) ([]byte, bool) {
	if len(argv) < 2 {
		return funcError("wrong number of arguments for 'function' command"), false
	}
	sub := strings.ToLower(string(argv[1]))
	arity, ok := functionArity[sub]
	if !ok {
		return funcError("unknown subcommand '" + truncate128(string(argv[1])) + "'. Try FUNCTION HELP."), false
	}
	if arity > 0 && len(argv) != arity || arity < 0 && len(argv) < -arity {
		return funcError("wrong number of arguments for 'function|" + sub + "' command"), false
	}
	if sess.InMulti() {
		return funcError(errFunctionInMulti), false
	}
	return f.subcommand(ctx, sess, sub, argv), true
}

func (f *Functions) subcommand(ctx context.Context, sess *Session, sub string, argv [][]byte) []byte {
	if reply := f.refuse(sess, sub == "load" || sub == "restore"); reply != nil {
		return reply
	}
	r := funcReply{proto: sess.Proto()}
	switch sub {
	case "load":
		return f.load(ctx, argv)
	case "delete":
		return f.deleteLibrary(ctx, string(argv[2]))
	case "list":
		return f.list(ctx, &r, argv)
	case "dump":
		return f.dump(ctx)
	case "restore":
		return f.restore(ctx, argv)
	case "flush":
		return f.flush(ctx, argv)
	case "kill":
		return f.vm.KillScripts(false, sess.srv.busyThreshold())
	case "stats":
		return f.stats(ctx, &r)
	case "help":
		return functionHelp(&r)
	}
	panic("unreachable")
}

// oomProbe is a write command that changes nothing (SETRANGE of nothing
// on a key that does not exist). FUNCTION LOAD and RESTORE are denyoom
// commands: Redis refuses them up front while used memory is over
// maxmemory, and the upstream refuses the probe with that same error.
var (
	oomProbe  = [][]byte{[]byte("SETRANGE"), []byte("__luaproxy:oom-probe"), []byte("0"), []byte("")}
	pingProbe = [][]byte{[]byte("PING")}
)

// refuse asks the upstream, on the session's connection, whether Redis
// would refuse the FUNCTION command before running it: NOAUTH for a client
// that has not authenticated (FUNCTION answers from luaproxy's own state,
// so nothing else would stop it), and for a denyoom subcommand the OOM
// error while the upstream is over maxmemory. Any other answer (an ACL
// refusal of the probe itself, a read-only replica) lets the command run.
func (f *Functions) refuse(sess *Session, denyOOM bool) []byte {
	probe := pingProbe
	if denyOOM {
		probe = oomProbe
	} else if sess.auth.Load() == authYes {
		return nil
	}
	reply, err := sess.Upstream().Do(probe)
	switch {
	case err != nil:
		return funcError("upstream unavailable: " + err.Error())
	case bytes.HasPrefix(reply, []byte("-NOAUTH ")):
		return errNoAuth
	case denyOOM && bytes.HasPrefix(reply, []byte("-OOM ")):
		return reply
	}
	if !denyOOM && len(reply) > 0 && reply[0] != '-' {
		// As the session's own PING probe concludes: the connection is
		// authenticated, and the next FUNCTION command need not ask.
		sess.auth.Store(authYes)
	}
	return nil
}

// functionArity is Redis 7.0's arity of each FUNCTION subcommand.
var functionArity = map[string]int{
	"load": -3, "delete": 3, "list": -2, "dump": 2, "restore": -3,
	"flush": -2, "kill": 2, "stats": 2, "help": 2,
}

func truncate128(s string) string {
	if len(s) > 128 {
		return s[:128]
	}
	return s
}

// load is FUNCTION LOAD [REPLACE] code.
func (f *Functions) load(ctx context.Context, argv [][]byte) []byte {
	replace := false
	i := 2
	for ; i < len(argv)-1; i++ {
		if !bytes.EqualFold(argv[i], []byte("replace")) {
			return funcError("Unknown option given: " + string(argv[i]))
		}
		replace = true
	}
	code := argv[i]
	// Redis refuses an existing library before compiling the new code.
	if name, ok := libraryName(code); ok && !replace {
		if _, exists := f.set.Load().libs[name]; exists {
			return funcError("Library '" + name + "' already exists")
		}
	}
	lib, errReply := f.vm.LoadLibrary(bytes.Clone(code))
	if errReply != nil {
		return errReply
	}
	if errReply := f.update(ctx, func(cur *librarySet) (*librarySet, []byte) {
		if _, exists := cur.libs[lib.Name]; exists && !replace {
			return nil, funcError("Library '" + lib.Name + "' already exists")
		}
		next, msg := cur.join([]*luavm.Library{lib}, true)
		if msg != "" {
			return nil, funcError(msg)
		}
		return next, nil
	}); errReply != nil {
		return errReply
	}
	r := funcReply{}
	r.bulk(lib.Name)
	return r.b
}

// libraryName reads the library name of a payload whose metadata line is
// plain ("#!lua name=x" with blanks between words and no quotes), so that
// an existing library can be refused before its code is compiled, as
// Redis does. Anything else is left to luavm.LoadLibrary.
func libraryName(code []byte) (string, bool) {
	end := bytes.IndexByte(code, '\n')
	if !bytes.HasPrefix(code, []byte("#!")) || end < 0 {
		return "", false
	}
	line := string(code[2:end])
	if strings.ContainsAny(line, "\"'\\") {
		return "", false
	}
	parts := strings.Fields(line)
	if len(parts) != 2 || !strings.EqualFold(parts[0], "lua") || len(parts[1]) < 5 || !strings.EqualFold(parts[1][:5], "name=") {
		return "", false
	}
	name := parts[1][5:]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return "", false
		}
	}
	return name, name != ""
}

// deleteLibrary is FUNCTION DELETE name.
func (f *Functions) deleteLibrary(ctx context.Context, name string) []byte {
	if errReply := f.updateDeferrable(ctx, true, func(cur *librarySet) (*librarySet, []byte) {
		if _, ok := cur.libs[name]; !ok {
			return nil, funcError("Library not found")
		}
		var rest []*luavm.Library
		for _, lib := range cur.list() {
			if lib.Name != name {
				rest = append(rest, lib)
			}
		}
		return newLibrarySet(rest), nil
	}); errReply != nil {
		return errReply
	}
	return funcOK
}

// list is FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]. Libraries come
// sorted by name (Redis's order follows its hash table).
func (f *Functions) list(ctx context.Context, r *funcReply, argv [][]byte) []byte {
	withCode := false
	var pattern *string
	for i := 2; i < len(argv); i++ {
		switch {
		case !withCode && bytes.EqualFold(argv[i], []byte("withcode")):
			withCode = true
		case pattern == nil && bytes.EqualFold(argv[i], []byte("libraryname")):
			if i >= len(argv)-1 {
				return funcError("library name argument was not given")
			}
			i++
			p := string(argv[i])
			pattern = &p
		default:
			return funcError("Unknown argument " + string(argv[i]))
		}
	}
	libs := f.refresh(ctx).list()
	if pattern != nil {
		kept := libs[:0:0]
		for _, lib := range libs {
			if globMatch(*pattern, lib.Name, true) {
				kept = append(kept, lib)
			}
		}
		libs = kept
	}
	r.array(len(libs))
	for _, lib := range libs {
		if withCode {
			r.mapLen(4)
		} else {
			r.mapLen(3)
		}
		r.bulk("library_name")
		r.bulk(lib.Name)
		r.bulk("engine")
		r.bulk("LUA")
		r.bulk("functions")
		r.array(len(lib.Functions))
		for _, fn := range lib.Functions {
			r.mapLen(3)
			r.bulk("name")
			r.bulk(fn.Name)
			r.bulk("description")
			if fn.HasDesc {
				r.bulk(fn.Description)
			} else {
				r.null()
			}
			r.bulk("flags")
			writeFlags(r, fn.Flags)
		}
		if withCode {
			r.bulk("library_code")
			r.bulk(string(lib.Code))
		}
	}
	return r.b
}

// scriptFlagOrder is the order of scripts_flags_def, in which Redis lists
// a function's flags.
var scriptFlagOrder = []string{"no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys"}

func writeFlags(r *funcReply, flags []string) {
	n := 0
	for _, fl := range scriptFlagOrder {
		if hasFlag(flags, fl) {
			n++
		}
	}
	r.setLen(n)
	for _, fl := range scriptFlagOrder {
		if hasFlag(flags, fl) {
			r.status(fl)
		}
	}
}

func hasFlag(flags []string, name string) bool {
	for _, f := range flags {
		if f == name {
			return true
		}
	}
	return false
}

// dump is FUNCTION DUMP.
func (f *Functions) dump(ctx context.Context) []byte {
	var codes []string
	for _, lib := range f.refresh(ctx).list() {
		codes = append(codes, string(lib.Code))
	}
	payload := registry.EncodeDump(codes)
	r := funcReply{}
	r.bulk(string(payload))
	return r.b
}

// restore is FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE].
func (f *Functions) restore(ctx context.Context, argv [][]byte) []byte {
	if len(argv) > 4 {
		return funcError("unknown subcommand or wrong number of arguments for '" + truncate128(string(argv[1])) + "'. Try FUNCTION HELP.")
	}
	policy := "append"
	if len(argv) == 4 {
		policy = strings.ToLower(string(argv[3]))
		if policy != "append" && policy != "replace" && policy != "flush" {
			return funcError("Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
		}
	}
	// Redis compiles each library as it reads it: a library that does not
	// compile hides a malformed record after it.
	codes, decodeErr := registry.DecodeDump(argv[2])
	libs, errReply := f.compileAll(codes)
	if errReply != nil {
		return errReply
	}
	if decodeErr != nil {
		return funcError(decodeErr.Error())
	}
	if errReply := f.update(ctx, func(cur *librarySet) (*librarySet, []byte) {
		if policy == "flush" {
			return newLibrarySet(libs), nil
		}
		next, msg := cur.join(libs, policy == "replace")
		if msg != "" {
			return nil, funcError(msg)
		}
		return next, nil
	}); errReply != nil {
		return errReply
	}
	return funcOK
}

// compileAll loads every library of a dump into a set of its own, as
// rdbFunctionLoad does: a name twice, or a function in two libraries, is
// an error.
func (f *Functions) compileAll(codes []string) ([]*luavm.Library, []byte) {
	libs := make([]*luavm.Library, 0, len(codes))
	names := map[string]bool{}
	funcs := map[string]bool{}
	for _, code := range codes {
		if name, ok := libraryName([]byte(code)); ok && names[name] {
			return nil, funcError("Library '" + name + "' already exists")
		}
		lib, errReply := f.vm.LoadLibrary([]byte(code))
		if errReply != nil {
			return nil, errReply
		}
		if names[lib.Name] {
			return nil, funcError("Library '" + lib.Name + "' already exists")
		}
		for _, fn := range lib.Functions {
			if funcs[strings.ToLower(fn.Name)] {
				return nil, funcError("Function " + fn.Name + " already exists")
			}
		}
		names[lib.Name] = true
		for _, fn := range lib.Functions {
			funcs[strings.ToLower(fn.Name)] = true
		}
		libs = append(libs, lib)
	}
	return libs, nil
}

// flush is FUNCTION FLUSH [ASYNC|SYNC].
func (f *Functions) flush(ctx context.Context, argv [][]byte) []byte {
	if len(argv) > 3 {
		return funcError("unknown subcommand or wrong number of arguments for '" + truncate128(string(argv[1])) + "'. Try FUNCTION HELP.")
	}
	if len(argv) == 3 && !bytes.EqualFold(argv[2], []byte("sync")) && !bytes.EqualFold(argv[2], []byte("async")) {
		return funcError("FUNCTION FLUSH only supports SYNC|ASYNC option")
	}
	if reply := f.updateDeferrable(ctx, true, func(*librarySet) (*librarySet, []byte) { return emptyLibrarySet, nil }); reply != nil {
		return reply
	}
	return funcOK
}

// runningCall is an FCALL in progress, for FUNCTION STATS. argv aliases
// the session's read buffer, which stays put until the FCALL returns:
// finish, under mu, marks the end before that, and STATS reads argv under
// mu only while the call has not finished. That spares FCALL a copy of its
// arguments.
type runningCall struct {
	name  string
	start time.Time

	mu       sync.Mutex
	argv     [][]byte
	finished bool
}

func (rc *runningCall) finish() {
	rc.mu.Lock()
	rc.finished, rc.argv = true, nil
	rc.mu.Unlock()
}

// writeTo writes the call's running_script map, or reports false if the
// call has finished meanwhile.
func (rc *runningCall) writeTo(r *funcReply) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.finished {
		return false
	}
	r.mapLen(3)
	r.bulk("name")
	r.bulk(rc.name)
	r.bulk("command")
	r.array(len(rc.argv))
	for _, a := range rc.argv {
		r.bulk(string(a))
	}
	r.bulk("duration_ms")
	r.integer(time.Since(rc.start).Milliseconds())
	return true
}

// stats is FUNCTION STATS. Redis runs one script at a time; with several
// FCALLs running at once, the one that started first is reported.
func (f *Functions) stats(ctx context.Context, r *funcReply) []byte {
	var calls []*runningCall
	f.running.Range(func(_, v any) bool {
		calls = append(calls, v.(*runningCall))
		return true
	})
	sort.Slice(calls, func(i, j int) bool { return calls[i].start.Before(calls[j].start) })
	s := f.refresh(ctx)
	r.mapLen(2)
	r.bulk("running_script")
	running := false
	for _, rc := range calls {
		if running = rc.writeTo(r); running {
			break
		}
	}
	if !running {
		r.null()
	}
	r.bulk("engines")
	r.mapLen(1)
	r.bulk("LUA")
	r.mapLen(2)
	r.bulk("libraries_count")
	r.integer(int64(len(s.libs)))
	r.bulk("functions_count")
	r.integer(int64(s.nFuncs))
	return r.b
}

// functionHelpLines is FUNCTION HELP's text in Redis 7.0.15.
var functionHelpLines = []string{
	"LOAD [REPLACE] <FUNCTION CODE>",
	"    Create a new library with the given library name and code.",
	"DELETE <LIBRARY NAME>",
	"    Delete the given library.",
	"LIST [LIBRARYNAME PATTERN] [WITHCODE]",
	"    Return general information on all the libraries:",
	"    * Library name",
	"    * The engine used to run the Library",
	"    * Library description",
	"    * Functions list",
	"    * Library code (if WITHCODE is given)",
	"    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
	"STATS",
	"    Return information about the current function running:",
	"    * Function name",
	"    * Command used to run the function",
	"    * Duration in MS that the function is running",
	"    If no function is running, return nil",
	"    In addition, returns a list of available engines.",
	"KILL",
	"    Kill the current running function.",
	"FLUSH [ASYNC|SYNC]",
	"    Delete all the libraries.",
	"    When called without the optional mode argument, the behavior is determined by the",
	"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
	"    * ASYNC: Asynchronously flush the libraries.",
	"    * SYNC: Synchronously flush the libraries.",
	"DUMP",
	"    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
	"RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
	"    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
	"    control how to handle existing libraries (default APPEND):",
	"    * FLUSH: delete all existing libraries.",
	"    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
	"    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
	"      libraries with the new libraries (notice that even on this option there is a chance of failure",
	"      in case of functions name collision with another library).",
}

func functionHelp(r *funcReply) []byte {
	r.array(len(functionHelpLines) + 3)
	r.status("FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
	for _, l := range functionHelpLines {
		r.status(l)
	}
	r.status("HELP")
	r.status("    Prints this help.")
	return r.b
}

// fcall is FCALL and FCALL_RO.
func (f *Functions) fcall(ctx context.Context, sess *Session, argv [][]byte, ro bool) ([]byte, bool) {
	if len(argv) < 3 {
		if ro {
			return funcError("wrong number of arguments for 'fcall_ro' command"), false
		}
		return funcError("wrong number of arguments for 'fcall' command"), false
	}
	if sess.InMulti() {
		return funcError(errFunctionInMulti), false
	}
	return f.call(ctx, sess, argv, ro), true
}

func (f *Functions) call(ctx context.Context, sess *Session, argv [][]byte, ro bool) []byte {
	// Function names are case-insensitive, as in Redis's functions dict.
	key := strings.ToLower(string(argv[1]))
	ref, ok := f.set.Load().funcs[key]
	if !ok && f.store != nil {
		// Another instance may have just loaded it.
		ref, ok = f.refresh(ctx).funcs[key]
	}
	lib, name := ref.lib, ref.name
	if !ok {
		f.metrics.notFound.Inc()
		return funcError("Function not found")
	}
	numkeys, ok := string2ll(argv[2])
	if !ok {
		return funcError("Bad number of keys provided")
	}
	if numkeys > int64(len(argv)-3) {
		return funcError("Number of keys can't be greater than number of args")
	}
	if numkeys < 0 {
		return funcError("Number of keys can't be negative")
	}
	rc := &runningCall{name: name, argv: argv, start: time.Now()}
	f.running.Store(sess.ID(), rc)
	defer func() {
		f.running.Delete(sess.ID())
		rc.finish()
	}()

	var caller sessionCaller
	caller.reset(sess.Upstream(), sess.Proto(), sess.DB())
	keys := argv[3 : 3+numkeys]
	run := lockedRun{srv: sess.srv, sess: sess, name: name, function: true, keys: keys}
	reply := run.run(ctx, &caller, func(ctx context.Context, c luavm.Caller) []byte {
		return f.vm.FCall(ctx, lib, name, luavm.Request{Keys: keys, Args: argv[3+numkeys:], Proto: sess.Proto(), ReadOnly: ro, Caller: c,
			AllowNoScript: sess.srv.allowNoScript.Load()})
	})
	if err := caller.restore(); err != nil {
		// As Scripting does: the client must not go on with a connection
		// in the function's database or protocol.
		f.log.Error("cannot restore the upstream connection after a function", zap.Error(err))
		panic("luaproxy: upstream connection left in the function's state: " + err.Error())
	}
	if caller.noAuth {
		// As Scripting does for EVAL: Redis refuses FCALL from a client
		// that has not authenticated; luaproxy learns it from the
		// function's first redis.call, which the upstream refused.
		reply = errNoAuth
	}
	f.metrics.observe(name, reply, time.Since(rc.start), caller.calls, run.waited)
	return reply
}
