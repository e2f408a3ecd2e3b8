package functions

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/luavm"
	"github.com/luaproxy/luaproxy/proxy"
	"github.com/luaproxy/luaproxy/test/harness"
)

func mustDo(t *testing.T, c *redistest.Conn, want string, args ...string) {
	t.Helper()
	if got := string(c.MustDo(t, args...)); got != want {
		t.Fatalf("%q: got %q, want %q", args, got, want)
	}
}

// dumpFromRedis loads libs into a real Redis, alone, and returns its
// FUNCTION DUMP payload.
func dumpFromRedis(t *testing.T, d *redistest.Conn, libs ...string) []byte {
	t.Helper()
	mustDo(t, d, "+OK\r\n", "FUNCTION", "FLUSH")
	for _, lib := range libs {
		d.MustDo(t, "FUNCTION", "LOAD", lib)
	}
	payload := d.MustDo(t, "FUNCTION", "DUMP")
	return payload[strings.Index(string(payload), "\r\n")+2 : len(payload)-2]
}

// TestRestoreDumpFromRedis takes FUNCTION DUMP from a real Redis holding
// several libraries and restores it into luaproxy.
func TestRestoreDumpFromRedis(t *testing.T) {
	h, _ := newHarness(t)
	d := h.Control(t, h.Direct)
	payload := dumpFromRedis(t, d, libA, libB)

	p := h.DialProxy(t)
	mustDo(t, p, "+OK\r\n", "FUNCTION", "FLUSH")
	mustDo(t, p, "+OK\r\n", "FUNCTION", "RESTORE", string(payload))
	mustDo(t, p, "+OK\r\n", "FCALL", "f1", "1", "k", "v")
	mustDo(t, p, "$1\r\nv\r\n", "FCALL_RO", "ro1", "1", "k")
	mustDo(t, p, "-my error\r\n", "FCALL", "g2", "0")
	want := sortedList(d.MustDo(t, "FUNCTION", "LIST", "WITHCODE"))
	if got := sortedList(p.MustDo(t, "FUNCTION", "LIST", "WITHCODE")); string(got) != string(want) {
		t.Fatalf("FUNCTION LIST after RESTORE:\n got %q\nwant %q", got, want)
	}
	// Which library Redis names depends on its hash order.
	if got := string(p.MustDo(t, "FUNCTION", "RESTORE", string(payload))); got != "-ERR Library mylib already exists\r\n" && got != "-ERR Library other already exists\r\n" {
		t.Fatalf("second RESTORE: %q", got)
	}
}

