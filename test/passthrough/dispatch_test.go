package passthrough

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/luaproxy/luaproxy/proxy"
	"github.com/luaproxy/luaproxy/test/harness"
)

// TestScriptingWithoutHandler pins today's behaviour: without a Handler,
// scripting commands are forwarded, and the scripting-disabled upstream
// answers as Redis does for a removed command.
func TestScriptingWithoutHandler(t *testing.T) {
	h := harness.Start(t)
	c := h.DialProxy(t)
	tests := map[string][]string{
		"-ERR unknown command 'EVAL', with args beginning with: 'return 1' '0' \r\n": {"EVAL", "return 1", "0"},
		"-ERR unknown command 'FCALL', with args beginning with: 'f' '0' \r\n":       {"FCALL", "f", "0"},
		"-ERR unknown command 'SCRIPT', with args beginning with: 'FLUSH' \r\n":      {"SCRIPT", "FLUSH"},
	}
	for want, args := range tests {
		if got := c.MustDo(t, args...); string(got) != want {
			t.Errorf("%q = %q, want %q", args, got, want)
		}
	}
}

// echoHandler answers every scripting command with its arguments, and
// counts calls.
type echoHandler struct{ calls atomic.Int64 }

func (e *echoHandler) Serve(_ context.Context, sess *proxy.Session, argv [][]byte) []byte {
	e.calls.Add(1)
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = string(a)
	}
	s := fmt.Sprintf("handled db=%d %s", sess.DB(), strings.Join(parts, " "))
	return []byte("+" + s + "\r\n")
}

// TestScriptingDispatch checks that scripting commands reach the Handler,
// in order with the commands around them, and that others do not.
func TestScriptingDispatch(t *testing.T) {
	e := &echoHandler{}
	h := harness.Start(t, harness.WithHandler(e))
	c := h.DialProxy(t)
	for _, cmd := range [][]string{{"SET", "k", "v"}, {"EVAL", "return 1", "0"}, {"evalsha", "abc", "0"}, {"FUNCTION", "LIST"}, {"GET", "k"}} {
		_ = c.Send(cmd...)
	}
	_ = c.Flush()
	want := []string{"+OK\r\n", "+handled db=0 EVAL return 1 0\r\n", "+handled db=0 evalsha abc 0\r\n", "+handled db=0 FUNCTION LIST\r\n", "$1\r\nv\r\n"}
	for i, w := range want {
		got, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != w {
			t.Errorf("reply %d = %q, want %q", i, got, w)
		}
	}
	if got := c.MustDo(t, "SELECT", "2"); string(got) != "+OK\r\n" {
		t.Fatal(string(got))
	}
	if got := c.MustDo(t, "FCALL_RO", "f", "0"); string(got) != "+handled db=2 FCALL_RO f 0\r\n" {
		t.Errorf("FCALL_RO after SELECT = %q", got)
	}
	if n := e.calls.Load(); n != 4 {
		t.Errorf("handler called %d times, want 4", n)
	}
}

// TestScriptingDispatchReplyOff checks that CLIENT REPLY OFF and SKIP also
// silence replies that the Handler produces.
func TestScriptingDispatchReplyOff(t *testing.T) {
	h := harness.Start(t, harness.WithHandler(&echoHandler{}))
	c := h.DialProxy(t)
	for _, cmd := range [][]string{
		{"CLIENT", "REPLY", "OFF"}, {"EVAL", "return 1", "0"}, {"CLIENT", "REPLY", "ON"},
		{"CLIENT", "REPLY", "SKIP"}, {"EVAL", "return 2", "0"}, {"EVAL", "return 3", "0"},
	} {
		_ = c.Send(cmd...)
	}
	_ = c.Flush()
	for i, want := range []string{"+OK\r\n", "+handled db=0 EVAL return 3 0\r\n"} {
		got, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("reply %d = %q, want %q", i, got, want)
		}
	}
}
