package luavm

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"unsafe"

	"github.com/Shopify/go-lua"
	"go.uber.org/zap"

	"github.com/luaproxy/luaproxy/internal/cmdinfo"
	"github.com/luaproxy/luaproxy/luavm/internal/luaresp"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// installRedis creates the redis table as Redis 7.0's scriptingInit does.
func (st *state) installRedis(l *lua.State) {
	l.NewTable()
	fns := []lua.RegistryFunction{
		{Name: "call", Function: func(l *lua.State) int { return st.redisCall(l, true) }},
		{Name: "pcall", Function: func(l *lua.State) int { return st.redisCall(l, false) }},
		{Name: "log", Function: st.redisLog},
		{Name: "setresp", Function: st.redisSetResp},
		{Name: "sha1hex", Function: st.redisSHA1Hex},
		{Name: "error_reply", Function: redisErrorReply},
		{Name: "status_reply", Function: redisStatusReply},
		{Name: "set_repl", Function: st.redisSetRepl},
		{Name: "acl_check_cmd", Function: st.redisACLCheckCmd},
		{Name: "breakpoint", Function: func(l *lua.State) int { l.PushBoolean(false); return 1 }},
		{Name: "debug", Function: func(l *lua.State) int { return 0 }},
		{Name: "replicate_commands", Function: func(l *lua.State) int { l.PushBoolean(true); return 1 }},
	}
	for _, f := range fns {
		l.PushGoFunction(f.Function)
		l.SetField(-2, f.Name)
	}
	for _, c := range []struct {
		name string
		v    int
	}{
		{"LOG_DEBUG", 0}, {"LOG_VERBOSE", 1}, {"LOG_NOTICE", 2}, {"LOG_WARNING", 3},
		{"REPL_NONE", 0}, {"REPL_AOF", 1}, {"REPL_SLAVE", 2}, {"REPL_REPLICA", 2}, {"REPL_ALL", 3},
		{"REDIS_VERSION_NUM", st.vm.versionNum},
	} {
		l.PushInteger(c.v)
		l.SetField(-2, c.name)
	}
	l.PushString(st.vm.cfg.RedisVersion)
	l.SetField(-2, "REDIS_VERSION")
	l.SetGlobal("redis")
}

// raiseError raises Redis's error table for msg (luaPushError + luaError).
func (st *state) raiseError(l *lua.State, msg string) {
	pushErrorTable(l, msg, false)
	st.raise(l)
}

// argv converts redis.call's arguments as luaArgsToRedisArgv does. The
// slices alias Lua strings and a per-state buffer: valid until the next call.
func (st *state) buildArgv(l *lua.State) (argv [][]byte, errMsg string) {
	n := l.Top()
	if n == 0 {
		return nil, "Please specify at least one argument for this redis lib call"
	}
	argv = st.argv[:0]
	nums := st.numBuf[:0]
	// Numbers are formatted into one buffer; remember offsets first since
	// the buffer may move while it grows.
	type numRef struct{ i, start, end int }
	var refs [8]numRef
	numRefs := refs[:0]
	for i := 1; i <= n; i++ {
		switch l.TypeOf(i) {
		case lua.TypeNumber:
			f, _ := l.ToNumber(i)
			start := len(nums)
			nums = appendNumberArg(nums, f)
			numRefs = append(numRefs, numRef{len(argv), start, len(nums)})
			argv = append(argv, nil)
		case lua.TypeString:
			// ToValue, not ToString: go-lua's ToString writes the value
			// back into the stack slot, an allocation per argument.
			s := l.ToValue(i).(string)
			argv = append(argv, unsafe.Slice(unsafe.StringData(s), len(s)))
		default:
			st.argv = argv[:0]
			return nil, "Lua redis lib command arguments must be strings or integers"
		}
	}
	for _, r := range numRefs {
		argv[r.i] = nums[r.start:r.end:r.end]
	}
	st.argv, st.numBuf = argv[:0], nums[:0]
	return argv, ""
}

// appendNumberArg formats a number argument as Redis does ("%.17g").
func appendNumberArg(dst []byte, f float64) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 && !(f == 0 && math.Signbit(f)) {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	return luautil.AppendG(dst, f, 17)
}

