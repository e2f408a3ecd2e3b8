//go:build corpus_nolua

package corpus

import "testing"

// With the corpus_nolua build tag the runner builds without luavm, so that
// cases can be checked against Redis (-corpus.redis-only) while luavm does
// not compile.
func newLuavm(t *testing.T) evaluator {
	t.Skip("built with -tags corpus_nolua: only -corpus.redis-only is available")
	return nil
}
