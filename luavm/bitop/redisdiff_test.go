package bitop

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/internal/redistest"
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

// newState is a go-lua state shaped like Redis's for these tests: the
// standard libraries, Lua 5.1's global unpack, and this library.
func newState() *lua.State {
	l := lua.NewState()
	lua.OpenLibraries(l)
	l.Global("table")
	l.Field(-1, "unpack")
	l.SetGlobal("unpack")
	l.Pop(1)
	Open(l, nil)
	return l
}

// Redis runs script with EVAL and renders the reply.
func (d *differ) Redis(t testing.TB, script string) string {
	t.Helper()
	reply := d.redis.MustDo(t, "EVAL", script, "0")
	out, err := renderRESP(bufio.NewReader(bytes.NewReader(reply)))
	if err != nil {
		t.Fatalf("reply %q: %v", reply, err)
	}
	return out
}

// Go runs script in the go-lua state and renders its first result as
// Redis would convert it.
func (d *differ) Go(script string) string {
	l := d.l
	l.SetTop(0)
	if err := lua.LoadBuffer(l, script, "@user_script", "text"); err != nil {
		return "E:" + err.Error()
	}
	if err := l.ProtectedCall(0, 1, 0); err != nil {
		msg, _ := l.ToString(-1)
		return "E:" + msg
	}
	return renderLua(l, -1)
}

// renderLua converts the value at index as Redis converts script results.
func renderLua(l *lua.State, i int) string {
	switch l.TypeOf(i) {
	case lua.TypeString:
		s, _ := l.ToString(i)
		return "$" + s
	case lua.TypeNumber:
		n, _ := l.ToNumber(i)
		return ":" + strconv.FormatInt(int64(n), 10)
	case lua.TypeBoolean:
		if l.ToBoolean(i) {
			return ":1"
		}
	case lua.TypeTable:
		i = l.AbsIndex(i)
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
// keep only the Lua message: Redis appends " script: <sha>, on ...".
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
			if parts[i], err = renderRESP(r); err != nil {
				return "", err
			}
		}
		return "[" + strings.Join(parts, ",") + "]", nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// luaBytes is a Lua expression for the string with bytes b.
func luaBytes(b []byte) string {
	if len(b) == 0 {
		return "''"
	}
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = strconv.Itoa(int(c))
	}
	return "string.char(" + strings.Join(parts, ",") + ")"
}

// diffCase is one script compared between Redis and go-lua.
type diffCase struct {
	name   string
	script string
}

// runDiff compares every case and reports how many were identical.
func runDiff(t *testing.T, d *differ, cases []diffCase, canon func(string) string) {
	t.Helper()
	same := 0
	for _, c := range cases {
		want, got := d.Redis(t, c.script), d.Go(c.script)
		if canon != nil {
			want, got = canon(want), canon(got)
		}
		if want != got {
			t.Errorf("%s:\nscript: %s\nredis: %q\ngo:    %q", c.name, c.script, want, got)
			continue
		}
		same++
	}
	t.Logf("%d/%d cases identical to Redis", same, len(cases))
}
