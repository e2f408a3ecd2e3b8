package proxy

import (
	"strings"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", false}, // as stringmatchlen: the loop never starts
		{"*", "abc", true},
		{"a*", "abc", true},
		{"a*", "bac", false},
		{"*c", "abc", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[ab]x", "bx", true},
		{"[^ab]x", "bx", false},
		{"[^ab]x", "cx", true},
		{"[a-c]x", "Bx", true}, // nocase
		{"[c-a]x", "bx", true}, // reversed range
		{"a\\*", "a*", true},
		{"a\\*", "ab", false},
		{"[\\]]", "]", true},
		{"[abc", "b", true}, // unterminated class
		{"MY?IB", "mylib", true},
		{"***a", "aaa", true},
		{"a**", "a", true},
		{"", "", true},
		{"", "a", false},
		{"a", "", false},
		{"*a*b*c*d*e*f*g*h*i*j*k*z", strings.Repeat("ab", 40), false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.s, true); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
	if globMatch("A", "a", false) {
		t.Error("case-sensitive match of A and a")
	}
}

func TestLibraryName(t *testing.T) {
	tests := []struct {
		code string
		name string
		ok   bool
	}{
		{"#!lua name=lib\nx", "lib", true},
		{"#!LUA   NAME=Lib_1  \nx", "Lib_1", true},
		{"#!lua name=lib", "", false},
		{"#!lua \"name=lib\"\nx", "", false},
		{"#!lua name=a-b\nx", "", false},
		{"#!lua name=\nx", "", false},
		{"#!js name=lib\nx", "", false},
		{"#!lua name=lib x=y\nx", "", false},
		{"lua name=lib\nx", "", false},
	}
	for _, tt := range tests {
		name, ok := libraryName([]byte(tt.code))
		if name != tt.name || ok != tt.ok {
			t.Errorf("libraryName(%q) = %q, %v; want %q, %v", tt.code, name, ok, tt.name, tt.ok)
		}
	}
}

func FuzzGlobMatch(f *testing.F) {
	for _, s := range []string{"*", "a?c", "[a-z]*", "[^x]", "\\*", "[", "[\\"} {
		f.Add(s, "abc")
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 64 {
			return
		}
		globMatch(pattern, s, true)
		globMatch(pattern, s, false)
		if s != "" && !globMatch("*", s, true) {
			t.Fatalf("* does not match %q", s)
		}
	})
}
