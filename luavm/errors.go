package luavm

import (
	"strconv"
	"strings"

	"github.com/Shopify/go-lua"

	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// go-lua turns every error value into a string on its way up (it calls
// CheckString on the value, so a table becomes "bad argument #-1 ..."),
// while Redis scripts raise and catch tables: redis.call raises
// {err="..."} and pcall hands tables back. Non-string error values are
// therefore boxed: the value is stored in a registry table for the run and
// a sentinel string travels through go-lua instead; luavm's own pcall,
// xpcall and message handler unbox it.
const boxPrefix = "\x00luavm-error-value\x00"

// raise raises the value on top of the stack as a Lua error.
func (st *state) raise(l *lua.State) {
	st.raiseValue(l)
	l.Error()
}

// unbox replaces a sentinel at idx by the value it stands for.
func (st *state) unbox(l *lua.State, idx int) {
	if l.TypeOf(idx) != lua.TypeString {
		return
	}
	s, _ := l.ToString(idx)
	if !strings.HasPrefix(s, boxPrefix) {
		return
	}
	idx = l.AbsIndex(idx)
	l.PushLightUserData(st.boxes)
	l.PushString(s)
	l.RawGet(-2)
	l.Replace(idx)
	l.PushString(s)
	l.PushNil()
	l.RawSet(-3)
	l.Pop(1)
}

// noteError marks the state for replacement after errors that leave a
// go-lua state degraded: after a stack overflow go-lua keeps its stack at
// the emergency size and fails every later overflow with "error in error
// handling". The error value is on top.
func (st *state) noteError(l *lua.State) {
	if l.TypeOf(-1) != lua.TypeString {
		return
	}
	s, _ := l.ToString(-1)
	if strings.Contains(s, "stack overflow") || strings.Contains(s, "error in error handling") {
		st.broken = true
	}
}

// errorInfo is what Redis's error handler extracts from a failed script.
type errorInfo struct {
	set          bool
	msg          string
	source, line string
	hasPlace     bool
}

// messageHandler is the top-level message handler: it does what Redis's
// __redis__err__handler and luaExtractErrorInformation do together and
// keeps the result on the Go side (go-lua insists on a string result).
func (st *state) messageHandler(l *lua.State) int {
	l.SetTop(1)
	st.unbox(l, 1)
	st.noteError(l)
	if l.TypeOf(1) == lua.TypeString {
		s, _ := l.ToString(1)
		if r := fieldNotLocal(rewriteMessage(s), st.body); r != s {
			l.PushString(r)
			l.Replace(1)
		}
	}
	if n := len(st.handlers); n > 0 {
		// A pcall or xpcall inside the script.
		if h := st.handlers[n-1]; h != nil {
			if _, isNil := h.(nilHandler); isNil {
				l.PushNil()
			} else {
				l.PushLightUserData(h)
			}
			l.Insert(1)
			st.inUserHandler = true
			l.Call(1, 1)
			st.inUserHandler = false
		}
		st.raiseValue(l)
		return 1
	}
	info := errorInfo{set: true}
	if src, line, ok := errorPlace(l, 1); ok {
		info.source, info.line, info.hasPlace = src, strconv.Itoa(line), true
	}
	switch l.TypeOf(1) {
	case lua.TypeTable:
		l.PushString("err")
		l.RawGet(1)
		if l.IsString(-1) {
			info.msg = cString(luaString(l, -1))
		} else {
			// Redis 7.0.15 crashes here (it formats a NULL message);
			// luaproxy answers with an error instead.
			info.msg = "ERR Script raised an error table without an 'err' field"
		}
		l.Pop(1)
		if !info.hasPlace {
			l.PushString("source")
			l.RawGet(1)
			l.PushString("line")
			l.RawGet(1)
			if l.IsString(-2) && l.IsString(-1) {
				info.source, info.line, info.hasPlace = luaString(l, -2), luaString(l, -1), true
			}
			l.Pop(2)
		}
	case lua.TypeString:
		s, _ := l.ToString(1)
		info.msg = "ERR " + cString(s)
	default:
		info.msg = "ERR " + cString(tostring51(l, 1))
	}
	st.errInfo = info
	l.PushString("luavm: script error")
	return 1
}

// errorPlace finds where an error was raised as Redis's handler does: the
// function at level (the one that raised the error), or its caller when
// that function is not Lua.
func errorPlace(l *lua.State, level int) (source string, line int, ok bool) {
	f, ok := lua.Stack(l, level)
	if !ok {
		return "", 0, false
	}
	ar := frameInfo(l, f)
	if ar.What == "Go" {
		if f, ok = lua.Stack(l, level+1); !ok {
			return "", 0, false
		}
		ar = frameInfo(l, f)
	}
	return ar.Source, ar.CurrentLine, true
}

// frameInfo is lua.Info(l, "Sl", f), safe where go-lua's is not: in a
// count hook at a function's first instruction (a loop jumping back to
// pc 0, like "while true do end") go-lua indexes its line table with -1.
// The function's first line stands in then.
func frameInfo(l *lua.State, f lua.Frame) (ar lua.Debug) {
	defer func() {
		if recover() != nil {
			ar, _ = lua.Info(l, "S", f)
			ar.CurrentLine = ar.LineDefined
			if ar.CurrentLine <= 0 {
				ar.CurrentLine = 1
			}
		}
	}()
	ar, _ = lua.Info(l, "Sl", f)
	return ar
}

// raiseValue boxes the value on top if it is not a string, so that go-lua
// passes it on unchanged.
func (st *state) raiseValue(l *lua.State) {
	if l.TypeOf(-1) == lua.TypeString {
		return
	}
	st.boxSeq++
	key := boxPrefix + strconv.Itoa(st.boxSeq)
	l.PushLightUserData(st.boxes)
	l.PushString(key)
	l.PushValue(-3)
	l.RawSet(-3)
	l.Pop(2)
	l.PushString(key)
}

// luaString returns the string or number at idx as Lua 5.1's tostring
// would, without converting the stack slot.
func luaString(l *lua.State, idx int) string {
	if l.TypeOf(idx) == lua.TypeNumber {
		n, _ := l.ToNumber(idx)
		return luautil.FormatNumber(n)
	}
	s, _ := l.ToString(idx)
	return s
}

// tostring51 is Lua 5.1's tostring for an error value.
func tostring51(l *lua.State, idx int) string {
	switch l.TypeOf(idx) {
	case lua.TypeNil, lua.TypeNone:
		return "nil"
	case lua.TypeBoolean:
		if l.ToBoolean(idx) {
			return "true"
		}
		return "false"
	case lua.TypeNumber, lua.TypeString:
		return luaString(l, idx)
	}
	s, _ := lua.ToStringMeta(l, idx)
	l.Pop(1)
	return s
}

// appendRunError formats a failed run as Redis's luaCallFunction does.
func (st *state) appendRunError(dst []byte, err error) []byte {
	info := st.errInfo
	if !info.set {
		st.broken = true
		// The handler did not run (error in error handling, memory error):
		// Redis's "Error running script" form.
		msg := "execution failure"
		if s, ok := st.l.ToString(-1); ok {
			msg = s
		}
		if len(msg) > 100 {
			msg = msg[:100]
		}
		return appendError(dst, "ERR Error running script "+st.sha+", "+strings.TrimRight(msg, "\r\n"))
	}
	dst = append(dst, '-')
	dst = appendSanitized(dst, info.msg)
	if info.hasPlace {
		dst = append(dst, " script: "...)
		dst = append(dst, st.sha...)
		dst = append(dst, ", on "...)
		dst = appendSanitized(dst, info.source)
		dst = append(dst, ':')
		dst = append(dst, info.line...)
		dst = append(dst, '.')
	}
	return append(dst, '\r', '\n')
}

// appendSanitized appends s with CR and LF turned into spaces. Redis sends
// a script's error message raw, so a message with a line break breaks the
// protocol there; luaproxy keeps the stream valid instead.
func appendSanitized(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

// rewriteMessage turns go-lua's (Lua 5.2) wording of VM errors into Lua
// 5.1's, which is what Redis scripts see.
func rewriteMessage(s string) string {
	if !strings.Contains(s, "attempt to compare") && !strings.Contains(s, "Go stack overflow") {
		return s
	}
	if i := strings.Index(s, "attempt to compare two '"); i >= 0 {
		rest := s[i+len("attempt to compare two '"):]
		if j := strings.Index(rest, "' values"); j >= 0 {
			return s[:i] + "attempt to compare two " + rest[:j] + " values" + rest[j+len("' values"):]
		}
	}
	if i := strings.Index(s, "attempt to compare '"); i >= 0 {
		rest := s[i+len("attempt to compare '"):]
		if j := strings.Index(rest, "' with '"); j >= 0 {
			a := rest[:j]
			rest = rest[j+len("' with '"):]
			if k := strings.IndexByte(rest, '\''); k >= 0 {
				return s[:i] + "attempt to compare " + a + " with " + rest[:k] + rest[k+1:]
			}
		}
	}
	s = strings.ReplaceAll(s, "Go stack overflow", "C stack overflow")
	return s
}

// pushErrorTable pushes Redis's error table for msg, as luaPushError does:
// "-CODE text" keeps CODE, anything else gets "ERR"; trailing CR/LF are
// trimmed and the message is read as a C string.
func pushErrorTable(l *lua.State, msg string, ignoreStats bool) {
	l.CreateTable(0, 2)
	l.PushString(formatRedisError(msg))
	l.SetField(-2, "err")
	if ignoreStats {
		l.PushBoolean(true)
		l.SetField(-2, "ignore_error_stats_update")
	}
}

func formatRedisError(msg string) string {
	msg = cString(msg)
	code := "ERR"
	if strings.HasPrefix(msg, "-") {
		if sp := strings.IndexByte(msg, ' '); sp < 0 {
			msg = msg[1:]
		} else {
			code, msg = msg[1:sp], msg[sp+1:]
		}
	}
	msg = strings.Trim(msg, "\r\n")
	return code + " " + msg
}

// fieldNotLocal fixes go-lua's kind for a value loaded from a table field:
// go-lua says "local 'k'" where Lua 5.1 says "field 'k'". A real local is
// reported as local by both, so the text is changed only when the script
// declares no local, parameter or loop variable called k anywhere.
func fieldNotLocal(msg string, body []byte) string {
	i := strings.Index(msg, " local '")
	if i < 0 || body == nil || !strings.Contains(msg, "attempt to ") {
		return msg
	}
	rest := msg[i+len(" local '"):]
	j := strings.IndexByte(rest, '\'')
	if j <= 0 || rest[0] == '(' || !strings.HasPrefix(rest[j:], "' (a ") {
		return msg
	}
	if declaresName(string(body), rest[:j]) {
		return msg
	}
	return msg[:i] + " field '" + rest
}

// declaresName reports whether src may declare name as a local variable:
// after "local" or "for" on the same statement, or in a function's
// parameter list. It errs on the side of yes.
func declaresName(src, name string) bool {
	for _, kw := range []string{"local", "for", "function"} {
		for off := 0; ; {
			k := indexWord(src[off:], kw)
			if k < 0 {
				break
			}
			start := off + k + len(kw)
			end := start
			stop := "=\n;"
			if kw == "function" {
				stop = ")"
			} else if kw == "for" {
				stop = "=\n"
			}
			for end < len(src) && !strings.ContainsRune(stop, rune(src[end])) {
				end++
			}
			if kw == "for" && end < len(src) && src[end] == '\n' {
				// "for k, v in ..." ends at "in"
				if in := indexWord(src[start:end], "in"); in >= 0 {
					end = start + in
				}
			}
			if indexWord(src[start:end], name) >= 0 {
				return true
			}
			off = start
		}
	}
	return false
}

// indexWord finds word in s as a whole identifier.
func indexWord(s, word string) int {
	isIdent := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	for off := 0; ; {
		i := strings.Index(s[off:], word)
		if i < 0 {
			return -1
		}
		i += off
		end := i + len(word)
		if (i == 0 || !isIdent(s[i-1])) && (end == len(s) || !isIdent(s[end])) {
			return i
		}
		off = i + 1
	}
}
