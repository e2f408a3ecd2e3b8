package cjson

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/luavm/cmsgpack"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
	"github.com/luaproxy/luaproxy/luavm/stdlib"
)

// differ runs the same script in a real redis-server and in a go-lua state
// with this package opened, and renders both results in one canonical text
// form (Redis's RESP2 conversion of Lua values) so that they compare.
type differ struct {
	redis *redistest.Conn
	l     *lua.State
}

func newDiffer(t testing.TB) *differ {
	t.Helper()
	srv := redistest.Start(t)
	return &differ{redis: srv.Dial(t), l: newState()}
}

// newState is a go-lua state shaped like Redis's for these tests: Lua
// 5.1's base, string, table and math libraries, cmsgpack and this library.
func newState() *lua.State {
	l := lua.NewState()
	stdlib.Open(l, nil)
	cmsgpack.Open(l, nil)
	Open(l, nil)
	return l
}

// Redis runs script with EVAL and ARGV args and renders the reply.
func (d *differ) Redis(t testing.TB, script string, args ...string) string {
	t.Helper()
	reply := d.redis.MustDo(t, append([]string{"EVAL", script, "0"}, args...)...)
	out, err := renderRESP(bufio.NewReader(bytes.NewReader(reply)))
	if err != nil {
		t.Fatalf("reply %.200q: %v", reply, err)
	}
	return out
}

// Go runs script in the go-lua state with ARGV args and renders its first
// result as Redis would convert it.
func (d *differ) Go(script string, args ...string) string {
	l := d.l
	l.SetTop(0)
	l.NewTable()
	for i, a := range args {
		l.PushString(a)
		l.RawSetInt(-2, i+1)
	}
	l.SetGlobal("ARGV")
	if err := lua.LoadBuffer(l, script, "@user_script", "text"); err != nil {
		return "E:" + err.Error()
	}
	if err := l.ProtectedCall(0, 1, 0); err != nil {
		msg, _ := l.ToString(-1)
		return "E:" + stripPosition(msg)
	}
	return renderLua(l, -1)
}

var position = regexp.MustCompile(`^user_script:\d+: `)

func stripPosition(msg string) string { return position.ReplaceAllString(msg, "") }

// renderLua converts the value at index as Redis converts script results.
func renderLua(l *lua.State, i int) string {
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
			parts = append(parts, renderLua(l, -1))
			l.Pop(1)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return "nil"
}

// renderRESP renders one RESP2 reply in renderLua's form. Error replies
// keep only the Lua message: Redis adds "ERR user_script:1: " in front and
// " script: <sha>, on ..." after.
func renderRESP(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch line[0] {
	case '-':
		msg := strings.TrimPrefix(line[1:], "ERR ")
		if i := strings.LastIndex(msg, " script: "); i >= 0 {
			msg = msg[:i]
		}
		return "E:" + stripPosition(msg), nil
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
			if parts[i], err = renderRESP(r); err != nil {
				return "", err
			}
		}
		return "[" + strings.Join(parts, ",") + "]", nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// argName matches the function name in "bad argument" errors. go-lua
// names the called function from the wrong instruction, so it says '?'
// where Redis says 'encode'. That belongs to the VM, not to this library,
// so names are not compared.
var argName = regexp.MustCompile(`(bad argument #-?\d+ to )'[^']*'`)

func unnameArgs(s string) string { return argName.ReplaceAllString(s, "$1'F'") }

type diffCase struct {
	name   string
	script string
}

// runDiff compares every case and reports how many were identical.
func runDiff(t *testing.T, d *differ, cases []diffCase) {
	t.Helper()
	same := 0
	for _, c := range cases {
		want, got := unnameArgs(d.Redis(t, c.script)), unnameArgs(d.Go(c.script))
		if want != got {
			t.Errorf("%s:\nscript: %s\nredis: %.300q\ngo:    %.300q", c.name, c.script, want, got)
			continue
		}
		same++
	}
	t.Logf("%d/%d cases identical to Redis", same, len(cases))
}

// readCorpus parses the end-to-end corpus format: a "-- name --" line,
// then the script up to the next such line.
func readCorpus(t *testing.T, path string) []diffCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []diffCase
	for _, line := range strings.SplitAfter(string(data), "\n") {
		trimmed := strings.TrimRight(line, "\n")
		if strings.HasPrefix(trimmed, "-- ") && strings.HasSuffix(trimmed, " --") && len(trimmed) > 6 {
			cases = append(cases, diffCase{name: trimmed[3 : len(trimmed)-3]})
			continue
		}
		if len(cases) > 0 {
			cases[len(cases)-1].script += line
		}
	}
	return cases
}

// TestCorpusAgainstRedis runs the end-to-end corpus cases for cjson here,
// where failures are easier to read than through the proxy.
func TestCorpusAgainstRedis(t *testing.T) {
	cases := readCorpus(t, "../../test/corpus/testdata/cjson.txt")
	if len(cases) < 120 {
		t.Fatalf("corpus has %d cases, want at least 120", len(cases))
	}
	runDiff(t, newDiffer(t), cases)
}
