package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLintFunctions(t *testing.T) {
	type file struct{ name, code string }
	good := file{"good.lua", "#!lua name=good\nredis.register_function('f1', function() return 1 end)\n"}
	tests := []struct {
		name   string
		files  []file
		code   int
		stdout string // with DIR standing for the directory
	}{
		{"empty", nil, exitOK, "0 libraries ok, 0 failed\n"},
		{"good only", []file{good}, exitOK, "1 libraries ok, 0 failed\n"},
		{"syntax error", []file{good,
			{"bad.lua", "#!lua name=bad\n\nlocal x = = 1\n"}},
			exitError, "DIR/bad.lua:3: Error compiling function: user_function:3: unexpected symbol near '='\n" +
				"1 libraries ok, 1 failed\n"},
		{"runtime error", []file{good,
			{"boom.lua", "#!lua name=boom\nlocal t\n\nt.x = 1\n"}},
			exitError, "DIR/boom.lua:4: Error registering functions: ERR user_function:4: attempt to index local 't' (a nil value)\n" +
				"1 libraries ok, 1 failed\n"},
		{"no metadata", []file{{"x.lua", "return 1\n"}}, exitError,
			"DIR/x.lua: Missing library metadata\n0 libraries ok, 1 failed\n"},
		{"function clash", []file{good,
			{"other.lua", "#!lua name=other\nredis.register_function('f1', function() return 2 end)\n"}},
			exitError, "DIR/other.lua: Function f1 already exists (in library 'good')\n1 libraries ok, 1 failed\n"},
		{"library twice", []file{good, {"good2.lua", good.code}}, exitError,
			"DIR/good2.lua: library 'good' is also defined in DIR/good.lua\n1 libraries ok, 1 failed\n"},
		{"other files ignored", []file{good, {"notes.txt", "not lua"}}, exitOK, "1 libraries ok, 0 failed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.code), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var out, errw bytes.Buffer
			code := run([]string{"lint-functions", dir}, noEnv, &out, &errw)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errw.String())
			}
			want := strings.ReplaceAll(tt.stdout, "DIR", dir)
			if out.String() != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), want)
			}
		})
	}
}

func TestLintFunctionsUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
	}{
		{nil, exitUsage},
		{[]string{"a", "b"}, exitUsage},
		{[]string{"--help"}, exitUsage},
		{[]string{filepath.Join(t.TempDir(), "missing")}, exitError},
	}
	for _, tt := range tests {
		var out, errw bytes.Buffer
		if code := run(append([]string{"lint-functions"}, tt.args...), noEnv, &out, &errw); code != tt.code {
			t.Errorf("%q: exit %d, want %d", tt.args, code, tt.code)
		}
		if errw.Len() == 0 {
			t.Errorf("%q: nothing on stderr", tt.args)
		}
	}
}
