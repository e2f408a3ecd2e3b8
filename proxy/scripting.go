package proxy

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/luaproxy/luaproxy/luavm"
)

// ScriptStore keeps SCRIPT LOAD-ed scripts beyond one luaproxy process,
// so that every luaproxy in front of the same Redis (and a restarted one)
// finds them. *registry.Store implements it. SHAs are lower-case hex.
type ScriptStore interface {
	// PutScript records body under its SHA1.
	PutScript(ctx context.Context, sha string, body []byte) error
	// Script returns the body stored under sha, catching up with the
	// shared store (a round trip) when the local copy misses it.
	Script(ctx context.Context, sha string) (body []byte, found bool, err error)
	// HasScript reports whether the local copy holds sha, without I/O.
	HasScript(sha string) bool
	// FlushScripts forgets every stored script (SCRIPT FLUSH).
	FlushScripts(ctx context.Context) error
}

// ScriptingOptions configures a Scripting handler. The zero value is usable.
type ScriptingOptions struct {
	// CacheSize bounds the scripts added by EVAL that are kept for EVALSHA
	// (least recently used first out); 0 means DefaultScriptCacheSize.
	// Scripts added by SCRIPT LOAD are kept until SCRIPT FLUSH.
	CacheSize int
	// Functions, if not nil, answers FUNCTION, FCALL and FCALL_RO (and any
	// other command its Commands method lists). If nil those commands are
	// forwarded to the upstream like any other.
	Functions Handler
	// Store, if not nil, persists SCRIPT LOAD-ed scripts and is asked on
	// an EVALSHA that misses the local cache before NOSCRIPT is answered.
	Store ScriptStore
	// MetricSHAs is how many distinct scripts get a name label of their
	// own in the per-run metrics; the rest count as "other". 0 means 100.
	MetricSHAs int
}

// Scripting is the Handler for EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and
// SCRIPT: it runs scripts in a luavm.VM, whose redis.call goes to the
// calling session's upstream connection (see sessionCaller). It is safe for
// use by every session at once.
type Scripting struct {
	vm        *luavm.VM
	functions Handler
	store     ScriptStore
	log       *zap.Logger
	cache     *scriptCache
	m         *scriptMetrics
	commands  []string
	callers   sync.Pool // *sessionCaller
}

