package sdsargs

import (
	"reflect"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		line string
		want []string
		ok   bool
	}{
		{"", []string{}, true},
		{"  \t ", []string{}, true},
		{"SET k v", []string{"SET", "k", "v"}, true},
		{`"a b" 'c d'`, []string{"a b", "c d"}, true},
		{`name="lib" x`, []string{"name=lib", "x"}, true},
		{`"\x41\n\q"`, []string{"A\nq"}, true},
		{`'it\'s' '\n'`, []string{"it's", `\n`}, true},
		{"a\vb", []string{"a\vb"}, true},
		{"a\x00b c", []string{"a"}, true},
		{`"unterminated`, nil, false},
		{`'unterminated`, nil, false},
		{`"a"b`, nil, false},
		{`'a'b`, nil, false},
	}
	for _, tt := range tests {
		buf, ends, ok := Split([]byte(tt.line), nil, nil)
		if ok != tt.ok {
			t.Errorf("Split(%q) ok = %v, want %v", tt.line, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		got := []string{}
		start := 0
		for _, end := range ends {
			got = append(got, string(buf[start:end]))
			start = end
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Split(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}