// redisCall is redis.call (raise) and redis.pcall.
func (st *state) redisCall(l *lua.State, raise bool) int {
	if st.req == nil || st.req.Caller == nil {
		st.raiseError(l, "redis.call/pcall can only be called inside a script invocation")
	}
	argv, errMsg := st.buildArgv(l)
	known, blocking := false, false
	if errMsg == "" {
		errMsg, known, blocking = st.checkCommand(argv)
	}
	if errMsg != "" {
		l.SetTop(0)
		pushErrorTable(l, errMsg, true)
		if raise {
			st.raise(l)
		}
		return 1
	}
	var blockErr string
	if blocking {
		argv, blockErr = unblock(argv)
	}
	if blockErr != "" {
		l.SetTop(0)
		pushErrorTable(l, blockErr, true)
		if raise {
			st.raise(l)
		}
		return 1
	}
	if alpha := sortConstantBy(argv); alpha != nil && st.isSet(argv[1]) {
		argv = alpha
	}
	reply, err := st.req.Caller.Call(argv, st.resp)
	l.SetTop(0)
	st.lim.Tick(l)
	if err != nil {
		pushErrorTable(l, "luaproxy: upstream call failed: "+err.Error(), true)
		if raise {
			st.raise(l)
		}
		return 1
	}
	if msg := aclScriptError(reply); msg != "" {
		pushErrorTable(l, msg, true)
		if raise {
			st.raise(l)
		}
		return 1
	}
	if !known && bytes.HasPrefix(reply, []byte("-ERR unknown command '")) {
		pushErrorTable(l, "Unknown Redis command called from script", true)
		if raise {
			st.raise(l)
		}
		return 1
	}
	isErr, perr := luaresp.Push(l, reply)
	if perr != nil {
		l.SetTop(0)
		pushErrorTable(l, "luaproxy: bad reply from upstream: "+perr.Error(), true)
		isErr = true
	}
	if isErr && raise {
		st.raise(l)
	}
	return 1
}

// checkCommand does what scriptCall checks before running a command:
// existence and arity, commands scripts may not run, writes from read-only
// scripts. Commands unknown to the table (Redis 7.0.15's merged with the
// upstream's COMMAND) go to the upstream unchecked.
func (st *state) checkCommand(argv [][]byte) (errMsg string, known, blocking bool) {
	c, knownContainer := st.vm.cfg.Commands.LookupName(argv)
	if c == nil {
		if knownContainer {
			return "Unknown Redis command called from script", true, false
		}
		return "", false, false
	}
	argc := len(argv)
	if (c.Arity > 0 && c.Arity != argc) || argc < -c.Arity {
		return "Wrong number of args calling Redis command from script", true, false
	}
	if c.Flags&cmdinfo.NoScript != 0 && !st.req.AllowNoScript {
		return "This Redis command is not allowed from script", true, false
	}
	if st.req.ReadOnly && c.Flags&(cmdinfo.Write|cmdinfo.MayReplicate) != 0 {
		return "Write commands are not allowed from read-only scripts.", true, false
	}
	if c.Flags&cmdinfo.Write != 0 {
		st.wrote.Store(true) // SCRIPT KILL refuses from now on
	}
	return "", true, c.Flags&cmdinfo.Blocking != 0
}

