package cjson

import (
	"testing"

	"github.com/Shopify/go-lua"

	"github.com/luaproxy/luaproxy/luavm/cmsgpack"
	"github.com/luaproxy/luaproxy/luavm/internal/luadiff"
	"github.com/luaproxy/luaproxy/luavm/stdlib"
)

// newDiffer pairs a redis-server with a state from newState.
func newDiffer(t testing.TB) *luadiff.Differ { return luadiff.New(t, newState(), nil) }

// newState is a go-lua state shaped like Redis's for these tests: Lua
// 5.1's base, string, table and math libraries, cmsgpack and this library.
func newState() *lua.State {
	l := lua.NewState()
	stdlib.Open(l, nil)
	cmsgpack.Open(l, nil)
	Open(l, nil)
	return l
}

// TestCorpusAgainstRedis runs the end-to-end corpus cases for cjson here,
// where failures are easier to read than through the proxy.
func TestCorpusAgainstRedis(t *testing.T) {
	cases := luadiff.ReadCorpus(t, "../../test/corpus/testdata/cjson.txt")
	if len(cases) < 120 {
		t.Fatalf("corpus has %d cases, want at least 120", len(cases))
	}
	newDiffer(t).Run(t, cases)
}
