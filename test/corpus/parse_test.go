package corpus

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := `
-- plain --
return 1

-- with attrs | keys=a,b args="x y","c,d","",z resp=3 setup=SET,k,"v 1" setup=DEL,x err --
local a = 1
return a

-- empty args | args= --
return #ARGV
`
	cases, err := Parse("f.txt", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []*Case{
		{File: "f.txt", Name: "plain", Line: 2, Body: "return 1", Protos: []int{2, 3}},
		{File: "f.txt", Name: "with attrs", Line: 5, Body: "local a = 1\nreturn a",
			Keys: []string{"a", "b"}, Args: []string{"x y", "c,d", "", "z"}, Protos: []int{3},
			Setup: [][]string{{"SET", "k", "v 1"}, {"DEL", "x"}}, Err: true},
		{File: "f.txt", Name: "empty args", Line: 9, Body: "return #ARGV", Protos: []int{2, 3}},
	}
	if !reflect.DeepEqual(cases, want) {
		for i := range cases {
			t.Logf("got %+v", *cases[i])
		}
		t.Fatalf("parse mismatch")
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"return 1\n-- a --\n",
		"-- a --\n-- a --\n",
		"-- a | bogus=1 --\n",
		"-- a | resp=4 --\n",
		"-- a | args=\"x --\n",
		"-- a | setup= --\n",
	} {
		if _, err := Parse("f.txt", strings.NewReader(in)); err == nil {
			t.Errorf("Parse(%q): no error", in)
		}
	}
}

func TestParseList(t *testing.T) {
	tests := map[string][]string{
		"":           nil,
		"a":          {"a"},
		"a,b":        {"a", "b"},
		"a,":         {"a", ""},
		`"a,b",c`:    {"a,b", "c"},
		`"\x00\r\n"`: {"\x00\r\n"},
		`"",""`:      {"", ""},
	}
	for in, want := range tests {
		got, err := parseList(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseList(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestSplitKnown(t *testing.T) {
	id, reason := splitKnown("strings.txt:gsub with spaces  go-lua limit: x")
	if id != "strings.txt:gsub with spaces" || reason != "go-lua limit: x" {
		t.Errorf("got %q %q", id, reason)
	}
}