// TestImportDump is the --import-functions-from-upstream path: libraries
// already loaded are kept, bad ones skipped, the rest imported.
func TestImportDump(t *testing.T) {
	h, f := newHarness(t)
	d := h.Control(t, h.Direct)
	payload := dumpFromRedis(t, d, libA, libB)

	p := h.DialProxy(t)
	mustDo(t, p, "+OK\r\n", "FUNCTION", "FLUSH")
	mustDo(t, p, "$6\r\nmylib2\r\n", "FUNCTION", "LOAD", strings.Replace(strings.Replace(libA, "mylib", "mylib2", 1), "'f1'", "'f9'", 1))
	mustDo(t, p, "$5\r\nmylib\r\n", "FUNCTION", "LOAD", "#!lua name=mylib\nredis.register_function('mine', function() return 'kept' end)")
	imported, skipped, err := f.ImportDump(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(imported, ",") != "other" || len(skipped) != 1 {
		t.Fatalf("imported %q, skipped %q", imported, skipped)
	}
	mustDo(t, p, "$4\r\nkept\r\n", "FCALL", "mine", "0")
	mustDo(t, p, "-my error\r\n", "FCALL", "g2", "0")
	if _, _, err := f.ImportDump(context.Background(), []byte("junk")); err == nil {
		t.Fatal("ImportDump of junk succeeded")
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a.lua":     libA,
		"b.lua":     libB,
		"bad.lua":   "#!lua name=bad\nlocal x = 1\nredis.register_function('x', function() end\n",
		"clash.lua": libC,
		"skip.txt":  "not a library",
	}
	for name, code := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vm, err := luavm.New(luavm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Close)
	core, logs := observer.New(zapcore.InfoLevel)
	f, err := proxy.NewFunctions(vm, proxy.FunctionsOptions{}, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	loaded, failed, err := f.LoadDir(context.Background(), dir)
	if err != nil || loaded != 2 || failed != 2 {
		t.Fatalf("LoadDir: loaded %d, failed %d, %v", loaded, failed, err)
	}
	var names []string
	for _, lib := range f.Libraries() {
		names = append(names, lib.Name)
	}
	if strings.Join(names, ",") != "mylib,other" {
		t.Fatalf("libraries %q", names)
	}
	bad := logs.FilterField(zap.String("file", filepath.Join(dir, "bad.lua"))).All()
	if len(bad) != 1 || bad[0].ContextMap()["line"] != int64(4) {
		t.Fatalf("log of bad.lua: %+v", bad)
	}
	if n := logs.FilterField(zap.String("file", filepath.Join(dir, "clash.lua"))).Len(); n != 1 {
		t.Fatalf("%d log entries for clash.lua", n)
	}
	// Reloading (SIGHUP) replaces libraries with the files' new code.
	if err := os.WriteFile(filepath.Join(dir, "a.lua"), []byte(strings.Replace(libA, "'ro1'", "'ro2'", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if loaded, _, err := f.LoadDir(context.Background(), dir); err != nil || loaded != 2 {
		t.Fatalf("second LoadDir: %d, %v", loaded, err)
	}
	if _, ok := f.Libraries()[0].Function("ro2"); !ok {
		t.Fatal("a.lua was not reloaded")
	}
	if _, _, err := f.LoadDir(context.Background(), filepath.Join(dir, "missing")); err == nil {
		t.Fatal("LoadDir of a missing directory succeeded")
	}
}

// TestMulti: FCALL and FUNCTION queue inside MULTI and run at EXEC in
// order with the other commands, as in Redis; queue-time errors fail the
// transaction. Functions alone (no Scripting handler in front, which holds
// transactions) refuses them.
func TestMulti(t *testing.T) {
	h, _ := newHarness(t)
	p := h.DialProxy(t)
	mustDo(t, p, "+OK\r\n", "FUNCTION", "FLUSH")
	mustDo(t, p, "+OK\r\n", "MULTI")
	if got := string(p.MustDo(t, "FCALL", "f1", "1", "k", "v")); !strings.HasPrefix(got, "-ERR luaproxy does not support") {
		t.Fatalf("FCALL in MULTI without Scripting: %q", got)
	}
	mustDo(t, p, "-EXECABORT Transaction discarded because of previous errors.\r\n", "EXEC")

	hs := newScriptingHarness(t)
	setup := []step{cmd("FUNCTION", "FLUSH"), cmd("FUNCTION", "LOAD", libA), cmd("DEL", "k", "a")}
	for name, steps := range map[string][]step{
		"fcall-in-order": {
			cmd("MULTI"),
			cmd("SET", "a", "1"),
			cmd("FCALL", "f1", "1", "k", "v"),
			cmd("GET", "k"),
			cmd("FCALL_RO", "ro1", "1", "k"),
			cmd("INCR", "a"),
			cmd("FCALL", "nope", "0"),
			cmd("EXEC"),
			cmd("GET", "a"),
		},
		"function-subcommands": {
			cmd("MULTI"),
			cmd("FUNCTION", "LOAD", "REPLACE", libA),
			cmd("FUNCTION", "DELETE", "mylib"),
			cmd("FCALL", "f1", "1", "k", "v"),
			cmd("EXEC"),
		},
		"queue-time-errors": {
			cmd("MULTI"),
			cmd("FCALL"),
			cmd("FUNCTION", "NOPE"),
			cmd("FUNCTION", "DELETE"),
			cmd("FCALL", "f1", "1", "k", "v"),
			cmd("EXEC"),
			cmd("GET", "k"),
		},
		"watch": {
			cmd("WATCH", "k"),
			cmd("SET", "k", "changed"),
			cmd("MULTI"),
			cmd("FCALL", "f1", "1", "k", "v"),
			cmd("EXEC"),
			cmd("GET", "k"),
		},
	} {
		t.Run(name, func(t *testing.T) { hs.Diff(t, append(append([]step(nil), setup...), steps...)) })
	}
}

// TestDebugReloadNoFlush: DEBUG RELOAD NOFLUSH with functions loaded
// fails in Redis; through luaproxy (whose registry keys would make the
// upstream abort on duplicated keys) it fails with the same error, and the
// upstream lives on.
func TestDebugReloadNoFlush(t *testing.T) {
	debug := []string{"--enable-debug-command", "yes"}
	h := newScriptingHarness(t, harness.WithUpstreamArgs(debug...), harness.WithDirectArgs(debug...))
	h.Diff(t, []step{
		cmd("FUNCTION", "FLUSH"),
		cmd("FUNCTION", "LOAD", libA),
		cmd("DEBUG", "RELOAD", "NOFLUSH"),
		cmd("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH"),
		cmd("FCALL", "f1", "1", "k", "v"),
		cmd("PING"),
	})
}

// newScriptingHarness runs Functions behind a Scripting handler, as the
// luaproxy binary does.
func newScriptingHarness(t *testing.T, opts ...harness.Option) *harness.Harness {
	t.Helper()
	vm, f := newFunctions(t)
	opts = append(opts, harness.WithHandler(proxy.NewScripting(vm, proxy.ScriptingOptions{Functions: f}, nil, nil)))
	return harness.Start(t, opts...)
}

// TestKillAndStats runs a function that never ends, watches it in FUNCTION
// STATS from another connection and kills it.
func TestKillAndStats(t *testing.T) {
	h, _ := newHarness(t)
	p := h.DialProxy(t)
	mustDo(t, p, "+OK\r\n", "FUNCTION", "FLUSH")
	mustDo(t, p, "$4\r\nspin\r\n", "FUNCTION", "LOAD", "#!lua name=spin\nredis.register_function{function_name='spin', callback=function() while true do end end, flags={'no-writes'}}")
	if err := p.Send("FCALL_RO", "spin", "0", "x"); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	q := h.DialProxy(t)
	// FUNCTION KILL reaches only busy scripts; luaproxy follows the
	// threshold set through any client, as Redis's tests set it.
	mustDo(t, q, "+OK\r\n", "CONFIG", "SET", "busy-reply-threshold", "0")
	deadline := time.Now().Add(10 * time.Second)
	for {
		stats := string(q.MustDo(t, "FUNCTION", "STATS"))
		if strings.HasPrefix(stats, "*4\r\n$14\r\nrunning_script\r\n*6\r\n$4\r\nname\r\n$4\r\nspin\r\n$7\r\ncommand\r\n*4\r\n$8\r\nFCALL_RO\r\n$4\r\nspin\r\n$1\r\n0\r\n$1\r\nx\r\n$11\r\nduration_ms\r\n:") {
			break
		}
		if !strings.HasPrefix(stats, "*4\r\n$14\r\nrunning_script\r\n$-1\r\n") || time.Now().After(deadline) {
			t.Fatalf("FUNCTION STATS: %q", stats)
		}
		time.Sleep(time.Millisecond)
	}
	// FUNCTION STATS shows the call from the moment luaproxy takes it; the
	// Lua state may still be getting ready then (NOTBUSY): ask again.
	q.WaitReply(t, "+OK\r\n", "FUNCTION", "KILL")
	got, err := p.Read()
	if err != nil || !strings.HasPrefix(string(got), "-") {
		t.Fatalf("killed FCALL: %q, %v", got, err)
	}
	mustDo(t, q, "-NOTBUSY No scripts in execution right now.\r\n", "FUNCTION", "KILL")
	mustDo(t, p, "+PONG\r\n", "PING")
}

// TestImportUpstream copies the upstream's own libraries into luaproxy,
// and does nothing against an upstream without FUNCTION.
func TestImportUpstream(t *testing.T) {
	_, f := newFunctions(t)
	h := harness.Start(t, harness.WithScripting(), harness.WithHandler(f))
	u := h.Control(t, h.Upstream)
	for _, lib := range []string{libA, libB} {
		u.MustDo(t, "FUNCTION", "LOAD", lib)
	}
	if err := f.ImportUpstream(context.Background(), h.Proxy); err != nil {
		t.Fatal(err)
	}
	p := h.DialProxy(t)
	mustDo(t, p, "+OK\r\n", "FCALL", "f1", "1", "k", "v")
	mustDo(t, p, "-my error\r\n", "FCALL", "g2", "0")

	h2, f2 := newHarness(t)
	if err := f2.ImportUpstream(context.Background(), h2.Proxy); err != nil {
		t.Fatalf("import from an upstream without FUNCTION: %v", err)
	}
	if n := len(f2.Libraries()); n != 0 {
		t.Fatalf("%d libraries imported from an upstream without FUNCTION", n)
	}
}

// TestAuth: a client that has not authenticated gets NOAUTH from every
// FUNCTION subcommand and from FCALL of a function that calls Redis, as
// from Redis; after AUTH everything works.
func TestAuth(t *testing.T) {
	_, f := newFunctions(t)
	h := harness.Start(t, harness.WithHandler(f),
		harness.WithServerSetup([]string{"CONFIG", "SET", "requirepass", "secret"}),
		harness.WithServerAuth("secret"))
	d := h.Control(t, h.Direct)
	mustDo(t, d, "+OK\r\n", "FUNCTION", "FLUSH")
	mustDo(t, d, "$5\r\nmylib\r\n", "FUNCTION", "LOAD", libA)
	p := h.DialProxy(t)
	mustDo(t, p, "-NOAUTH Authentication required.\r\n", "FUNCTION", "LOAD", libA)
	mustDo(t, p, "+OK\r\n", "AUTH", "secret")
	mustDo(t, p, "$5\r\nmylib\r\n", "FUNCTION", "LOAD", libA)
	h.Diff(t, []step{
		cmd("FUNCTION", "LOAD", libA),
		list(),
		cmd("FUNCTION", "DUMP"),
		cmd("FUNCTION", "STATS"),
		cmd("FUNCTION", "HELP"),
		cmd("FUNCTION", "FLUSH"),
		cmd("FUNCTION", "DELETE", "mylib"),
		cmd("FUNCTION", "RESTORE", "x"),
		cmd("FCALL", "f1", "1", "k", "v"),
		cmd("FUNCTION", "NOPE"),
		cmd("FUNCTION"),
		cmd("AUTH", "secret"),
		list(),
		cmd("FCALL", "f1", "1", "k", "v"),
		cmd("GET", "k"),
	})
}

// TestCommandGetKeys: COMMAND GETKEYS and GETKEYSANDFLAGS of the scripting
// commands, which the upstream has renamed away, answer as Redis does.
func TestCommandGetKeys(t *testing.T) {
	h := newScriptingHarness(t)
	var steps []step
	for _, sub := range []string{"GETKEYS", "GETKEYSANDFLAGS"} {
		for _, c := range [][]string{
			{"EVAL", "return 1", "2", "a", "b", "c"},
			{"EVAL", "return 1", "0"},
			{"EVAL", "return 1", "0", "x"},
			{"EVAL_RO", "return 1", "1", "a"},
			{"EVALSHA", "0123456789abcdef0123456789abcdef01234567", "1", "k"},
			{"EVALSHA_RO", "0123456789abcdef0123456789abcdef01234567", "1", "k"},
			{"FCALL", "f", "3", "a", "b", "c"},
			{"FCALL_RO", "f", "1", "a"},
			{"EVAL", "return 1", "5", "a"},
			{"EVAL", "return 1", "-1"},
			{"EVAL", "return 1", "x"},
			{"EVAL", "return 1"},
			{"FCALL"},
			{"SCRIPT", "LOAD", "x"},
			{"FUNCTION", "LIST"},
		} {
			steps = append(steps, cmd(append([]string{"COMMAND", sub}, c...)...))
		}
	}
	h.Diff(t, steps)
}
