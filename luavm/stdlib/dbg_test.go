package stdlib

import "testing"

func TestDbg(t *testing.T) {
	l, _, lim := newState()
	for _, s := range []string{
		`return {xpcall(function() error('boom') end, function(m) return 'handled: ' .. m end)}`,
		`return {xpcall(function() error('boom') end, 1)}`,
		`return {xpcall(function() return 'ok' end, 1)}`,
		`return {pcall(xpcall, function() end)}`,
	} {
		t.Log(s)
		t.Log(runGo(l, lim, s))
	}
}
