package stdlib

import (
	"testing"

	"github.com/Shopify/go-lua"

	"github.com/luaproxy/luaproxy/luavm/internal/luadiff"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// newDiffer pairs a redis-server with a state from newState.
func newDiffer(t testing.TB) *luadiff.Differ {
	l, _, lim := newState()
	return luadiff.New(t, l, lim)
}

// newState is a go-lua state with this package's libraries.
func newState() (*lua.State, *Env, *luautil.Limits) {
	l := lua.NewState()
	lim := &luautil.Limits{}
	env := Open(l, lim)
	return l, env, lim
}

// runGo runs script in l with fresh limits and renders its first result.
func runGo(l *lua.State, lim *luautil.Limits, script string) string {
	lim.Reset(64 << 20)
	return luadiff.Eval(l, script)
}

// compare runs each script on both sides and reports the differences.
func compare(t *testing.T, d *luadiff.Differ, scripts []string) {
	t.Helper()
	d.Run(t, luadiff.Scripts(scripts...))
}

// exprs turns expressions into scripts that return them.
func exprs(es ...string) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = "return " + e
	}
	return out
}
