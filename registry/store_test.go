package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

const waitLimit = 10 * time.Second

// startUpstream starts a Redis with scripting disabled: the registry must
// not need it.
func startUpstream(t *testing.T) *redistest.Server {
	t.Helper()
	return redistest.Start(t, redistest.ScriptingDisabledArgs()...)
}

// openStore opens a Store on srv's registry database and fails the test on
// background errors other than the expected connection losses.
func openStore(t *testing.T, srv *redistest.Server, mod func(*Options)) *Store {
	t.Helper()
	opt := Options{Addr: srv.Addr, DB: DefaultDB, CheckInterval: -1}
	if mod != nil {
		mod(&opt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	s, err := Open(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// changes returns a channel receiving every snapshot s's OnChange delivers.
func changes(t *testing.T, s *Store) <-chan *Snapshot {
	ch := make(chan *Snapshot, 1024)
	cancel := s.OnChange(func(snap *Snapshot) { ch <- snap })
	t.Cleanup(cancel)
	return ch
}

// waitFor receives snapshots from ch until one satisfies cond.
func waitFor(t *testing.T, ch <-chan *Snapshot, what string, cond func(*Snapshot) bool) *Snapshot {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case snap := <-ch:
			if cond(snap) {
				return snap
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// eventually polls cond, for state that no callback announces.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func rawDB(t *testing.T, srv *redistest.Server, db int) *redistest.Conn {
	c := srv.Dial(t)
	if r := c.MustDo(t, "SELECT", strconv.Itoa(db)); string(r) != "+OK\r\n" {
		t.Fatalf("SELECT: %q", r)
	}
	return c
}

func libCode(name string) string {
	return "#!lua name=" + name + "\nredis.register_function('" + name + "_f', function() return 1 end)"
}

func hasLibs(names ...string) func(*Snapshot) bool {
	return func(s *Snapshot) bool {
		for _, n := range names {
			if _, ok := s.Library(n); !ok {
				return false
			}
		}
		return true
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

func TestChangeReachesOtherInstance(t *testing.T) {
	srv := startUpstream(t)
	a, b := openStore(t, srv, nil), openStore(t, srv, nil)
	bch := changes(t, b)
	ctx := ctxT(t)

	snap, err := a.LoadLibrary(ctx, "one", libCode("one"), false)
	if err != nil {
		t.Fatal(err)
	}
	if code, ok := snap.Library("one"); !ok || code != libCode("one") || a.Snapshot() != snap {
		t.Fatalf("LoadLibrary's snapshot lacks the library")
	}
	got := waitFor(t, bch, "library one on b", hasLibs("one"))
	if got.Version() != snap.Version() {
		t.Fatalf("b at version %d, a at %d", got.Version(), snap.Version())
	}

	if _, err := b.LoadLibrary(ctx, "one", "x", false); !errors.Is(err, ErrLibraryExists) {
		t.Fatalf("loading an existing library: %v", err)
	}
	if _, err := b.LoadLibrary(ctx, "one", libCode("one")+"\n", true); err != nil {
		t.Fatal(err)
	}
	achan := changes(t, a)
	if _, err := b.DeleteLibrary(ctx, "two"); !errors.Is(err, ErrLibraryNotFound) {
		t.Fatalf("deleting a missing library: %v", err)
	}
	if _, err := b.DeleteLibrary(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, achan, "deletion on a", func(s *Snapshot) bool { return s.Len() == 0 })

	// Scripts: b finds a's script without any callback.
	if err := a.PutScript(ctx, "sha1", []byte("return 1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the script's notification to reach b", func() bool { return b.HasScript("sha1") })
	body, ok, err := b.Script(ctx, "sha1")
	if err != nil || !ok || string(body) != "return 1" {
		t.Fatalf("b.Script = %q %v %v", body, ok, err)
	}
	if _, ok, err := b.Script(ctx, "nosuch"); ok || err != nil {
		t.Fatalf("missing script found: %v %v", ok, err)
	}
	if err := b.FlushScripts(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "script flush on a", func() bool { return !a.HasScript("sha1") })
}

func TestRegistryKeysStayInTheirDatabase(t *testing.T) {
	srv := startUpstream(t)
	s := openStore(t, srv, nil)
	if _, err := s.LoadLibrary(ctxT(t), "lib", libCode("lib"), false); err != nil {
		t.Fatal(err)
	}
	if err := s.PutScript(ctxT(t), "sha", []byte("return 1")); err != nil {
		t.Fatal(err)
	}
	if r := string(rawDB(t, srv, 0).MustDo(t, "DBSIZE")); r != ":0\r\n" {
		t.Fatalf("DBSIZE in db 0 = %q", r)
	}
	if r := string(rawDB(t, srv, DefaultDB).MustDo(t, "KEYS", "*")); !strings.Contains(r, "__luaproxy:version") {
		t.Fatalf("registry keys in db %d: %q", DefaultDB, r)
	}

	// Database 0 with the prefix works too (managed services).
	z := openStore(t, srv, func(o *Options) { o.DB = 0 })
	if _, err := z.LoadLibrary(ctxT(t), "zero", libCode("zero"), false); err != nil {
		t.Fatal(err)
	}
	if r := string(rawDB(t, srv, 0).MustDo(t, "HGET", "__luaproxy:libs", "zero")); !strings.Contains(r, "name=zero") {
		t.Fatalf("db 0 registry: %q", r)
	}
	if _, ok := s.Snapshot().Library("zero"); ok {
		t.Fatal("registries of two databases mixed")
	}
}

func TestConcurrentChangesLoseNothing(t *testing.T) {
	srv := startUpstream(t)
	stores := []*Store{openStore(t, srv, nil), openStore(t, srv, nil), openStore(t, srv, nil)}
	ctx := ctxT(t)
	const perWorker = 15
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	var want []string
	for i, s := range stores {
		for w := 0; w < 2; w++ {
			prefix := fmt.Sprintf("s%dw%d_", i, w)
			for j := 0; j < perWorker; j++ {
				want = append(want, prefix+strconv.Itoa(j))
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < perWorker; j++ {
					name := prefix + strconv.Itoa(j)
					if _, err := s.LoadLibrary(ctx, name, libCode(name), false); err != nil {
						errs <- err
						return
					}
					if err := s.PutScript(ctx, name, []byte(name)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, s := range stores {
		if err := s.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		snap := s.Snapshot()
		if snap.Len() != len(want) || !hasLibs(want...)(snap) {
			t.Fatalf("store %d has %d libraries, want %d", i, snap.Len(), len(want))
		}
		if snap.Version() != int64(2*len(want)) {
			t.Fatalf("store %d at version %d, want %d", i, snap.Version(), 2*len(want))
		}
		for _, name := range want {
			if !s.HasScript(name) {
				t.Fatalf("store %d lacks script %s", i, name)
			}
		}
	}
	c := rawDB(t, srv, DefaultDB)
	if r := string(c.MustDo(t, "HLEN", "__luaproxy:libs")); r != fmt.Sprintf(":%d\r\n", len(want)) {
		t.Fatalf("HLEN libs = %q", r)
	}
}

func TestFlushAllIsUndone(t *testing.T) {
	srv := startUpstream(t)
	a, b := openStore(t, srv, nil), openStore(t, srv, nil)
	ctx := ctxT(t)
	for _, n := range []string{"x", "y"} {
		if _, err := a.LoadLibrary(ctx, n, libCode(n), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.PutScript(ctx, "s1", []byte("return 'b'")); err != nil {
		t.Fatal(err)
	}
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, srv, DefaultDB)

	// Through the proxy: FLUSHALL then Restore.
	raw.MustDo(t, "FLUSHALL")
	if err := a.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	checkShared(t, raw, 2, 1)
	eventually(t, "b to follow the restore", func() bool { return b.Snapshot().Version() == a.Snapshot().Version() })
	if !hasLibs("x", "y")(b.Snapshot()) || !b.HasScript("s1") {
		t.Fatal("b lost data after the restore")
	}

	// From elsewhere, noticed by the other instance's next change.
	raw.MustDo(t, "FLUSHDB")
	if _, err := b.LoadLibrary(ctx, "z", libCode("z"), false); err != nil {
		t.Fatal(err)
	}
	checkShared(t, raw, 3, 1)
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !hasLibs("x", "y", "z")(a.Snapshot()) || !a.HasScript("s1") {
		t.Fatal("a lost data after the second wipe")
	}

	// From elsewhere, noticed by the periodic check alone.
	c := openStore(t, srv, func(o *Options) { o.CheckInterval = 10 * time.Millisecond })
	raw.MustDo(t, "FLUSHALL")
	eventually(t, "the periodic check to restore", func() bool {
		return string(raw.MustDo(t, "EXISTS", "__luaproxy:version")) == ":1\r\n"
	})
	checkShared(t, raw, 3, 1)
	if !hasLibs("x", "y", "z")(c.Snapshot()) {
		t.Fatal("c lost data")
	}

	// A store started later loads everything.
	d := openStore(t, srv, nil)
	if !hasLibs("x", "y", "z")(d.Snapshot()) || !d.HasScript("s1") || d.Snapshot().Version() != c.Snapshot().Version() {
		t.Fatal("a later store misses data")
	}
}

// checkShared checks the numbers of libraries and scripts in the store.
func checkShared(t *testing.T, raw *redistest.Conn, libs, scripts int) {
	t.Helper()
	if r := string(raw.MustDo(t, "HLEN", "__luaproxy:libs")); r != fmt.Sprintf(":%d\r\n", libs) {
		t.Fatalf("HLEN libs = %q, want %d", r, libs)
	}
	if r := string(raw.MustDo(t, "HLEN", "__luaproxy:scripts")); r != fmt.Sprintf(":%d\r\n", scripts) {
		t.Fatalf("HLEN scripts = %q, want %d", r, scripts)
	}
}

func TestRolledBackStoreIsRewritten(t *testing.T) {
	srv := startUpstream(t)
	a := openStore(t, srv, nil)
	ctx := ctxT(t)
	for _, n := range []string{"p", "q", "r"} {
		if _, err := a.LoadLibrary(ctx, n, libCode(n), false); err != nil {
			t.Fatal(err)
		}
	}
	raw := rawDB(t, srv, DefaultDB)
	// As after a failover to a replica that missed the last writes.
	raw.MustDo(t, "HDEL", "__luaproxy:libs", "r")
	raw.MustDo(t, "SET", "__luaproxy:version", "2")
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	checkShared(t, raw, 3, 0)
	if v := a.Snapshot().Version(); v != 3+restoreJump {
		t.Fatalf("version after restore %d", v)
	}
}

func TestMissedNotificationIsCaught(t *testing.T) {
	srv := startUpstream(t)
	a, b := openStore(t, srv, nil), openStore(t, srv, nil)
	bch := changes(t, b)
	ctx := ctxT(t)
	raw := rawDB(t, srv, DefaultDB)

	// A change written without any notification, as if it was lost.
	raw.MustDo(t, "MULTI")
	raw.MustDo(t, "HSET", "__luaproxy:scripts", "lost", "return 'lost'")
	raw.MustDo(t, "INCR", "__luaproxy:version")
	raw.MustDo(t, "EXEC")
	body, ok, err := b.Script(ctx, "lost")
	if err != nil || !ok || string(body) != "return 'lost'" {
		t.Fatalf("b.Script after a lost notification = %q %v %v", body, ok, err)
	}

	raw.MustDo(t, "MULTI")
	raw.MustDo(t, "HSET", "__luaproxy:libs", "silent", libCode("silent"))
	raw.MustDo(t, "INCR", "__luaproxy:version")
	raw.MustDo(t, "EXEC")
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, bch, "the silent library on b", hasLibs("silent"))

	// Subscriptions killed: the resubscription catches up.
	for i := 0; i < 3; i++ {
		srv.Dial(t).MustDo(t, "CLIENT", "KILL", "TYPE", "pubsub")
		name := "after_kill_" + strconv.Itoa(i)
		if _, err := a.LoadLibrary(ctx, name, libCode(name), false); err != nil {
			t.Fatal(err)
		}
		waitFor(t, bch, name+" on b", hasLibs(name))
	}

	// The periodic check alone catches a silent change.
	c := openStore(t, srv, func(o *Options) { o.CheckInterval = 10 * time.Millisecond })
	cch := changes(t, c)
	raw.MustDo(t, "MULTI")
	raw.MustDo(t, "HSET", "__luaproxy:libs", "periodic", libCode("periodic"))
	raw.MustDo(t, "INCR", "__luaproxy:version")
	raw.MustDo(t, "EXEC")
	waitFor(t, cch, "the periodic check", hasLibs("periodic"))
}

func TestRestoreAndFlushLibraries(t *testing.T) {
	srv := startUpstream(t)
	s := openStore(t, srv, nil)
	ctx := ctxT(t)
	if _, err := s.LoadLibrary(ctx, "a", libCode("a"), false); err != nil {
		t.Fatal(err)
	}
	libs := []Library{{"b", libCode("b")}, {"a", "new a"}}
	_, err := s.RestoreLibraries(ctx, libs, RestoreAppend)
	var le *LibraryError
	if !errors.As(err, &le) || le.Name != "a" || !errors.Is(err, ErrLibraryExists) {
		t.Fatalf("APPEND over an existing library: %v", err)
	}
	if s.Snapshot().Len() != 1 {
		t.Fatal("a failed APPEND changed the registry")
	}
	snap, err := s.RestoreLibraries(ctx, libs, RestoreReplace)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := snap.Library("a"); code != "new a" || snap.Len() != 2 {
		t.Fatalf("REPLACE: %v", snap.Libraries())
	}
	snap, err = s.RestoreLibraries(ctx, libs[:1], RestoreFlush)
	if err != nil || snap.Len() != 1 || !hasLibs("b")(snap) {
		t.Fatalf("FLUSH: %v %v", snap.Libraries(), err)
	}
	got := snap.Libraries()
	if len(got) != 1 || got[0] != libs[0] {
		t.Fatalf("Libraries() = %v", got)
	}
	if snap, err = s.FlushLibraries(ctx); err != nil || snap.Len() != 0 {
		t.Fatalf("FlushLibraries: %v", err)
	}
	// A later Store agrees.
	if n := openStore(t, srv, nil).Snapshot(); n.Len() != 0 || n.Version() != snap.Version() {
		t.Fatalf("later store: %d libraries at %d", n.Len(), n.Version())
	}
}

func TestClosedStore(t *testing.T) {
	srv := startUpstream(t)
	s := openStore(t, srv, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadLibrary(ctxT(t), "a", "b", false); !errors.Is(err, ErrClosed) {
		t.Fatalf("LoadLibrary after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenFailsWithoutRedis(t *testing.T) {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Open(ctx, Options{Addr: "127.0.0.1:" + strconv.Itoa(port), DB: DefaultDB})
	if err == nil || !strings.Contains(err.Error(), "registry") {
		t.Fatalf("Open without Redis: %v", err)
	}
}

func TestConcurrentRestoresAgree(t *testing.T) {
	srv := startUpstream(t)
	stores := []*Store{openStore(t, srv, nil), openStore(t, srv, nil), openStore(t, srv, nil)}
	ctx := ctxT(t)
	many := map[string][]byte{}
	for i := 0; i < 3*hsetBatch/2; i++ {
		many["sha"+strconv.Itoa(i)] = []byte("return " + strconv.Itoa(i))
	}
	if _, err := stores[0].Update(ctx, func(*Snapshot) (Change, error) {
		return Change{Scripts: many, Libraries: map[string]string{"l": libCode("l")}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, s := range stores {
		if err := s.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	raw := rawDB(t, srv, DefaultDB)
	for round := 0; round < 3; round++ {
		raw.MustDo(t, "FLUSHALL")
		var wg sync.WaitGroup
		errs := make([]error, len(stores))
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.Restore(ctx)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		checkShared(t, raw, 1, len(many))
		for i, s := range stores {
			if err := s.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			if s.Snapshot().Version() != stores[0].Snapshot().Version() || !s.HasScript("sha700") || !hasLibs("l")(s.Snapshot()) {
				t.Fatalf("round %d: store %d disagrees after concurrent restores", round, i)
			}
		}
	}
}
