package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/luavm"
)

// startScriptProxy starts a proxy with a Scripting handler and conns
// shared script connections in front of upstream (an address or a URL).
func startScriptProxy(t *testing.T, upstream string, conns int) *testProxy {
	t.Helper()
	vm, err := luavm.New(luavm.Config{PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Close)
	h := NewScripting(vm, ScriptingOptions{}, nil, nil)
	return startProxy(t, upstream, h, func(c *config.Config) { c.ScriptUpstreamConns = conns })
}

// sharedLinks counts the live shared connections of database db.
func (p *testProxy) sharedLinks(db int) int {
	p.scripts.mu.Lock()
	set := p.scripts.sets[db]
	p.scripts.mu.Unlock()
	n := 0
	for _, c := range set {
		c.mu.Lock()
		if c.link != nil {
			n++
		}
		c.mu.Unlock()
	}
	return n
}

func TestScriptConnOff(t *testing.T) {
	rs := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	p := startScriptProxy(t, rs.Addr, 0)
	if p.scripts != nil {
		t.Fatal("a pool with script-upstream-conns 0")
	}
	if got := string(p.dial(t).MustDo(t, "EVAL", "return redis.call('PING')", "0")); got != "+PONG\r\n" {
		t.Fatalf("EVAL: %q", got)
	}
}

// Many scripts at once, each of several calls, share two connections:
// every script must get its own replies, in its order.
func TestScriptConnInterleaving(t *testing.T) {
	rs := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	p := startScriptProxy(t, rs.Addr, 2)
	const script = `
redis.call('SET', KEYS[1], ARGV[1])
local n = redis.call('INCR', KEYS[2])
local v = redis.call('GET', KEYS[1])
redis.call('RPUSH', KEYS[3], ARGV[1])
return {v, n, redis.call('LLEN', KEYS[3]), redis.call('ECHO', ARGV[2])}`
	const clients, runs = 50, 40
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for g := 0; g < clients; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redistest.Dial(t, p.Addr)
			defer c.NetConn().Close()
			k, ctr, list := fmt.Sprintf("k%d", g), fmt.Sprintf("n%d", g), fmt.Sprintf("l%d", g)
			for i := 1; i <= runs; i++ {
				val, echo := fmt.Sprintf("v%d-%d", g, i), strings.Repeat("e", i*(g+1))
				got, err := c.Do("EVAL", script, "3", k, ctr, list, val, echo)
				if err != nil {
					errs <- err
					return
				}
				want := fmt.Sprintf("*4\r\n%s:%d\r\n:%d\r\n%s", bulk(val), i, i, bulk(echo))
				if string(got) != want {
					errs <- fmt.Errorf("client %d run %d: got %q, want %q", g, i, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := p.sharedLinks(0); n != 2 {
		t.Errorf("%d shared connections in use, want 2", n)
	}
}

func TestScriptConnDatabase(t *testing.T) {
	rs := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	p := startScriptProxy(t, rs.Addr, 2)
	c := p.dial(t)
	c.MustDo(t, "SELECT", "3")
	if got := string(c.MustDo(t, "EVAL", "return redis.call('SET', KEYS[1], 'three')", "1", "k")); got != "+OK\r\n" {
		t.Fatalf("EVAL: %q", got)
	}
	direct := rs.Dial(t)
	direct.MustDo(t, "SELECT", "3")
	if got := string(direct.MustDo(t, "GET", "k")); got != bulk("three") {
		t.Fatalf("GET in db 3: %q", got)
	}
	if p.sharedLinks(3) == 0 {
		t.Error("the script did not use a shared connection of db 3")
	}
	if p.sharedLinks(0) != 0 {
		t.Error("a shared connection of db 0 was dialled")
	}

	// A script that SELECTs runs in the new database from then on, and
	// the client stays in its own.
	direct.MustDo(t, "SELECT", "5")
	direct.MustDo(t, "SET", "k", "five")
	got := string(c.MustDo(t, "EVAL", "local a = redis.call('GET', KEYS[1]); redis.call('SELECT', '5'); return {a, redis.call('GET', KEYS[1])}", "1", "k"))
	if want := "*2\r\n" + bulk("three") + bulk("five"); got != want {
		t.Fatalf("SELECT in a script: %q, want %q", got, want)
	}
	if got := string(c.MustDo(t, "GET", "k")); got != bulk("three") {
		t.Fatalf("GET after the script: %q", got)
	}
	// The next script is back on the shared path, in db 3.
	if got := string(c.MustDo(t, "EVAL", "return redis.call('GET', KEYS[1])", "1", "k")); got != bulk("three") {
		t.Fatalf("next script: %q", got)
	}
}

// A client that authenticated as another ACL user runs its scripts as that
// user: on its own connection.
func TestScriptConnOtherUser(t *testing.T) {
	rs := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	admin := rs.Dial(t)
	admin.MustDo(t, "ACL", "SETUSER", "limited", "on", ">pw", "~*", "+@all", "-get")
	p := startScriptProxy(t, rs.Addr, 2)
	c := p.dial(t)
	const get = "return redis.call('GET', 'k')"
	if got := string(c.MustDo(t, "EVAL", get, "0")); got != "$-1\r\n" {
		t.Fatalf("EVAL as default: %q", got)
	}
	if got := string(c.MustDo(t, "AUTH", "limited", "pw")); got != "+OK\r\n" {
		t.Fatalf("AUTH: %q", got)
	}
	got := c.MustDo(t, "EVAL", get, "0")
	if !bytes.HasPrefix(got, []byte("-ERR The user executing the script can't run this command")) {
		t.Fatalf("EVAL as limited: %q, want the user's permission error", got)
	}
	// HELLO AUTH as the same user as the upstream URL's keeps the shared path,
	// another user does not.
	for _, tt := range []struct {
		argv   []string
		shared bool
	}{
		{[]string{"HELLO", "2", "SETNAME", "x"}, true},
		{[]string{"HELLO", "3", "AUTH", "limited", "pw"}, false},
		{[]string{"AUTH", "default", "x"}, false}, // no password in the URL: cannot tell
		{[]string{"CLIENT", "TRACKING", "on"}, false},
		{[]string{"CLIENT", "SETNAME", "x"}, true},
		{[]string{"RESET"}, true},
	} {
		sess := newSession(p.Server, nil)
		var argv [][]byte
		for _, a := range tt.argv {
			argv = append(argv, []byte(a))
		}
		sess.noteForScripts(argv, p.names.lookup(argv[0]).kind)
		if sess.scriptsOwnConn == tt.shared {
			t.Errorf("%q: scriptsOwnConn %v", tt.argv, sess.scriptsOwnConn)
		}
	}
}

func TestScriptConnSameUser(t *testing.T) {
	rs := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	rs.Dial(t).MustDo(t, "ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all", "-set")
	p := startScriptProxy(t, "redis://app:pw@"+rs.Addr, 1)
	c := p.dial(t)
	if got := string(c.MustDo(t, "HELLO", "2", "AUTH", "app", "pw", "SETNAME", "n")); !strings.HasPrefix(got, "*") {
		t.Fatalf("HELLO: %q", got)
	}
	got := c.MustDo(t, "EVAL", "return redis.call('SET', 'k', 'v')", "0")
	if !bytes.HasPrefix(got, []byte("-ERR The user executing the script can't run this command")) {
		t.Fatalf("EVAL as app: %q, want its permission error", got)
	}
	if p.sharedLinks(0) != 1 {
		t.Error("the script did not use the shared connection")
	}
}

// CLIENT TRACKING must see the keys a script reads.
func TestScriptConnTracking(t *testing.T) {
	rs := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	p := startScriptProxy(t, rs.Addr, 2)
	c := p.dial(t)
	other := rs.Dial(t)
	c.MustDo(t, "HELLO", "3")
	if got := string(c.MustDo(t, "CLIENT", "TRACKING", "ON")); got != "+OK\r\n" {
		t.Fatalf("tracking: %q", got)
	}
	c.MustDo(t, "EVAL", "return redis.call('GET', KEYS[1])", "1", "k")
	other.MustDo(t, "SET", "k", "2")
	// The invalidation was queued on the client's connection before SET
	// returned, so it arrives before PING's reply.
	got := string(c.MustDo(t, "PING"))
	if got != ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n" {
		t.Fatalf("after a tracked script read: %q, want the invalidation", got)
	}
}

// RESP3 scripts (redis.setresp(3)) run on the session's connection.
func TestScriptConnResp3(t *testing.T) {
	rs := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	p := startScriptProxy(t, rs.Addr, 2)
	c := p.dial(t)
	c.MustDo(t, "HSET", "h", "f", "v")
	got := string(c.MustDo(t, "EVAL", "local a = redis.call('HGETALL', KEYS[1]); redis.setresp(3); local b = redis.call('HGETALL', KEYS[1]); return {a[1], b['map']['f']}", "1", "h"))
	if want := "*2\r\n" + bulk("f") + bulk("v"); got != want {
		t.Fatalf("setresp: %q, want %q", got, want)
	}
	if got := string(c.MustDo(t, "HGETALL", "h")); got != "*2\r\n"+bulk("f")+bulk("v") {
		t.Fatalf("client protocol after the script: %q", got)
	}
}

// startKillRelay returns the address of a relay to target that drops a
// connection, both ways, as soon as marker passes through it towards the
// upstream.
func startKillRelay(t *testing.T, target, marker string) string {
	f := startFake(t, func(c net.Conn, _ *bufio.Reader) { relayUntil(c, target, []byte(marker)) })
	return f.Addr
}

func relayUntil(c net.Conn, target string, marker []byte) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		_, _ = io.Copy(c, up)
		c.Close()
	}()
	buf := make([]byte, 64<<10)
	var tail []byte
	for {
		n, err := c.Read(buf)
		if n > 0 {
			seen := append(tail, buf[:n]...)
			if bytes.Contains(seen, marker) {
				return
			}
			if _, err := up.Write(buf[:n]); err != nil {
				return
			}
			tail = append(tail[:0], seen[max(0, len(seen)-len(marker)):]...)
		}
		if err != nil {
			return
		}
	}
}

// The upstream lost in the middle of a script: the call fails, the script
// ends with an error, nothing hangs, and the next script redials.
func TestScriptConnLost(t *testing.T) {
	rs := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	relay := startKillRelay(t, rs.Addr, "boom-marker")
	p := startScriptProxy(t, relay, 1)
	c := p.dial(t)
	got := string(c.MustDo(t, "EVAL", "redis.call('SET', 'a', '1'); return redis.call('GET', 'boom-marker')", "0"))
	if !strings.HasPrefix(got, "-") || !strings.Contains(got, "upstream connection lost") {
		t.Fatalf("script whose connection died: %q", got)
	}
	got = string(c.MustDo(t, "EVAL", "return redis.pcall('GET', 'boom-marker')", "0"))
	if !strings.Contains(got, "upstream connection lost") {
		t.Fatalf("pcall whose connection died: %q", got)
	}
	if got := string(c.MustDo(t, "EVAL", "return redis.call('GET', 'a')", "0")); got != bulk("1") {
		t.Fatalf("script after the loss: %q", got)
	}
	if got := string(c.MustDo(t, "GET", "a")); got != bulk("1") {
		t.Fatalf("client after the loss: %q", got)
	}
}

// Many scripts in flight when the connection dies: every one ends.
func TestScriptConnLostInFlight(t *testing.T) {
	rs := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	relay := startKillRelay(t, rs.Addr, "boom-marker")
	p := startScriptProxy(t, relay, 1)
	var wg sync.WaitGroup
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redistest.Dial(t, p.Addr)
			defer c.NetConn().Close()
			for i := 0; i < 20; i++ {
				key := "k"
				if g == 7 && i == 10 {
					key = "boom-marker"
				}
				got, err := c.Do("EVAL", "redis.call('INCR', 'n'); return redis.pcall('GET', KEYS[1])", "1", key)
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.HasPrefix(got, []byte("$")) && !bytes.Contains(got, []byte("upstream connection lost")) {
					t.Errorf("reply %q", got)
				}
			}
		}()
	}
	wg.Wait()
}

