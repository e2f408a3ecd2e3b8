package functions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/luavm"
	"github.com/luaproxy/luaproxy/proxy"
	"github.com/luaproxy/luaproxy/registry"
)

// instance is one luaproxy with a registry-backed Functions.
type instance struct {
	addr  string
	funcs *proxy.Functions
	store *registry.Store
	stop  func()
}

// startInstance starts a luaproxy in front of upstream whose functions
// live in the upstream's registry.
func startInstance(t *testing.T, upstream string) *instance {
	t.Helper()
	ctx := context.Background()
	store, err := registry.Open(ctx, registry.Options{Addr: upstream, DB: registry.DefaultDB})
	if err != nil {
		t.Fatal(err)
	}
	vm, err := luavm.New(luavm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := proxy.NewFunctions(vm, proxy.FunctionsOptions{Store: store}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminListen = ""
	cfg.Upstream = "redis://" + upstream
	srv, err := proxy.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetHandler(f)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	in := &instance{addr: ln.Addr().String(), funcs: f, store: store}
	stopped := false
	in.stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil && !errors.Is(err, proxy.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		f.Close()
		store.Close()
		vm.Close()
	}
	t.Cleanup(in.stop)
	return in
}

// TestSharedRegistry runs two luaproxy instances in front of one Redis:
// a library loaded through one is callable through the other, survives a
// restart of either and a FLUSHALL of the upstream.
func TestSharedRegistry(t *testing.T) {
	up := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	a := startInstance(t, up.Addr)
	b := startInstance(t, up.Addr)
	ca, cb := redistest.Dial(t, a.addr), redistest.Dial(t, b.addr)

	mustDo(t, ca, "$5\r\nmylib\r\n", "FUNCTION", "LOAD", libA)
	// b has not necessarily heard of it yet: FCALL catches up on a miss.
	mustDo(t, cb, "+OK\r\n", "FCALL", "f1", "1", "k", "v")
	mustDo(t, ca, "$1\r\nv\r\n", "FCALL_RO", "ro1", "1", "k")
	mustDo(t, cb, "-ERR Library 'mylib' already exists\r\n", "FUNCTION", "LOAD", libA)
	mustDo(t, cb, "$5\r\nother\r\n", "FUNCTION", "LOAD", libB)
	if la, lb := ca.MustDo(t, "FUNCTION", "LIST", "WITHCODE"), cb.MustDo(t, "FUNCTION", "LIST", "WITHCODE"); string(la) != string(lb) {
		t.Fatalf("FUNCTION LIST differs:\n a %q\n b %q", la, lb)
	}
	if da, db := ca.MustDo(t, "FUNCTION", "DUMP"), cb.MustDo(t, "FUNCTION", "DUMP"); string(da) != string(db) {
		t.Fatal("FUNCTION DUMP differs between the instances")
	}
	mustDo(t, cb, "-ERR Function f1 already exists\r\n", "FUNCTION", "LOAD", libC)

	// A replaced library reaches the other instance.
	mustDo(t, ca, "$5\r\nother\r\n", "FUNCTION", "LOAD", "REPLACE", "#!lua name=other\nredis.register_function('g9', function() return 9 end)")
	mustDo(t, cb, ":9\r\n", "FCALL", "g9", "0")
	cb.WaitReply(t, "-ERR Function not found\r\n", "FCALL", "g1", "0")

	// Restart b: it loads the libraries from the registry.
	b.stop()
	b = startInstance(t, up.Addr)
	cb = redistest.Dial(t, b.addr)
	mustDo(t, cb, "$1\r\nv\r\n", "FCALL_RO", "ro1", "1", "k")

	// FLUSHALL wipes the registry with the data; the instances keep
	// answering and the registry is written back.
	mustDo(t, ca, "+OK\r\n", "FLUSHALL")
	mustDo(t, ca, "+OK\r\n", "FCALL", "f1", "1", "k", "w")
	mustDo(t, cb, "$1\r\nw\r\n", "FCALL_RO", "ro1", "1", "k")
	if err := a.store.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := startInstance(t, up.Addr)
	cc := redistest.Dial(t, c.addr)
	mustDo(t, cc, ":9\r\n", "FCALL", "g9", "0")

	// Deletion and flush reach the other instances.
	mustDo(t, cc, "+OK\r\n", "FUNCTION", "DELETE", "other")
	ca.WaitReply(t, "-ERR Function not found\r\n", "FCALL", "g9", "0")
	mustDo(t, ca, "+OK\r\n", "FUNCTION", "FLUSH")
	cb.WaitReply(t, "-ERR Function not found\r\n", "FCALL", "f1", "1", "k", "v")
	cc.WaitReply(t, "*0\r\n", "FUNCTION", "LIST")

	// RESTORE through one instance is seen by the others.
	payload := string(registry.EncodeDump([]string{libA, libB}))
	mustDo(t, cb, "+OK\r\n", "FUNCTION", "RESTORE", payload)
	mustDo(t, cc, "-my error\r\n", "FCALL", "g2", "0")
	if got := string(ca.MustDo(t, "FUNCTION", "STATS")); !strings.Contains(got, "libraries_count\r\n:2\r\n$15\r\nfunctions_count\r\n:5\r\n") {
		t.Fatalf("FUNCTION STATS on a: %q", got)
	}
}

// TestFlushOverMaxmemory: the registry cannot record a change while the
// upstream is over maxmemory, but Redis lets FUNCTION FLUSH and DELETE
// through then: luaproxy applies them at once and writes them back to the
// registry once the upstream takes writes again, when the other instances
// see them too. A LOAD is refused, as Redis refuses it.
func TestFlushOverMaxmemory(t *testing.T) {
	up := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	a, b := startInstance(t, up.Addr), startInstance(t, up.Addr)
	ca, cb := redistest.Dial(t, a.addr), redistest.Dial(t, b.addr)
	mustDo(t, ca, "$5\r\nmylib\r\n", "FUNCTION", "LOAD", libA)
	mustDo(t, ca, "$5\r\nother\r\n", "FUNCTION", "LOAD", libB)
	cb.WaitReply(t, "-my error\r\n", "FCALL", "g2", "0")
	mustDo(t, ca, "+OK\r\n", "CONFIG", "SET", "maxmemory", "1")
	if got := string(ca.MustDo(t, "FUNCTION", "LOAD", libC)); !strings.HasPrefix(got, "-OOM ") {
		t.Fatalf("FUNCTION LOAD over maxmemory: %q", got)
	}
	mustDo(t, ca, "+OK\r\n", "FUNCTION", "DELETE", "other")
	mustDo(t, ca, "-ERR Function not found\r\n", "FCALL", "g1", "0")
	mustDo(t, ca, "+OK\r\n", "FUNCTION", "FLUSH")
	mustDo(t, ca, "-ERR Function not found\r\n", "FCALL", "f1", "1", "k", "v")
	mustDo(t, ca, "*0\r\n", "FUNCTION", "LIST")
	// b has not heard of it: the registry could not record it.
	mustDo(t, cb, "$-1\r\n", "FCALL_RO", "ro1", "1", "k")
	mustDo(t, ca, "+OK\r\n", "CONFIG", "SET", "maxmemory", "0")
	cb.WaitReply(t, "*0\r\n", "FUNCTION", "LIST")
	c := startInstance(t, up.Addr)
	mustDo(t, redistest.Dial(t, c.addr), "*0\r\n", "FUNCTION", "LIST")
}

// TestInstanceKilledMidLoad stops an instance while a FUNCTION LOAD sent
// through it is in flight, many times: every other instance, and a new
// one, then agrees on whether the library exists, and its functions are
// callable exactly when it is listed (the registry changes atomically).
func TestInstanceKilledMidLoad(t *testing.T) {
	up := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	b := startInstance(t, up.Addr)
	cb := redistest.Dial(t, b.addr)
	loaded := 0
	for i := range 10 {
		lib := fmt.Sprintf("#!lua name=lib%d\nredis.register_function('fn%d', function() return %d end)", i, i, i)
		a := startInstance(t, up.Addr)
		ca := redistest.Dial(t, a.addr)
		if err := ca.Send("FUNCTION", "LOAD", lib); err != nil {
			t.Fatal(err)
		}
		if err := ca.Flush(); err != nil {
			t.Fatal(err)
		}
		a.stop()
		c := startInstance(t, up.Addr)
		cc := redistest.Dial(t, c.addr)
		want := fmt.Sprintf(":%d\r\n", i)
		got := string(cc.MustDo(t, "FCALL", fmt.Sprintf("fn%d", i), "0"))
		listed := strings.Contains(string(cc.MustDo(t, "FUNCTION", "LIST", "LIBRARYNAME", fmt.Sprintf("lib%d", i))), fmt.Sprintf("lib%d", i))
		switch {
		case got == want && listed:
			loaded++
			cb.WaitReply(t, want, "FCALL", fmt.Sprintf("fn%d", i), "0")
		case got == "-ERR Function not found\r\n" && !listed:
			mustDo(t, cb, "-ERR Function not found\r\n", "FCALL", fmt.Sprintf("fn%d", i), "0")
		default:
			t.Fatalf("run %d: FCALL %q but listed %v: a half-made change", i, got, listed)
		}
		c.stop()
	}
	t.Logf("%d of 10 loads were in when their instance stopped", loaded)
}
