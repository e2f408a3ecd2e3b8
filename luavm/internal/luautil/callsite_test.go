package luautil

import (
	"strings"
	"testing"

	"github.com/Shopify/go-lua"
)

// TestArgErrorMethod checks the call-site reading behind ArgError's
// numbering: a method call does not count self.
func TestArgErrorMethod(t *testing.T) {
	tests := []struct {
		script, want string
	}{
		{"return f(1)", "bad argument #2 to 'f' (boom)"},
		{"return t.f(t)", "bad argument #2 to 'f' (boom)"},
		{"return t:f()", "bad argument #1 to 'f' (boom)"},
		{"local x = t\nreturn x:f(1, 2)", "bad argument #1 to 'f' (boom)"},
		{"local a = t.f(t)\nreturn t:f()", "bad argument #2 to 'f' (boom)"}, // the first call fails
		{"local function g() return t:f() end return g()", "bad argument #1 to 'f' (boom)"},
		{"return t.f(t) .. t:f()", "bad argument #2 to 'f' (boom)"}, // both forms on one line: not a method
		{"local g = t.f return g(t)", "bad argument #2 to 'f' (boom)"},
		{"return pcall(t.f, t)", "bad argument #2 to '?' (boom)"},
		{"local s = {f = t.f, g = 1} return s:f()", "bad argument #1 to 'f' (boom)"},
	}
	for _, tt := range tests {
		l := lua.NewState()
		l.NewTable()
		PushNamed(l, "f", func(l *lua.State) int {
			ArgError(l, 2, "boom")
			return 0
		}, 0)
		l.PushValue(-1)
		l.SetGlobal("f")
		l.SetField(-2, "f")
		l.SetGlobal("t")
		lua.OpenLibraries(l)
		if err := l.Load(strings.NewReader(tt.script), "@test", "t"); err != nil {
			t.Fatalf("%q: %v", tt.script, err)
		}
		err := l.ProtectedCall(0, 2, 0)
		msg, _ := l.ToString(-1)
		if err == nil {
			msg, _ = l.ToString(-1) // pcall's message
		}
		if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "test:") {
			msg = msg[i+2:]
		}
		if msg != tt.want {
			t.Errorf("%q: got %q, want %q", tt.script, msg, tt.want)
		}
	}
}

func TestReadPrototypeRejectsGarbage(t *testing.T) {
	for _, chunk := range [][]byte{nil, []byte("short"), make([]byte, 18), append(make([]byte, 18), 0xff, 0xff, 0xff, 0x7f)} {
		if _, err := readPrototype(chunk); err == nil {
			t.Errorf("readPrototype(%q): no error", chunk)
		}
	}
}

// FuzzReadPrototype feeds readPrototype damaged dumps: it must fail or
// succeed, never panic.
func FuzzReadPrototype(f *testing.F) {
	l := lua.NewState()
	for _, s := range []string{"return 1", "local s = 'x' return s:rep(2), function(a) return a.b:c() end", "local t = {1, 'a', true, nil, 2.5} return t"} {
		if err := l.Load(strings.NewReader(s), "@seed", "t"); err != nil {
			f.Fatal(err)
		}
		var buf strings.Builder
		if err := l.Dump(&buf); err != nil {
			f.Fatal(err)
		}
		l.Pop(1)
		f.Add([]byte(buf.String()))
	}
	f.Fuzz(func(t *testing.T, chunk []byte) {
		if p, err := readPrototype(chunk); err == nil {
			for pc, ins := range p.code {
				p.setter(pc, ins.a())
			}
		}
	})
}