// NewScripting returns a Scripting handler running scripts in vm. Its
// metrics are registered on reg if not nil (pass Server.Registry()); a nil
// log discards everything.
func NewScripting(vm *luavm.VM, opts ScriptingOptions, log *zap.Logger, reg prometheus.Registerer) *Scripting {
	if log == nil {
		log = zap.NewNop()
	}
	h := &Scripting{vm: vm, functions: opts.Functions, store: opts.Store, log: log}
	h.m = newScriptMetrics(reg, opts.MetricSHAs)
	h.cache = newScriptCache(opts.CacheSize, h.m)
	h.commands = []string{"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "SCRIPT"}
	if h.functions != nil {
		if l, ok := h.functions.(CommandLister); ok {
			h.commands = append(h.commands, l.Commands()...)
		} else {
			h.commands = append(h.commands, "FUNCTION", "FCALL", "FCALL_RO")
		}
	}
	h.callers.New = func() any { return new(sessionCaller) }
	return h
}

// Commands implements CommandLister.
func (h *Scripting) Commands() []string { return append([]string(nil), h.commands...) }

// Serve implements Handler.
func (h *Scripting) Serve(ctx context.Context, sess *Session, argv [][]byte) []byte {
	if sess.held != nil {
		return h.serveHeld(ctx, sess, argv)
	}
	switch name := argv[0]; {
	case equalFold(name, "EVALSHA"):
		return h.eval(ctx, sess, argv, "evalsha", true, false)
	case equalFold(name, "EVAL"):
		return h.eval(ctx, sess, argv, "eval", false, false)
	case equalFold(name, "EVALSHA_RO"):
		return h.eval(ctx, sess, argv, "evalsha_ro", true, true)
	case equalFold(name, "EVAL_RO"):
		return h.eval(ctx, sess, argv, "eval_ro", false, true)
	case equalFold(name, "SCRIPT"):
		return h.script(ctx, sess, argv)
	}
	if h.functions != nil {
		if q, ok := h.functions.(functionQueuer); ok && sess.InMulti() {
			if reply := q.queueTimeError(argv); reply != nil {
				return h.reject(sess, reply)
			}
			return h.queueScript(sess, argv)
		}
		return h.functions.Serve(ctx, sess, argv)
	}
	return []byte("-ERR unknown command '" + sanitize(argv[0]) + "'\r\n")
}

// Redis's fixed replies.
var (
	errNotInteger   = []byte("-ERR value is not an integer or out of range\r\n")
	errKeysTooMany  = []byte("-ERR Number of keys can't be greater than number of args\r\n")
	errKeysNegative = []byte("-ERR Number of keys can't be negative\r\n")
	errNoAuth       = []byte("-NOAUTH Authentication required.\r\n")
	errNoScript     = []byte("-NOSCRIPT No matching script. Please use EVAL.\r\n")
	errFlushOption  = []byte("-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n")
	errDebugOption  = []byte("-ERR Use SCRIPT DEBUG YES/SYNC/NO\r\n")
	errNoDebugger   = []byte("-ERR luaproxy does not support the Lua debugger (SCRIPT DEBUG YES|SYNC)\r\n")
)

func arityError(fullname string) []byte {
	return []byte("-ERR wrong number of arguments for '" + fullname + "' command\r\n")
}

// reject answers a command Redis refuses before running it (wrong arity,
// unknown subcommand). Inside MULTI Redis also marks the transaction so
// that EXEC fails with EXECABORT; the upstream is made to do the same by
// sending it a command with the wrong arity, whose own error is dropped.
func (h *Scripting) reject(sess *Session, reply []byte) []byte {
	if sess.InMulti() {
		if _, err := sess.Upstream().Do([][]byte{[]byte("GET")}); err != nil {
			h.log.Debug("flagging the transaction failed", zap.Error(err))
		}
	}
	return reply
}

// eval serves EVAL, EVALSHA and their _RO forms; name is the lower-case
// command name for error texts.
func (h *Scripting) eval(ctx context.Context, sess *Session, argv [][]byte, name string, bySHA, readOnly bool) []byte {
	if len(argv) < 3 {
		return h.reject(sess, arityError(name))
	}
	if sess.InMulti() {
		return h.queueScript(sess, argv)
	}
	if reply := h.refuseOOM(sess, argv[1], bySHA); reply != nil {
		return reply
	}
	// Redis checks the SHA's length first, then numkeys, then the cache.
	if bySHA && len(argv[1]) != 40 {
		h.m.noScript()
		return errNoScript
	}
	n, ok := string2ll(argv[2])
	switch {
	case !ok:
		return errNotInteger
	case n > int64(len(argv)-3):
		return errKeysTooMany
	case n < 0:
		return errKeysNegative
	}
	var e *cachedScript
	cached := true
	if bySHA {
		if e = h.lookupSHA(ctx, argv[1]); e == nil {
			h.m.noScript()
			return errNoScript
		}
	} else {
		e, cached = h.cache.forBody(argv[1])
	}

	c := h.callers.Get().(*sessionCaller)
	c.reset(sess.Upstream(), sess.Proto(), sess.DB())
	keys := argv[3 : 3+n]
	run := lockedRun{srv: sess.srv, sess: sess, name: e.script.SHA(), keys: keys}
	start := time.Now()
	reply := run.run(ctx, c, func(ctx context.Context, caller luavm.Caller) []byte {
		req := luavm.Request{Keys: keys, Args: argv[3+n:], Proto: sess.Proto(), ReadOnly: readOnly, Caller: caller,
			AllowNoScript: sess.srv.allowNoScript.Load()}
		return h.vm.AppendRun(nil, ctx, e.script, req)
	})
	elapsed := time.Since(start)
	if err := c.restore(); err != nil {
		// The connection is lost (the session ends) or refused to go
		// back to the client's database or protocol: either way the
		// client must not go on with a connection in another state.
		h.log.Error("cannot restore the upstream connection after a script", zap.Error(err))
		panic("luaproxy: upstream connection left in the script's state: " + err.Error())
	}
	calls, noAuth := c.calls, c.noAuth
	c.up = nil
	h.callers.Put(c)

	if noAuth {
		// Redis refuses EVAL itself from a client that has not
		// authenticated. The proxy only learns it from the first
		// redis.call (nothing was written, the upstream refused every
		// call); a script that calls nothing still runs.
		reply = errNoAuth
	}
	if !cached && !noAuth && !isCompileError(reply) {
		// Redis caches a script EVAL created once it compiled, whatever
		// the run's outcome.
		e = h.cache.add(e, false)
	}
	h.m.observe(e, reply, elapsed, calls, run.waited)
	return reply
}

// scriptOOMProbe is a write command that changes nothing (SETRANGE of
// nothing on a key that does not exist): the upstream refuses it as it
// would refuse any write now, with Redis's OOM, NOREPLICAS, MISCONF or
// READONLY error.
var scriptOOMProbe = [][]byte{[]byte("SETRANGE"), []byte("__luaproxy:oom-probe"), []byte("0"), []byte("")}

// refuseOOM returns the error Redis gives before running a script that
// declares flags (a shebang) when a write could not succeed now: OOM
// unless the script has allow-oom or no-writes; NOREPLICAS, MISCONF or
// READONLY unless it has no-writes. Scripts without a shebang are not
// checked (their writes fail one by one instead). Finding out costs a
// round trip, so only such scripts pay it.
func (h *Scripting) refuseOOM(sess *Session, arg []byte, bySHA bool) []byte {
	body := arg
	if bySHA {
		sum, ok := decodeSHA(arg)
		if !ok {
			return nil
		}
		e := h.cache.lookup(sum)
		if e == nil {
			return nil
		}
		body = e.script.Body
	}
	mayWrite, allowOOM := shebangWrites(body)
	if !mayWrite {
		return nil
	}
	reply, err := sess.Upstream().Do(scriptOOMProbe)
	if err != nil {
		return nil
	}
	for _, p := range []string{"-NOREPLICAS ", "-MISCONF ", "-READONLY "} {
		if bytes.HasPrefix(reply, []byte(p)) {
			return reply
		}
	}
	if !allowOOM && bytes.HasPrefix(reply, []byte("-OOM ")) {
		return reply
	}
	return nil
}

// shebangWrites reports, for a body that starts with a well-formed Lua
// shebang, whether its flags allow writes (no no-writes) and whether they
// include allow-oom. A malformed shebang, or none, reports no writes: the
// former is luavm's to report, as Redis reports it when it runs.
func shebangWrites(body []byte) (mayWrite, allowOOM bool) {
	if !bytes.HasPrefix(body, []byte("#!")) {
		return false, false
	}
	line := body
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	parts := bytes.Fields(line)
	if len(parts) == 0 || string(parts[0]) != "#!lua" {
		return false, false
	}
	for _, p := range parts[1:] {
		flags, ok := bytes.CutPrefix(p, []byte("flags="))
		if !ok {
			return false, false
		}
		for _, f := range bytes.Split(flags, []byte(",")) {
			switch string(f) {
			case "no-writes":
				return false, false
			case "allow-oom":
				allowOOM = true
			case "", "allow-stale", "no-cluster", "allow-cross-slot-keys":
			default:
				return false, false
			}
		}
	}
	return true, allowOOM
}

// lookupSHA finds a script by its hex SHA1: in the cache, else in the
// store, which then also fills the cache.
func (h *Scripting) lookupSHA(ctx context.Context, hex []byte) *cachedScript {
	sum, ok := decodeSHA(hex)
	if !ok {
		return nil
	}
	if e := h.cache.lookup(sum); e != nil {
		return e
	}
	if h.store == nil {
		return nil
	}
	sha := string(bytes.ToLower(hex))
	body, found, err := h.store.Script(ctx, sha)
	if err != nil {
		h.log.Warn("script store lookup failed", zap.String("sha", sha), zap.Error(err))
		return nil
	}
	if !found {
		return nil
	}
	s := luavm.NewScript(body)
	if s.SHA() != sha {
		h.log.Warn("script store returned a body with another SHA1", zap.String("sha", sha))
		return nil
	}
	return h.cache.add(&cachedScript{script: s}, true)
}

// storeHas reports whether the store's local copy has the script (loaded
// through another luaproxy), for SCRIPT EXISTS.
func (h *Scripting) storeHas(hex []byte) bool {
	if h.store == nil || len(hex) != 40 {
		return false
	}
	return h.store.HasScript(string(bytes.ToLower(hex)))
}

// compileErrors are the error replies of a script that never ran because
// it did not compile or had a bad shebang; Redis does not cache those.
var compileErrors = [][]byte{
	[]byte("-ERR Error compiling script"),
	[]byte("-ERR Invalid script shebang"),
	[]byte("-ERR Invalid engine in script shebang"),
	[]byte("-ERR Unexpected engine in script shebang"),
	[]byte("-ERR Unknown lua shebang option"),
	[]byte("-ERR Unexpected flag in script shebang"),
}

func isCompileError(reply []byte) bool {
	if len(reply) == 0 || reply[0] != '-' {
		return false
	}
	for _, p := range compileErrors {
		if bytes.HasPrefix(reply, p) {
			return true
		}
	}
	return false
}

// SCRIPT subcommands and their arity, from Redis 7.0's command table.
var scriptArity = map[string]int{
	"HELP": 2, "FLUSH": -2, "EXISTS": -3, "LOAD": 3, "KILL": 2, "DEBUG": 3,
}

func (h *Scripting) script(ctx context.Context, sess *Session, argv [][]byte) []byte {
	if len(argv) < 2 {
		return h.reject(sess, arityError("script"))
	}
	var buf [8]byte
	sub := ""
	if len(argv[1]) <= len(buf) {
		sub = string(bytes.ToUpper(append(buf[:0], argv[1]...)))
	}
	arity, known := scriptArity[sub]
	if !known {
		return h.reject(sess, unknownSubcommand(argv))
	}
	if argc := len(argv); arity > 0 && argc != arity || argc < -arity {
		return h.reject(sess, arityError("script|"+string(bytes.ToLower(argv[1]))))
	}
	if sess.InMulti() {
		return h.queueScript(sess, argv)
	}
	switch sub {
	case "HELP":
		return scriptHelp(argv[0])
	case "FLUSH":
		if len(argv) > 3 || len(argv) == 3 && !equalFold(argv[2], "SYNC") && !equalFold(argv[2], "ASYNC") {
			return errFlushOption
		}
		h.cache.flush()
		if h.store != nil {
			if err := h.store.FlushScripts(ctx); err != nil {
				h.log.Warn("script store flush failed", zap.Error(err))
			}
		}
		return []byte("+OK\r\n")
	case "EXISTS":
		out := appendArrayLen(nil, '*', len(argv)-2)
		for _, sha := range argv[2:] {
			if h.cache.exists(sha) || h.storeHas(sha) {
				out = append(out, ":1\r\n"...)
			} else {
				out = append(out, ":0\r\n"...)
			}
		}
		return out
	case "LOAD":
		return h.load(ctx, argv[2])
	case "KILL":
		return h.vm.KillScripts(true, sess.srv.busyThreshold())
	default: // DEBUG
		switch {
		case equalFold(argv[2], "NO"):
			return []byte("+OK\r\n")
		case equalFold(argv[2], "YES"), equalFold(argv[2], "SYNC"):
			return errNoDebugger
		}
		return errDebugOption
	}
}

// load is SCRIPT LOAD.
func (h *Scripting) load(ctx context.Context, body []byte) []byte {
	e, _ := h.cache.forBody(body)
	if errReply := h.vm.Compile(e.script); errReply != nil {
		return errReply
	}
	e = h.cache.add(e, true)
	sha := e.script.SHA()
	if h.store != nil {
		if err := h.store.PutScript(ctx, sha, e.script.Body); err != nil {
			h.log.Warn("script store save failed", zap.String("sha", sha), zap.Error(err))
		}
	}
	out := make([]byte, 0, 47)
	out = append(out, "$40\r\n"...)
	out = append(out, sha...)
	return append(out, "\r\n"...)
}

// unknownSubcommand is Redis's error for a subcommand its container does
// not have: the name cut at 128 bytes (and at a NUL, as C prints it), the
// command upper-cased as the client typed it, CR and LF made spaces.
func unknownSubcommand(argv [][]byte) []byte {
	sub := argv[1]
	if i := bytes.IndexByte(sub, 0); i >= 0 {
		sub = sub[:i]
	}
	if len(sub) > 128 {
		sub = sub[:128]
	}
	cmd := argv[0]
	if i := bytes.IndexByte(cmd, 0); i >= 0 {
		cmd = cmd[:i]
	}
	msg := []byte("-ERR unknown subcommand '" + string(sub) + "'. Try " + string(bytes.ToUpper(cmd)) + " HELP.")
	for i, c := range msg {
		if c == '\r' || c == '\n' {
			msg[i] = ' '
		}
	}
	return append(msg, '\r', '\n')
}

// scriptHelpLines is the body of SCRIPT HELP in Redis 7.0.
var scriptHelpLines = []string{
	"DEBUG (YES|SYNC|NO)",
	"    Set the debug mode for subsequent scripts executed.",
	"EXISTS <sha1> [<sha1> ...]",
	"    Return information about the existence of the scripts in the script cache.",
	"FLUSH [ASYNC|SYNC]",
	"    Flush the Lua scripts cache. Very dangerous on replicas.",
	"    When called without the optional mode argument, the behavior is determined by the",
	"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
	"    * ASYNC: Asynchronously flush the scripts cache.",
	"    * SYNC: Synchronously flush the scripts cache.",
	"KILL",
	"    Kill the currently executing Lua script.",
	"LOAD <script>",
	"    Load a script into the scripts cache without executing it.",
}

// scriptHelp is SCRIPT HELP's reply, headed with the command name as the
// client typed it, upper-cased.
func scriptHelp(cmd []byte) []byte {
	out := appendArrayLen(nil, '*', len(scriptHelpLines)+3)
	out = append(out, '+')
	out = append(out, bytes.ToUpper(cmd)...)
	out = append(out, " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"...)
	for _, l := range scriptHelpLines {
		out = append(out, '+')
		out = append(out, l...)
		out = append(out, "\r\n"...)
	}
	return append(out, "+HELP\r\n+    Prints this help.\r\n"...)
}

func appendArrayLen(dst []byte, kind byte, n int) []byte {
	dst = append(dst, kind)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}
