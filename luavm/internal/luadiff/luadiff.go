// Package luadiff is the harness of the libraries' differential tests: it
// runs one script with EVAL on a real redis-server and in a go-lua state
// with the library opened, and renders both results in one text form
// (Redis's RESP2 conversion of the returned Lua value) so that they
// compare.
//
// Rendered values: "$text" for strings and status replies, ":n" for
// integers (numbers truncated as Redis does, true as :1), "nil" for nil and
// false, "[a,b]" for arrays, "E:message" for errors (without Redis's
// " script: <sha>, on ..." tail) and "raised [...]" for a table raised as
// an error in go-lua.
package luadiff

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/Shopify/go-lua"

	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// Differ runs scripts on both sides.
type Differ struct {
	Conn *redistest.Conn // to the redis-server
	L    *lua.State      // the go-lua state
	// Lim, when not nil, is reset (64 MB budget) before every Go run.
	Lim *luautil.Limits
}

// New starts a redis-server for the test and pairs it with l.
func New(tb testing.TB, l *lua.State, lim *luautil.Limits) *Differ {
	tb.Helper()
	return &Differ{Conn: redistest.Start(tb).Dial(tb), L: l, Lim: lim}
}

// Redis runs script with EVAL and ARGV args and renders the reply.
func (d *Differ) Redis(tb testing.TB, script string, args ...string) string {
	tb.Helper()
	reply := d.Conn.MustDo(tb, append([]string{"EVAL", script, "0"}, args...)...)
	out, err := RenderRESP(bufio.NewReader(bytes.NewReader(reply)))
	if err != nil {
		tb.Fatalf("reply %.200q: %v", reply, err)
	}
	return out
}

// Go runs script in the go-lua state with ARGV args and renders its first
// result.
func (d *Differ) Go(script string, args ...string) string {
	if d.Lim != nil {
		d.Lim.Reset(64 << 20)
	}
	return Eval(d.L, script, args...)
}

// Eval runs script in l with ARGV args, as chunk "@user_script" like
// Redis's, and renders its first result.
func Eval(l *lua.State, script string, args ...string) string {
	l.SetTop(0)
	l.CreateTable(len(args), 0)
	for i, a := range args {
		l.PushString(a)
		l.RawSetInt(-2, i+1)
	}
	l.SetGlobal("ARGV")
	if err := l.Load(strings.NewReader(script), "@user_script", "t"); err != nil {
		msg, _ := l.ToString(-1)
		return "E:" + msg
	}
	if err := l.ProtectedCall(0, 1, 0); err != nil {
		if l.IsTable(-1) {
			return "raised " + RenderLua(l, -1)
		}
		msg, _ := l.ToString(-1)
		return "E:" + msg
	}
	return RenderLua(l, -1)
}

