package proxy

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/luavm"
)

func TestDecodeSHA(t *testing.T) {
	body := []byte("return 1")
	sum := sha1.Sum(body)
	lower := hex.EncodeToString(sum[:])
	tests := []struct {
		in string
		ok bool
	}{
		{lower, true},
		{strings.ToUpper(lower), true},
		{lower[:39], false},
		{lower + "0", false},
		{"", false},
		{strings.Repeat("g", 40), false},
		{lower[:39] + " ", false},
	}
	for _, tt := range tests {
		got, ok := decodeSHA([]byte(tt.in))
		if ok != tt.ok || ok && got != sum {
			t.Errorf("decodeSHA(%q) = %x, %v; want ok %v", tt.in, got, ok, tt.ok)
		}
	}
}

func TestDecodeSHAAllocs(t *testing.T) {
	in := []byte("E0E1F9FABFC9D4800C877A703B823AC0578FF8DB")
	c := newScriptCache(10, nil)
	if n := testing.AllocsPerRun(100, func() {
		sum, _ := decodeSHA(in)
		c.lookup(sum)
	}); n != 0 {
		t.Errorf("EVALSHA lookup allocates %v times", n)
	}
}

func TestScriptCacheEviction(t *testing.T) {
	c := newScriptCache(2, nil)
	add := func(body string, loaded bool) *cachedScript {
		e, _ := c.forBody([]byte(body))
		return c.add(e, loaded)
	}
	exists := func(body string) bool {
		return c.exists([]byte(fmt.Sprintf("%x", sha1.Sum([]byte(body)))))
	}
	add("loaded", true)
	add("a", false)
	add("b", false)
	// Touch a, so b is the least recently used.
	if e, cached := c.forBody([]byte("a")); !cached || e == nil {
		t.Fatal("a not cached")
	}
	add("c", false)
	for body, want := range map[string]bool{"loaded": true, "a": true, "b": false, "c": true} {
		if got := exists(body); got != want {
			t.Errorf("exists(%q) = %v, want %v", body, got, want)
		}
	}
	// SCRIPT LOAD of a script EVAL added makes it permanent.
	add("a", true)
	add("d", false)
	add("e", false)
	if !exists("a") || exists("c") || !exists("d") || !exists("e") {
		t.Errorf("after loading a: a %v c %v d %v e %v", exists("a"), exists("c"), exists("d"), exists("e"))
	}
	if n := c.len(); n != 4 {
		t.Errorf("len = %d, want 4", n)
	}
	c.flush()
	if c.len() != 0 || exists("loaded") {
		t.Error("flush left scripts")
	}
}

func TestUnknownSubcommand(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"script", "foo"}, "-ERR unknown subcommand 'foo'. Try SCRIPT HELP.\r\n"},
		{[]string{"Script", "a\r\nb"}, "-ERR unknown subcommand 'a  b'. Try SCRIPT HELP.\r\n"},
		{[]string{"SCRIPT", "x\x00y"}, "-ERR unknown subcommand 'x'. Try SCRIPT HELP.\r\n"},
		{[]string{"SCRIPT", strings.Repeat("z", 130)}, "-ERR unknown subcommand '" + strings.Repeat("z", 128) + "'. Try SCRIPT HELP.\r\n"},
	}
	for _, tt := range tests {
		argv := make([][]byte, len(tt.argv))
		for i, a := range tt.argv {
			argv[i] = []byte(a)
		}
		if got := string(unknownSubcommand(argv)); got != tt.want {
			t.Errorf("unknownSubcommand(%q) = %q, want %q", tt.argv, got, tt.want)
		}
	}
}

func TestIsCompileError(t *testing.T) {
	for reply, want := range map[string]bool{
		"-ERR Error compiling script (new function): user_script:1: x\r\n": true,
		"-ERR Unexpected flag in script shebang: x\r\n":                    true,
		"-ERR user_script:1: Script attempted to access a global\r\n":      false,
		":1\r\n": false,
		"":       false,
	} {
		if got := isCompileError([]byte(reply)); got != want {
			t.Errorf("isCompileError(%q) = %v", reply, got)
		}
	}
}

// FuzzDecodeSHA checks decodeSHA against encoding/hex.
func FuzzDecodeSHA(f *testing.F) {
	f.Add("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
	f.Add("E0E1F9FABFC9D4800C877A703B823AC0578FF8DB")
	f.Add("short")
	f.Fuzz(func(t *testing.T, s string) {
		sum, ok := decodeSHA([]byte(s))
		want, err := hex.DecodeString(s)
		wantOK := err == nil && len(s) == 40
		if ok != wantOK || ok && string(sum[:]) != string(want) {
			t.Fatalf("decodeSHA(%q) = %x, %v; encoding/hex: %x, %v", s, sum, ok, want, err)
		}
	})
}

// TestSlowScriptLog: a run over slow-script-threshold is logged with its
// SHA1, duration, calls and keys count.
func TestSlowScriptLog(t *testing.T) {
	up := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	vm, err := luavm.New(luavm.Config{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Close)
	core, logs := observer.New(zap.WarnLevel)
	cfg := config.Default()
	cfg.Upstream = "redis://" + up.Addr
	cfg.SlowScriptThreshold = time.Nanosecond
	srv, err := New(cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetHandler(NewScripting(vm, ScriptingOptions{}, nil, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	body := "redis.call('SET', KEYS[1], 'v') return redis.call('GET', KEYS[1])"
	redistest.Dial(t, ln.Addr().String()).MustDo(t, "EVAL", body, "1", "k")
	entries := logs.FilterMessage("slow script").All()
	if len(entries) != 1 {
		t.Fatalf("%d slow-script entries, want 1", len(entries))
	}
	sum := sha1.Sum([]byte(body))
	f := entries[0].ContextMap()
	if f["kind"] != "script" || f["name"] != hex.EncodeToString(sum[:]) || f["calls"] != int64(2) || f["keys"] != int64(1) {
		t.Fatalf("slow-script entry: %v", f)
	}
}