func lowerInto(dst, s []byte) []byte {
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func (st *state) redisLog(l *lua.State) int {
	argc := l.Top()
	if argc < 2 {
		st.raiseError(l, "redis.log() requires two arguments or more.")
	}
	if !l.IsNumber(1) {
		st.raiseError(l, "First argument must be a number (log level).")
	}
	f, _ := l.ToNumber(1)
	level := int(f)
	if level < 0 || level > 3 {
		st.raiseError(l, "Invalid debug level.")
	}
	if level < st.vm.logLevel {
		return 0
	}
	var b strings.Builder
	first := true
	for i := 2; i <= argc; i++ {
		if l.IsString(i) {
			if !first {
				b.WriteByte(' ')
			}
			first = false
			b.WriteString(luaString(l, i))
		}
	}
	log := st.vm.cfg.Logger
	fields := []zap.Field{zap.String("source", "lua"), zap.String("script", st.sha)}
	switch level {
	case 0, 1:
		log.Debug(b.String(), fields...)
	case 2:
		log.Info(b.String(), fields...)
	default:
		log.Warn(b.String(), fields...)
	}
	return 0
}

func (st *state) redisSetResp(l *lua.State) int {
	if l.Top() != 1 {
		st.raiseError(l, "redis.setresp() requires one argument.")
	}
	f, _ := l.ToNumber(1)
	resp := int(f)
	if resp != 2 && resp != 3 {
		st.raiseError(l, "RESP version must be 2 or 3.")
	}
	st.resp = resp
	return 0
}

func (st *state) redisSetRepl(l *lua.State) int {
	if l.Top() != 1 {
		st.raiseError(l, "redis.set_repl() requires two arguments.")
	}
	f, _ := l.ToNumber(1)
	flags := int(f)
	if flags&^3 != 0 {
		st.raiseError(l, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
	}
	st.repl = flags
	return 0
}

// redisACLCheckCmd answers with ACL DRYRUN for the connection's user, which
// the upstream evaluates with its own ACL rules.
func (st *state) redisACLCheckCmd(l *lua.State) int {
	argv, errMsg := st.buildArgv(l)
	if errMsg != "" {
		st.raiseError(l, errMsg)
	}
	if st.vm.cfg.Commands.Lookup(argv) == nil {
		st.raiseError(l, "Invalid command passed to redis.acl_check_cmd()")
	}
	c := st.req.Caller
	if ac, ok := c.(ACLChecker); ok {
		reply, err := ac.ACLCheck(argv)
		if err != nil {
			st.raiseError(l, "luaproxy: upstream call failed: "+err.Error())
		}
		if len(reply) > 0 && reply[0] == '-' {
			st.raiseError(l, "luaproxy: redis.acl_check_cmd(): "+string(bytes.TrimRight(reply[1:], "\r\n")))
		}
		l.SetTop(0)
		l.PushBoolean(bytes.Equal(reply, []byte("+OK\r\n")))
		return 1
	}
	who, err := c.Call([][]byte{[]byte("ACL"), []byte("WHOAMI")}, 2)
	if err != nil || len(who) < 4 || who[0] != '$' {
		st.raiseError(l, "luaproxy: cannot find the current user for redis.acl_check_cmd()")
	}
	user := who[bytes.IndexByte(who, '\n')+1 : len(who)-2]
	dry := append([][]byte{[]byte("ACL"), []byte("DRYRUN"), user}, argv...)
	reply, err := c.Call(dry, 2)
	if err != nil {
		st.raiseError(l, "luaproxy: upstream call failed: "+err.Error())
	}
	l.SetTop(0)
	l.PushBoolean(bytes.Equal(reply, []byte("+OK\r\n")))
	return 1
}

func (st *state) redisSHA1Hex(l *lua.State) int {
	if l.Top() != 1 {
		st.raiseError(l, "wrong number of arguments")
	}
	s := ""
	if l.IsString(1) {
		s = luaString(l, 1)
	}
	sum := sha1.Sum([]byte(s))
	l.PushString(hex.EncodeToString(sum[:]))
	return 1
}

func redisErrorReply(l *lua.State) int {
	if l.Top() != 1 || l.TypeOf(-1) != lua.TypeString {
		pushErrorTable(l, "wrong number or type of arguments", false)
		return 1
	}
	s, _ := l.ToString(-1)
	s = cString(s)
	if !strings.HasPrefix(s, "-") {
		s = "-" + s
	}
	pushErrorTable(l, s, false)
	return 1
}

func redisStatusReply(l *lua.State) int {
	if l.Top() != 1 || l.TypeOf(-1) != lua.TypeString {
		pushErrorTable(l, "wrong number or type of arguments", false)
		return 1
	}
	l.CreateTable(0, 1)
	l.PushValue(-2)
	l.SetField(-2, "ok")
	return 1
}

// unblock gives a blocking command the form it takes inside a script,
// where Redis never blocks (CLIENT_DENY_BLOCKING): BLMPOP and BZMPOP act as
// LMPOP and ZMPOP once their timeout is validated, and XREAD/XREADGROUP
// refuse BLOCK. Sent as they are, they would block the upstream connection.
// errReply is a "-ERR ..." command error.
func unblock(argv [][]byte) (out [][]byte, errReply string) {
	name := string(lowerInto(nil, argv[0]))
	switch name {
	case "blmpop", "bzmpop":
		if msg := checkTimeout(argv[1]); msg != "" {
			return nil, msg
		}
		out = make([][]byte, 0, len(argv)-1)
		out = append(out, []byte(name[1:]))
		return append(out, argv[2:]...), ""
	case "xread", "xreadgroup":
		for i := 1; i < len(argv)-1; i++ {
			switch string(lowerInto(nil, argv[i])) {
			case "block":
				return nil, "-ERR " + cString(string(argv[0])) + " command is not allowed with BLOCK option from scripts"
			case "streams":
				return argv, ""
			case "count":
				i++
			case "group":
				i += 2
			}
		}
	}
	return argv, ""
}

// sortConstantBy returns the form SORT and SORT_RO take inside a script
// when they sort a set BY a constant pattern (no '*') and store nothing:
// Redis then sorts the members alphabetically rather than returning them
// in the set's internal order (sortCommandGeneric, CLIENT_SCRIPT), so the
// BY options are dropped and ALPHA added. It returns nil when the command
// is not such a SORT, or is malformed (the upstream then answers it as it
// is). Whether the key holds a set is for the caller to check.
func sortConstantBy(argv [][]byte) [][]byte {
	if len(argv) < 3 {
		return nil
	}
	name := string(lowerInto(nil, argv[0]))
	if name != "sort" && name != "sort_ro" {
		return nil
	}
	constant := false
	drop := make([]bool, len(argv))
	for j := 2; j < len(argv); j++ {
		left := len(argv) - j - 1
		switch opt := string(lowerInto(nil, argv[j])); {
		case opt == "asc" || opt == "desc" || opt == "alpha":
		case opt == "limit" && left >= 2:
			j += 2
		case opt == "store" && name == "sort" && left >= 1:
			return nil // the upstream sorts a stored set itself
		case opt == "by" && left >= 1:
			if bytes.IndexByte(argv[j+1], '*') < 0 {
				constant = true
			}
			drop[j], drop[j+1] = true, true
			j++
		case opt == "get" && left >= 1:
			j++
		default:
			return nil
		}
	}
	if !constant {
		return nil
	}
	out := make([][]byte, 0, len(argv)+1)
	for i, a := range argv {
		if !drop[i] {
			out = append(out, a)
		}
	}
	return append(out, []byte("ALPHA"))
}

// isSet reports whether key holds a set, asking the upstream with TYPE.
func (st *state) isSet(key []byte) bool {
	reply, err := st.req.Caller.Call([][]byte{[]byte("TYPE"), key}, 2)
	return err == nil && string(reply) == "+set\r\n"
}

// checkTimeout validates a blocking command's timeout in seconds as
// getTimeoutFromObjectOrReply does.
func checkTimeout(b []byte) string {
	s := string(b)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || s == "" || s[0] == ' ' || s[len(s)-1] == ' ' || math.IsNaN(f) || math.IsInf(f, 0) {
		return "-ERR timeout is not a float or out of range"
	}
	if math.Ceil(f*1000) < 0 {
		return "-ERR timeout is negative"
	}
	return ""
}

// aclScriptError turns the upstream's ACL refusal into the text Redis gives
// a script for it (scriptVerifyACL), or returns "".
func aclScriptError(reply []byte) string {
	const prefix = "-NOPERM this user has no permissions to "
	if !bytes.HasPrefix(reply, []byte(prefix)) {
		return ""
	}
	rest := reply[len(prefix):]
	switch {
	case bytes.HasPrefix(rest, []byte("run the '")):
		return "The user executing the script can't run this command or subcommand"
	case bytes.HasPrefix(rest, []byte("access one of the keys")):
		return "The user executing the script can't access at least one of the keys mentioned in the command arguments"
	case bytes.HasPrefix(rest, []byte("access one of the channels")):
		return "The user executing the script can't publish to the channel mentioned in the command"
	}
	return ""
}
