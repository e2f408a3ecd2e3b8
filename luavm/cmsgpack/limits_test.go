package cmsgpack

import (
	"strings"
	"testing"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// runLimited runs script in a fresh state whose library charges lim and
// returns the error message, "" if the script succeeded.
func runLimited(t *testing.T, lim *luautil.Limits, script string) string {
	t.Helper()
	l := lua.NewState()
	lua.OpenLibraries(l)
	Open(l, lim)
	if err := lua.LoadBuffer(l, script, "@user_script", "text"); err != nil {
		t.Fatal(err)
	}
	if err := l.ProtectedCall(0, 0, 0); err != nil {
		msg, _ := l.ToString(-1)
		return msg
	}
	return ""
}

func TestLimits(t *testing.T) {
	for _, c := range []struct {
		name, script string
		memLimit     int64
		interrupt    bool
		want         string // substring of the error; "" for success
	}{
		{"pack within budget", "cmsgpack.pack(string.rep('x', 1000))", 1 << 20, false, ""},
		{"pack over budget", "cmsgpack.pack(string.rep('x', 2 * 1024 * 1024))", 1 << 20, false, luautil.OutOfMemory},
		{"pack of many small values over budget", "local t = {} for i = 1, 100000 do t[i] = 'abcdefgh' end cmsgpack.pack(t)", 512 << 10, false, luautil.OutOfMemory},
		{"unpack over budget", "local s = cmsgpack.pack(string.rep('x', 600 * 1024)) cmsgpack.unpack(s .. s)", 2 << 20, false, luautil.OutOfMemory},
		{"unpack of many nils over budget", "cmsgpack.unpack('\\221\\0\\1\\0\\0' .. string.rep('\\192', 65536))", 512 << 10, false, luautil.OutOfMemory},
		// 8^16 values: without the interrupt check this would not end.
		{"interrupted cyclic pack", "local t = {} for i = 1, 8 do t[i] = t end cmsgpack.pack(t)", 0, true, "killed"},
		{"interrupted long unpack", "cmsgpack.unpack_limit(string.rep('\\1', 100000), 100000)", 0, true, "killed"},
		{"deep nesting fails cleanly", "cmsgpack.unpack(string.rep('\\145', 200000) .. '\\1')", 0, false, "stack overflow"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var lim luautil.Limits
			lim.Reset(c.memLimit)
			if c.interrupt {
				lim.Interrupt("killed")
			}
			got := runLimited(t, &lim, c.script)
			if c.want == "" && got != "" || !strings.Contains(got, c.want) {
				t.Fatalf("error %q, want %q", got, c.want)
			}
			if c.memLimit > 0 && lim.Used() > c.memLimit {
				t.Fatalf("charged %d of %d", lim.Used(), c.memLimit)
			}
		})
	}
}
