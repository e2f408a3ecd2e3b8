package stdlib

import "testing"

func TestQuick(t *testing.T) {
	d := newDiffer(t)
	compare(t, d, exprs(
		"string.rep()",
		"string.rep('x')",
		"('x'):rep()",
		"pcall(string.rep)",
		"select(2, pcall(string.rep))",
		"string.rep('ab', 3)",
		"tostring(1/0)",
		"string.format('%5.2f|%d|%s', 3.14159, 3.7, 'x')",
		"string.gsub('hello world', 'o', '0')",
		"string.match('key:123', '(%a+):(%d+)')",
		"string.rep('x', 2^31)",
		"tostring(table.concat({1,2,3}, ','))",
		"table.concat({1,{},3})",
		"math.random()*1e9",
		"tostring(math.random())",
	))
}
