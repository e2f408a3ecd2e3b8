package structlib

import (
	"testing"

	"github.com/Shopify/go-lua"

	"github.com/luaproxy/luaproxy/luavm/internal/luadiff"
	"github.com/luaproxy/luaproxy/luavm/stdlib"
)

// newDiffer pairs a redis-server with a state from newState.
func newDiffer(t testing.TB) *luadiff.Differ { return luadiff.New(t, newState(), nil) }

// newState is a go-lua state shaped like Redis's for these tests: Lua
// 5.1's base, string, table and math libraries, and this library.
func newState() *lua.State {
	l := lua.NewState()
	stdlib.Open(l, nil)
	Open(l, nil)
	return l
}
