package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/luaproxy/luaproxy/luavm"
)

// lintFunctions is `luaproxy lint-functions DIR`: it loads every *.lua
// function library of DIR, as --functions-dir would, into a scratch Lua
// VM, and reports each library that would not load as "FILE:LINE:
// message" (or "FILE: message" when the error has no line), then "N
// libraries ok, M failed". It returns exitError if any failed, so that CI
// pipelines that ship functions catch them before a proxy does. Nothing
// is sent to Redis.
func lintFunctions(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: luaproxy lint-functions DIR")
		return exitUsage
	}
	problems, ok, err := lintDir(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "luaproxy: %v\n", err)
		return exitError
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	fmt.Fprintf(stdout, "%d libraries ok, %d failed\n", ok, len(problems))
	if len(problems) > 0 {
		return exitError
	}
	return exitOK
}

// lintProblem is a library file that does not load.
type lintProblem struct {
	File string
	Line int // 0 if the error names no line
	Msg  string
}

func (p lintProblem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Msg)
}

// lintDir loads the libraries of dir in file-name order, as
// Functions.LoadDir does, and returns the files that fail and how many
// loaded. Besides what luavm.VM.LoadLibrary refuses, a file fails if one
// of its functions is already defined by another file's library (the
// server refuses it with "Function x already exists") or if its library
// name is already taken by an earlier file (the server would silently
// replace the earlier library). err is only about reading dir.
func lintDir(dir string) (problems []lintProblem, ok int, err error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, 0, fmt.Errorf("functions dir: %w", err)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.lua"))
	if err != nil {
		return nil, 0, fmt.Errorf("functions dir %s: %w", dir, err)
	}
	sort.Strings(paths)
	vm, err := luavm.New(luavm.Config{PoolSize: 1})
	if err != nil {
		return nil, 0, fmt.Errorf("create Lua VM: %w", err)
	}
	defer vm.Close()

	libFile := map[string]string{} // library name -> file that defines it
	fnLib := map[string]string{}   // function name -> library that defines it
	for _, path := range paths {
		code, err := os.ReadFile(path)
		if err != nil {
			problems = append(problems, lintProblem{File: path, Msg: err.Error()})
			continue
		}
		lib, reply := vm.LoadLibrary(code)
		if reply != nil {
			msg := strings.TrimPrefix(strings.TrimSpace(string(reply)), "-ERR ")
			problems = append(problems, lintProblem{File: path, Line: errorLineOrZero(msg), Msg: msg})
			continue
		}
		if prev, dup := libFile[lib.Name]; dup {
			problems = append(problems, lintProblem{File: path,
				Msg: fmt.Sprintf("library '%s' is also defined in %s", lib.Name, prev)})
			continue
		}
		if msg := functionClash(lib, fnLib); msg != "" {
			problems = append(problems, lintProblem{File: path, Msg: msg})
			continue
		}
		libFile[lib.Name] = path
		for _, f := range lib.Functions {
			fnLib[f.Name] = lib.Name
		}
		ok++
	}
	return problems, ok, nil
}

// functionClash names the first function of lib that another library of
// fnLib already defines, in the server's words, or returns "".
func functionClash(lib *luavm.Library, fnLib map[string]string) string {
	for _, f := range lib.Functions {
		if other, taken := fnLib[f.Name]; taken {
			return fmt.Sprintf("Function %s already exists (in library '%s')", f.Name, other)
		}
	}
	return ""
}

// errorLineOrZero is luavm.ErrorLine with 0 for a message that names no line.
func errorLineOrZero(msg string) int {
	n, _ := luavm.ErrorLine(msg)
	return n
}
