package structlib

import (
	"strings"
	"testing"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

func TestLimits(t *testing.T) {
	for _, c := range []struct {
		name, script string
		memLimit     int64
		interrupt    bool
		want         string // substring of the error; "" for success
	}{
		{"pack within budget", "struct.pack('c0', string.rep('x', 1000))", 1 << 20, false, ""},
		{"pack over budget", "struct.pack('c0', string.rep('x', 2 * 1024 * 1024))", 1 << 20, false, luautil.OutOfMemory},
		{"padding over budget", "struct.pack(string.rep('x', 2 * 1024 * 1024))", 1 << 20, false, luautil.OutOfMemory},
		{"unpack over budget", "local s = string.rep('x', 614400) struct.unpack('c614400c614400', s .. s)", 1 << 20, false, luautil.OutOfMemory},
		{"interrupted long format", "struct.size(string.rep('x', 100000))", 0, true, "killed"},
		{"interrupted long unpack", "struct.unpack(string.rep('x', 100000), string.rep('a', 100000))", 0, true, "killed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var lim luautil.Limits
			lim.Reset(c.memLimit)
			if c.interrupt {
				lim.Interrupt("killed")
			}
			l := lua.NewState()
			lua.OpenLibraries(l)
			Open(l, &lim)
			if err := lua.LoadBuffer(l, c.script, "@user_script", "text"); err != nil {
				t.Fatal(err)
			}
			got := ""
			if err := l.ProtectedCall(0, 0, 0); err != nil {
				got, _ = l.ToString(-1)
			}
			if c.want == "" && got != "" || !strings.Contains(got, c.want) {
				t.Fatalf("error %q, want %q", got, c.want)
			}
			if c.memLimit > 0 && lim.Used() > c.memLimit {
				t.Fatalf("charged %d of %d", lim.Used(), c.memLimit)
			}
		})
	}
}