// A dial that fails leaves scripts on their own connections.
func TestScriptConnDialFails(t *testing.T) {
	rs := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	p := startScriptProxy(t, rs.Addr, 1)
	c := p.dial(t)
	// Fill the upstream's client limit: the shared connection cannot be dialled.
	rs.Dial(t).MustDo(t, "CONFIG", "SET", "maxclients", "2")
	if got := string(c.MustDo(t, "EVAL", "return redis.call('SET', 'x', '1')", "0")); got != "+OK\r\n" {
		t.Fatalf("EVAL: %q", got)
	}
}

// BenchmarkScriptConn measures a call through the shared connections
// with 50 goroutines calling at once, the pattern of 50 clients' scripts.
func BenchmarkScriptConn(b *testing.B) {
	rs := redistest.Start(b, redistest.ScriptingDisabledArgs()...)
	cfg := config.Default()
	cfg.Upstream = "redis://" + rs.Addr
	srv, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	argv := [][]byte{[]byte("GET"), []byte("k")}
	for _, conns := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			pool := newScriptPool(srv, conns)
			defer pool.close()
			w := pool.getWaiter()
			for range conns { // dial them all
				if _, err := pool.pick(0).do(w, argv); err != nil {
					b.Fatal(err)
				}
			}
			b.SetParallelism(25) // 50 goroutines on 2 cores
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := pool.pick(0)
				w := pool.getWaiter()
				defer pool.putWaiter(w)
				for pb.Next() {
					if _, err := c.do(w, argv); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// The upstream URL's database: shared connections are selected into it by
// the dial's handshake, and a RESP3 client's scripts still get RESP2
// replies inside the script.
func TestScriptConnURLDatabaseAndResp3Client(t *testing.T) {
	rs := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	p := startScriptProxy(t, "redis://"+rs.Addr+"/2", 2)
	c := p.dial(t)
	c.MustDo(t, "HELLO", "3")
	c.MustDo(t, "HSET", "h", "f", "v")
	if got := string(c.MustDo(t, "EVAL", "return redis.call('HGETALL', KEYS[1])", "1", "h")); got != "*2\r\n"+bulk("f")+bulk("v") {
		t.Fatalf("HGETALL from a RESP3 client's script: %q", got)
	}
	if p.sharedLinks(2) == 0 {
		t.Error("the script did not use a shared connection of db 2")
	}
	direct := rs.Dial(t)
	direct.MustDo(t, "SELECT", "2")
	if got := string(direct.MustDo(t, "HGET", "h", "f")); got != bulk("v") {
		t.Fatalf("HGET in db 2: %q", got)
	}
}

// Shutdown ends a script that waits for a shared connection's reply the
// upstream never sends.
func TestScriptConnShutdownUnblocks(t *testing.T) {
	got := make(chan struct{})
	fake := startFake(t, func(c net.Conn, r *bufio.Reader) {
		for {
			args, err := readCommand(r)
			if err != nil {
				return
			}
			switch strings.ToUpper(args[0]) {
			case "PING":
				_, _ = io.WriteString(c, "+PONG\r\n")
			case "HANG":
				close(got) // and never answer
			default:
				_, _ = io.WriteString(c, "+OK\r\n")
			}
		}
	})
	p := startScriptProxy(t, fake.Addr, 1)
	c := p.dial(t)
	if err := c.Send("EVAL", "return redis.call('HANG')", "0"); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	<-got
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = p.Shutdown(ctx) // the deadline passes: the script is stuck until the pool closes
	reply, err := c.Read()
	if err == nil && !strings.Contains(string(reply), "upstream connection lost") {
		t.Fatalf("reply of the script cut off by Shutdown: %q", reply)
	}
}