// RenderLua converts the value at index as Redis converts script results.
func RenderLua(l *lua.State, i int) string {
	switch l.TypeOf(i) {
	case lua.TypeString:
		s, _ := l.ToString(i)
		return "$" + s
	case lua.TypeNumber:
		n, _ := l.ToNumber(i)
		return ":" + strconv.FormatInt(luautil.CInt64(n), 10)
	case lua.TypeBoolean:
		if l.ToBoolean(i) {
			return ":1"
		}
	case lua.TypeTable:
		i = l.AbsIndex(i)
		l.Field(i, "err")
		if l.TypeOf(-1) == lua.TypeString {
			s, _ := l.ToString(-1)
			l.Pop(1)
			return "E:" + s
		}
		l.Pop(1)
		var parts []string
		for j := 1; ; j++ {
			l.RawGetInt(i, j)
			if l.IsNil(-1) {
				l.Pop(1)
				break
			}
			parts = append(parts, RenderLua(l, -1))
			l.Pop(1)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return "nil"
}

// RenderRESP renders one RESP2 reply in RenderLua's form.
func RenderRESP(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply line")
	}
	switch line[0] {
	case '-':
		msg := strings.TrimPrefix(line[1:], "ERR ")
		if i := strings.LastIndex(msg, " script: "); i >= 0 {
			msg = msg[:i]
		}
		return "E:" + msg, nil
	case ':':
		return line, nil
	case '+':
		return "$" + line[1:], nil
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "nil", nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return "$" + string(b[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "nil", nil
		}
		parts := make([]string, n)
		for i := range parts {
			if parts[i], err = RenderRESP(r); err != nil {
				return "", err
			}
		}
		return "[" + strings.Join(parts, ",") + "]", nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// Case is one script compared between Redis and go-lua.
type Case struct {
	Name   string
	Script string
}

// Run compares every case and logs how many were identical.
func (d *Differ) Run(t *testing.T, cases []Case) {
	t.Helper()
	same := 0
	for _, c := range cases {
		want, got := d.Redis(t, c.Script), d.Go(c.Script)
		if want != got {
			t.Errorf("%s:\nscript: %s\nredis: %.300q\ngo:    %.300q", c.Name, c.Script, want, got)
			continue
		}
		same++
	}
	t.Logf("%d/%d cases identical to Redis", same, len(cases))
}

// Scripts makes cases of scripts, each named by its text.
func Scripts(scripts ...string) []Case {
	cases := make([]Case, len(scripts))
	for i, s := range scripts {
		cases[i] = Case{Name: s, Script: s}
	}
	return cases
}

// ReadCorpus reads the cases of an end-to-end corpus file
// (test/corpus/testdata): a "-- name --" line, then the script up to the
// next such line. Attributes after " | " stay in the name; cases that need
// them (keys, setup commands) belong to the end-to-end test only.
func ReadCorpus(tb testing.TB, path string) []Case {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var cases []Case
	for _, line := range strings.SplitAfter(string(data), "\n") {
		trimmed := strings.TrimRight(line, "\n")
		if strings.HasPrefix(trimmed, "-- ") && strings.HasSuffix(trimmed, " --") && len(trimmed) > 6 {
			cases = append(cases, Case{Name: trimmed[3 : len(trimmed)-3]})
			continue
		}
		if len(cases) > 0 {
			cases[len(cases)-1].Script += line
		}
	}
	return cases
}

// LuaBytes is a Lua expression for the string with bytes b.
func LuaBytes(b []byte) string {
	if len(b) == 0 {
		return "''"
	}
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = strconv.Itoa(int(c))
	}
	return "string.char(" + strings.Join(parts, ",") + ")"
}

// CallFunc calls the global lib.fn with args (strings and float64s) in
// protected mode, straight from Go (pcall's recovery would hide a runtime
// panic among Lua errors), with lim reset to budget. A Go runtime panic,
// which go-lua's protected call turns into a runtime.Error, and a charge
// beyond budget fail the test. It returns the number of results, or -1 on
// a Lua error.
func CallFunc(tb testing.TB, l *lua.State, lim *luautil.Limits, budget int64, lib, fn string, args ...any) int {
	tb.Helper()
	l.SetTop(0)
	l.Global(lib)
	l.Field(-1, fn)
	l.Remove(1)
	for _, a := range args {
		switch a := a.(type) {
		case string:
			l.PushString(a)
		case float64:
			l.PushNumber(a)
		default:
			tb.Fatalf("CallFunc: argument of type %T", a)
		}
	}
	lim.Reset(budget)
	err := l.ProtectedCall(len(args), lua.MultipleReturns, 0)
	if re := new(runtime.Error); errors.As(err, re) {
		tb.Fatalf("%s.%s: Go panic: %v", lib, fn, err)
	}
	if lim.Used() > budget {
		tb.Fatalf("%s.%s: charged %d bytes", lib, fn, lim.Used())
	}
	if err != nil {
		return -1
	}
	return l.Top()
}
