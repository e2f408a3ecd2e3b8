package stdlib

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
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// differ runs the same script in a real redis-server (EVAL) and in a go-lua
// state with this package opened, and renders both results in one form:
// Redis's RESP2 conversion of the returned Lua value.
type differ struct {
	redis *redistest.Conn
	l     *lua.State
	env   *Env
	lim   *luautil.Limits
}

func newDiffer(t testing.TB) *differ {
	t.Helper()
	srv := redistest.Start(t)
	d := &differ{redis: srv.Dial(t)}
	d.l, d.env, d.lim = newState()
	return d
}

// newState is a go-lua state with this package's libraries.
func newState() (*lua.State, *Env, *luautil.Limits) {
	l := lua.NewState()
	lim := &luautil.Limits{}
	env := Open(l, lim)
	return l, env, lim
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

// Go runs script in the go-lua state and renders its first result.
func (d *differ) Go(script string) string {
	return runGo(d.l, d.lim, script)
}

func runGo(l *lua.State, lim *luautil.Limits, script string) string {
	lim.Reset(64 << 20)
	return runGoKeep(l, lim, script)
}

// runGoKeep is runGo without resetting the limits.
func runGoKeep(l *lua.State, lim *luautil.Limits, script string) string {
	l.SetTop(0)
	if err := l.Load(strings.NewReader(script), "@user_script", "t"); err != nil {
		msg, _ := l.ToString(-1)
		return "E:" + msg
	}
	if err := l.ProtectedCall(0, 1, 0); err != nil {
		if l.IsTable(-1) {
			return "raised " + renderLua(l, -1)
		}
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
		return ":" + strconv.FormatInt(luautil.CInt64(n), 10)
	case lua.TypeBoolean:
		if l.ToBoolean(i) {
			return ":1"
		}
	case lua.TypeTable:
		i = l.AbsIndex(i)
		l.Field(i, "err")
		if s, ok := l.ToString(-1); ok && l.IsString(-1) {
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

// compare runs each script on both sides and reports the differences.
func compare(t *testing.T, d *differ, scripts []string) {
	t.Helper()
	same := 0
	for _, s := range scripts {
		want, got := d.Redis(t, s), d.Go(s)
		if want != got {
			t.Errorf("script: %s\nredis: %q\ngo:    %q", s, want, got)
			continue
		}
		same++
	}
	t.Logf("%d/%d scripts identical to Redis", same, len(scripts))
}

// exprs turns expressions into scripts that return them.
func exprs(es ...string) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = "return " + e
	}
	return out
}
