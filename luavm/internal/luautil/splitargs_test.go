package luautil

import (
	"reflect"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string // nil: sdssplitargs fails
	}{
		{"", []string{}},
		{"  \t ", []string{}},
		{"#!lua", []string{"#!lua"}},
		{"#!lua  name=foo ", []string{"#!lua", "name=foo"}},
		{`#!lua name="foo"`, []string{"#!lua", "name=foo"}},
		{`#!lua name='foo'`, []string{"#!lua", "name=foo"}},
		{`"a b" 'c d'`, []string{"a b", "c d"}},
		{`"\x41\x4a\x4" "\n\r\t\b\a\q\\\""`, []string{"AJx4", "\n\r\t\b\aq\\\""}},
		{`'it\'s' '\n'`, []string{"it's", `\n`}},
		{`"\x00"`, []string{"\x00"}},
		{"a\vb\fc", []string{"a\vb\fc"}},
		{"\"a\"\vb", []string{"a", "b"}},
		{`""`, []string{""}},
		{`a"b c"d`, nil},
		{`a"b c" d`, []string{"ab c", "d"}},
		{`"abc`, nil},
		{`'abc`, nil},
		{`"abc\`, nil},
		{`"a"b`, nil},
		{`'a'b`, nil},
		{"a\x00\"", []string{"a"}},
	}
	for _, tt := range tests {
		got, ok := SplitArgs(tt.in)
		if tt.want == nil {
			if ok {
				t.Errorf("SplitArgs(%q) = %q, true; want failure", tt.in, got)
			}
			continue
		}
		if !ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}
