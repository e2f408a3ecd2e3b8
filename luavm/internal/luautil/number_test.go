package luautil

import (
	"math"
	"testing"
)

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"10", 10, true}, {"  10\t\n", 10, true}, {"0x10", 16, true}, {"-0X1f", -31, true}, {"1e2", 100, true},
		{".5", 0.5, true}, {"5.", 5, true}, {"0x1p4", 16, true}, {"0x.8", 0.5, true}, {"1e500", math.Inf(1), true},
		{"-inf", math.Inf(-1), true}, {"Infinity", math.Inf(1), true}, {"10\x00junk", 10, true},
		{"", 0, false}, {" ", 0, false}, {"1e", 0, false}, {"0x", 0, false}, {"1 0", 0, false}, {"--1", 0, false},
		{".", 0, false}, {"infx", 0, false}, {"1_000", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseNumber(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("ParseNumber(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if f, ok := ParseNumber("nan"); !ok || !math.IsNaN(f) || math.Signbit(f) {
		t.Errorf("nan: %v %v", f, ok)
	}
	if f, ok := ParseNumber("-nan(123)"); !ok || !math.IsNaN(f) || !math.Signbit(f) {
		t.Errorf("-nan(123): %v %v", f, ok)
	}
}

func TestChunkID(t *testing.T) {
	long := "0123456789012345678901234567890123456789012345678901234567890123456789"
	tests := []struct {
		src  string
		size int
		want string
	}{
		{"=user_script", IDSize, "user_script"},
		{"@user_script", IDSize, "user_script"},
		{"return 1", IDSize, `[string "return 1"]`},
		{"a\nb", IDSize, `[string "a..."]`},
		{"a\rb", IDSize, `[string "a..."]`},
		{"", IDSize, `[string ""]`},
		{long, IDSize, `[string "` + long[:43] + `..."]`},
		{long, SyntaxIDSize, `[string "` + long[:63] + `..."]`},
		{"=" + long, IDSize, long[:59]},
		{"@" + long, IDSize, "..." + long[len(long)-52:]},
	}
	for _, tt := range tests {
		if got := ChunkID(tt.src, tt.size); got != tt.want {
			t.Errorf("ChunkID(%q, %d) = %q, want %q", tt.src, tt.size, got, tt.want)
		}
	}
}

func TestSyntaxMessage(t *testing.T) {
	tests := []struct{ in, want string }{
		{`x:1: unexpected symbol near <eof>`, `x:1: unexpected symbol near '<eof>'`},
		{`x:1:  expected near 'end'`, `x:1: '<name>' expected near 'end'`},
		{`x:1: <eof> expected near 'end'`, `x:1: '<eof>' expected near 'end'`},
		{`x:1: syntax error near 'b'`, `x:1: '=' expected near 'b'`},
		{`x:1: unexpected symbol near 1.500000`, `x:1: unexpected symbol near '1.5'`},
		{`x:1: 'then' expected near 'x'`, `x:1: 'then' expected near 'x'`},
		{`x:1: syntax error near '='`, `x:1: unexpected symbol near '='`},
		{`x:1: syntax error near ','`, `x:1: unexpected symbol near ','`},
		{`x:2: = expected near 'is'`, `x:2: '=' expected near 'is'`},
		{`x:3: ) expected (to close ( at line 1) near 'x'`, `x:3: ')' expected (to close '(' at line 1) near 'x'`},
		{`x:3: 'end' expected (to close 'function' at line 1) near <eof>`, `x:3: 'end' expected (to close 'function' at line 1) near '<eof>'`},
		{`x:1: <name> or '...' expected near '1'`, `x:1: <name> or '...' expected near '1'`},
		{`x:1: '=' or 'in' expected near 'y'`, `x:1: '=' or 'in' expected near 'y'`},
		{`[string "a:1: b expected"]:1: syntax error near 'c'`, `[string "a:1: b expected"]:1: '=' expected near 'c'`},
		{`x:1: unfinished string near '"a near b'`, `x:1: unfinished string near '"a near b'`},
		{`no position`, `no position`},
		{`x:1: function arguments expected near '.'`, `x:1: function arguments expected near '.'`},
	}
	for _, tt := range tests {
		if got := SyntaxMessage(tt.in); got != tt.want {
			t.Errorf("SyntaxMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
