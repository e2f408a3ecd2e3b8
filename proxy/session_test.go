package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// stateHandler answers EVAL for tests:
//
//	EVAL state 0        -> the session's state as a bulk string
//	EVAL do 0 cmd args  -> cmd run through sess.Upstream().Do, its raw reply
type stateHandler struct{ calls atomic.Int64 }

func (h *stateHandler) Serve(_ context.Context, sess *Session, argv [][]byte) []byte {
	h.calls.Add(1)
	if len(argv) < 3 {
		return []byte("-ERR wrong number of arguments for 'eval' command\r\n")
	}
	switch string(argv[1]) {
	case "state":
		s := fmt.Sprintf("db=%d proto=%d multi=%v sub=%v", sess.DB(), sess.Proto(), sess.InMulti(), sess.Subscribed())
		return []byte(fmt.Sprintf("$%d\r\n%s\r\n", len(s), s))
	case "do":
		var out []byte
		for _, cmd := range bytes.Split(bytes.Join(argv[3:], []byte(" ")), []byte(";")) {
			reply, err := sess.Upstream().Do(bytes.Fields(cmd))
			if err != nil {
				return []byte("-ERR " + err.Error() + "\r\n")
			}
			out = reply
		}
		return out
	}
	return []byte("-ERR unknown test script\r\n")
}

func bulk(s string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }

func TestHandlerOrderInPipeline(t *testing.T) {
	rs := redistest.Start(t)
	h := &stateHandler{}
	p := startProxy(t, rs.Addr, h)
	c := p.dial(t)
	for _, args := range [][]string{
		{"SET", "a", "1"},
		{"EVAL", "do", "0", "INCR", "a"},
		{"GET", "a"},
		{"EVAL", "do", "0", "INCR a;INCR a"},
		{"eval", "state", "0"},
		{"GET", "a"},
	} {
		_ = c.Send(args...)
	}
	_ = c.Flush()
	want := []string{"+OK\r\n", ":2\r\n", bulk("2"), ":4\r\n", bulk("db=0 proto=2 multi=false sub=false"), bulk("4")}
	for i, w := range want {
		got, err := c.Read()
		if err != nil || string(got) != w {
			t.Fatalf("reply %d = %q, %v; want %q", i, got, err, w)
		}
	}
	if h.calls.Load() != 3 {
		t.Errorf("handler called %d times, want 3", h.calls.Load())
	}
}

// TestSessionState checks what the Session learns from replies.
func TestSessionState(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr+"/2", &stateHandler{})
	c := p.dial(t)
	state := func() string { return string(c.MustDo(t, "EVAL", "state", "0")) }
	steps := []struct {
		args []string
		want string // state afterwards
	}{
		{nil, bulk("db=2 proto=2 multi=false sub=false")},
		{[]string{"SELECT", "5"}, bulk("db=5 proto=2 multi=false sub=false")},
		{[]string{"SELECT", "99999"}, bulk("db=5 proto=2 multi=false sub=false")},
		{[]string{"HELLO", "3"}, bulk("db=5 proto=3 multi=false sub=false")},
		{[]string{"MULTI"}, ""},
		{[]string{"SELECT", "7"}, ""},
		{[]string{"EXEC"}, ""},
		{[]string{"HELLO", "2"}, bulk("db=7 proto=2 multi=false sub=false")},
		{[]string{"RESET"}, bulk("db=2 proto=2 multi=false sub=false")},
		{[]string{"MULTI"}, ""},
		{[]string{"DISCARD"}, bulk("db=2 proto=2 multi=false sub=false")},
	}
	for _, st := range steps {
		if st.args != nil {
			c.MustDo(t, st.args...)
		}
		if st.want == "" {
			continue
		}
		got := state()
		if got != st.want {
			t.Errorf("after %v: state %q, want %q", st.args, got, st.want)
		}
	}
	// The upstream really uses the database the URL names.
	c.MustDo(t, "SET", "where", "x")
	d := rs.Dial(t)
	d.MustDo(t, "SELECT", "2")
	if got := string(d.MustDo(t, "GET", "where")); got != bulk("x") {
		t.Errorf("key not in db 2: %q", got)
	}
}

// TestPubSub checks RESP2 and RESP3 pub/sub through the proxy, with the
// confirmation and message bytes exactly as Redis sends them, and that
// commands after an UNSUBSCRIBE get their own replies.
func TestPubSub(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, &stateHandler{})
	for _, proto := range []string{"2", "3"} {
		t.Run("RESP"+proto, func(t *testing.T) {
			sub := p.dial(t)
			pub := rs.Dial(t)
			sub.MustDo(t, "HELLO", proto)
			push := "*"
			if proto == "3" {
				push = ">"
			}
			want := push + "3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
			_ = sub.Send("SUBSCRIBE", "a", "b")
			_ = sub.Send("PSUBSCRIBE", "p*")
			_ = sub.Flush()
			for _, w := range []string{want,
				push + "3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
				push + "3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:3\r\n"} {
				if got, err := sub.Read(); err != nil || string(got) != w {
					t.Fatalf("confirmation %q, %v; want %q", got, err, w)
				}
			}
			pub.MustDo(t, "PUBLISH", "a", "hello")
			pub.MustDo(t, "PUBLISH", "px", "world")
			for _, w := range []string{
				push + "3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nhello\r\n",
				push + "4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\npx\r\n$5\r\nworld\r\n"} {
				if got, err := sub.Read(); err != nil || string(got) != w {
					t.Fatalf("message %q, %v; want %q", got, err, w)
				}
			}
			// PING in subscribed mode, then unsubscribe from everything.
			if proto == "2" {
				if got := string(sub.MustDo(t, "PING")); got != "*2\r\n$4\r\npong\r\n$0\r\n\r\n" {
					t.Fatalf("PING: %q", got)
				}
				if got := string(sub.MustDo(t, "EVAL", "state", "0")); !strings.HasPrefix(got, "-ERR Can't execute 'eval'") {
					t.Fatalf("EVAL while subscribed: %q", got)
				}
			} else if got := string(sub.MustDo(t, "EVAL", "state", "0")); got != bulk("db=0 proto=3 multi=false sub=true") {
				t.Fatalf("state: %q", got)
			}
			_ = sub.Send("UNSUBSCRIBE")
			_ = sub.Send("PUNSUBSCRIBE")
			_ = sub.Send("EVAL", "state", "0")
			_ = sub.Flush()
			for i := 0; i < 3; i++ {
				if _, err := sub.Read(); err != nil {
					t.Fatal(err)
				}
			}
			if got, _ := sub.Read(); string(got) != bulk("db=0 proto="+proto+" multi=false sub=false") {
				t.Fatalf("state after unsubscribing: %q", got)
			}
		})
	}
}

// TestResp3Tracking checks that invalidation pushes pass through and do
// not shift replies.
func TestResp3Tracking(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, nil)
	c := p.dial(t)
	other := rs.Dial(t)
	c.MustDo(t, "HELLO", "3")
	if got := string(c.MustDo(t, "CLIENT", "TRACKING", "ON")); got != "+OK\r\n" {
		t.Fatalf("tracking: %q", got)
	}
	c.MustDo(t, "SET", "k", "1")
	c.MustDo(t, "GET", "k")
	other.MustDo(t, "SET", "k", "2")
	got, err := c.Read()
	if err != nil || string(got) != ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n" {
		t.Fatalf("push %q, %v", got, err)
	}
	if got := string(c.MustDo(t, "GET", "k")); got != bulk("2") {
		t.Fatalf("GET after push: %q", got)
	}
}

func TestMonitorAndReset(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, nil)
	m := p.dial(t)
	if got := string(m.MustDo(t, "MONITOR")); got != "+OK\r\n" {
		t.Fatalf("MONITOR: %q", got)
	}
	rs.Dial(t).MustDo(t, "SET", "mk", "mv")
	line, err := m.Read()
	if err != nil || !bytes.Contains(line, []byte(`"SET" "mk" "mv"`)) {
		t.Fatalf("monitor line %q, %v", line, err)
	}
	if got := string(m.MustDo(t, "RESET")); got != "+RESET\r\n" {
		t.Fatalf("RESET: %q", got)
	}
	if got := string(m.MustDo(t, "GET", "mk")); got != bulk("mv") {
		t.Fatalf("GET after RESET: %q", got)
	}
}

func TestTransactionsAndBlocking(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, nil)
	c := p.dial(t)
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"WATCH", "w"}, "+OK\r\n"},
		{[]string{"MULTI"}, "+OK\r\n"},
		{[]string{"SET", "w", "1"}, "+QUEUED\r\n"},
		{[]string{"INCR", "w"}, "+QUEUED\r\n"},
		{[]string{"EXEC"}, "*2\r\n+OK\r\n:2\r\n"},
		{[]string{"BLPOP", "nolist", "0.05"}, "*-1\r\n"},
		{[]string{"CLIENT", "SETNAME", "me"}, "+OK\r\n"},
		{[]string{"CLIENT", "GETNAME"}, bulk("me")},
	}
	for _, s := range steps {
		if got := string(c.MustDo(t, s.args...)); got != s.want {
			t.Errorf("%v = %q, want %q", s.args, got, s.want)
		}
	}
	// A blocked BLMOVE is released by another client.
	_ = c.Send("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0")
	_ = c.Flush()
	rs.Dial(t).MustDo(t, "RPUSH", "src", "x")
	if got, err := c.Read(); err != nil || string(got) != bulk("x") {
		t.Fatalf("BLMOVE: %q, %v", got, err)
	}
}

func TestClientReply(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, &stateHandler{})
	c := p.dial(t)
	for _, args := range [][]string{
		{"CLIENT", "REPLY", "OFF"}, {"SET", "a", "1"}, {"EVAL", "state", "0"}, {"EVAL", "do", "0", "INCR", "a"},
		{"CLIENT", "REPLY", "ON"},
		{"CLIENT", "REPLY", "SKIP"}, {"EVAL", "do", "0", "INCR", "a"}, {"CLIENT", "REPLY", "SKIP"}, {"GET", "a"},
		{"INCR", "a"},
	} {
		_ = c.Send(args...)
	}
	_ = c.Flush()
	for _, w := range []string{"+OK\r\n", ":4\r\n"} {
		if got, err := c.Read(); err != nil || string(got) != w {
			t.Fatalf("got %q, %v; want %q", got, err, w)
		}
	}
}

// TestLargeValue sends and receives a value far bigger than any buffer.
func TestLargeValue(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, &stateHandler{})
	c := p.dial(t)
	big := strings.Repeat("0123456789abcdef", 1<<20) // 16 MiB
	if got := string(c.MustDo(t, "SET", "big", big)); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	got := c.MustDo(t, "GET", "big")
	if string(got) != bulk(big) {
		t.Fatalf("GET returned %d bytes", len(got))
	}
	// A big argument for the Handler is collected whole.
	if got := string(c.MustDo(t, "EVAL", "do", "0", "STRLEN", "big")); got != ":16777216\r\n" {
		t.Fatalf("STRLEN via handler: %q", got)
	}
	if got := string(c.MustDo(t, "EVAL", "state", "0", big)); got != bulk("db=0 proto=2 multi=false sub=false") {
		t.Fatalf("EVAL with big arg: %q", got)
	}
}

func TestPipelineLarge(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, nil)
	c := p.dial(t)
	const n = 20000
	w := bufio.NewWriter(c.NetConn())
	go func() {
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$3\r\nval\r\n", len(fmt.Sprint(i))+1, i)
		}
		fmt.Fprintf(w, "*2\r\n$4\r\nECHO\r\n$4\r\nlast\r\n")
		_ = w.Flush()
	}()
	_ = c.NetConn().SetDeadline(time.Now().Add(30 * time.Second))
	for i := 0; i < n; i++ {
		if got, err := c.Read(); err != nil || string(got) != "+OK\r\n" {
			t.Fatalf("reply %d: %q, %v", i, got, err)
		}
	}
	if got, _ := c.Read(); string(got) != bulk("last") {
		t.Fatalf("last reply %q", got)
	}
}

// TestSubscribeInTransaction: the confirmations of a SUBSCRIBE queued in
// MULTI arrive inside EXEC's reply, and the session must still know it is
// subscribed so that later messages are not taken for replies.
func TestSubscribeInTransaction(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, &stateHandler{})
	c := p.dial(t)
	c.MustDo(t, "MULTI")
	c.MustDo(t, "SUBSCRIBE", "tx")
	c.MustDo(t, "PSUBSCRIBE", "p*")
	if got := string(c.MustDo(t, "EXEC")); got != "*2\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\ntx\r\n:1\r\n*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:2\r\n" {
		t.Fatalf("EXEC: %q", got)
	}
	if got := string(c.MustDo(t, "EVAL", "state", "0")); !strings.HasPrefix(got, "-ERR Can't execute 'eval'") {
		t.Fatalf("EVAL after subscribing in a transaction: %q", got)
	}
	rs.Dial(t).MustDo(t, "PUBLISH", "tx", "m1")
	_ = c.Send("PING")
	_ = c.Flush()
	for _, w := range []string{"*3\r\n$7\r\nmessage\r\n$2\r\ntx\r\n$2\r\nm1\r\n", "*2\r\n$4\r\npong\r\n$0\r\n\r\n"} {
		if got, err := c.Read(); err != nil || string(got) != w {
			t.Fatalf("got %q, %v; want %q", got, err, w)
		}
	}
	_ = c.Send("UNSUBSCRIBE")
	_ = c.Send("PUNSUBSCRIBE")
	_ = c.Send("EVAL", "state", "0")
	_ = c.Flush()
	for _, w := range []string{"*3\r\n$11\r\nunsubscribe\r\n$2\r\ntx\r\n:1\r\n", "*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n",
		bulk("db=0 proto=2 multi=false sub=false")} {
		if got, err := c.Read(); err != nil || string(got) != w {
			t.Fatalf("got %q, %v; want %q", got, err, w)
		}
	}
}

type panicHandler struct{}

func (panicHandler) Serve(_ context.Context, _ *Session, argv [][]byte) []byte {
	if string(argv[1]) == "empty" {
		return nil
	}
	panic("boom")
}

// TestHandlerBugs: a panicking Handler or one without a reply costs the
// client its connection with an error, not the process.
func TestHandlerBugs(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, panicHandler{})
	for _, script := range []string{"boom", "empty"} {
		in := "PING\r\nEVAL " + script + " 0\r\nPING\r\n"
		if got := exchange(t, p.Addr, in); !strings.HasPrefix(got, "+PONG\r\n-ERR internal error in luaproxy") || strings.Count(got, "\r\n") != 2 {
			t.Errorf("%s: %q", script, got)
		}
	}
	if got := string(p.dial(t).MustDo(t, "PING")); got != "+PONG\r\n" {
		t.Fatalf("server after handler bugs: %q", got)
	}
}

// TestLargeValueBoundedMemory streams a 64 MiB value in and out through
// the proxy and checks that the process allocated far less than that: the
// proxy must not hold whole values.
func TestLargeValueBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 128 MiB")
	}
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, nil)
	c := rawDial(t, p.Addr)
	const size = 64 << 20
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fmt.Fprintf(c, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n", size)
	for n := 0; n < size; n += len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintf(c, "\r\n*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n")
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("SET: %q, %v", line, err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != fmt.Sprintf("$%d\r\n", size) {
		t.Fatalf("GET header: %q, %v", line, err)
	}
	if n, err := io.CopyN(io.Discard, r, size+2); err != nil || n != size+2 {
		t.Fatalf("GET body: %d, %v", n, err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("moving a %d MiB value allocated %d MiB", size>>20, alloc>>20)
	} else {
		t.Logf("moving a %d MiB value in and out allocated %d KiB", size>>20, alloc>>10)
	}
}

// TestConcurrentClients runs many clients at once, each pipelining plain
// commands and Handler commands on its own keys, and checks every reply.
func TestConcurrentClients(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, &stateHandler{})
	const clients, rounds = 16, 50
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		go func(i int) {
			errs <- func() error {
				c := p.dial(t)
				key := fmt.Sprintf("c%d", i)
				for r := 0; r < rounds; r++ {
					_ = c.Send("INCR", key)
					_ = c.Send("EVAL", "do", "0", "INCR", key)
					_ = c.Send("GET", key)
					_ = c.Flush()
					want := []string{fmt.Sprintf(":%d\r\n", 2*r+1), fmt.Sprintf(":%d\r\n", 2*r+2), bulk(fmt.Sprint(2*r + 2))}
					for _, w := range want {
						got, err := c.Read()
						if err != nil || string(got) != w {
							return fmt.Errorf("client %d round %d: %q, %v; want %q", i, r, got, err, w)
						}
					}
				}
				return nil
			}()
		}(i)
	}
	for i := 0; i < clients; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestSubscribeMany subscribes to more channels than fit in the read
// buffer in one request, which takes the streaming path, and checks that
// every confirmation is counted.
func TestSubscribeMany(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, &stateHandler{})
	c := p.dial(t)
	const n = 5000
	args := []string{"SUBSCRIBE"}
	for i := 0; i < n; i++ {
		args = append(args, fmt.Sprintf("channel-with-a-long-name-%06d", i))
	}
	_ = c.Send(args...)
	_ = c.Send("PING")
	_ = c.Flush()
	for i := 0; i < n; i++ {
		if got, err := c.Read(); err != nil || !strings.Contains(string(got), "subscribe") {
			t.Fatalf("confirmation %d: %q, %v", i, got, err)
		}
	}
	if got, err := c.Read(); err != nil || string(got) != "*2\r\n$4\r\npong\r\n$0\r\n\r\n" {
		t.Fatalf("PING: %q, %v", got, err)
	}
	rs.Dial(t).MustDo(t, "PUBLISH", args[n], "last")
	_ = c.Send("PING")
	_ = c.Flush()
	for _, w := range []string{"*3\r\n$7\r\nmessage\r\n$31\r\n" + args[n] + "\r\n$4\r\nlast\r\n", "*2\r\n$4\r\npong\r\n$0\r\n\r\n"} {
		if got, err := c.Read(); err != nil || string(got) != w {
			t.Fatalf("got %q, %v; want %q", got, err, w)
		}
	}
}

// TestBlockingAndHello covers more blocking commands and the full HELLO
// form through the proxy.
func TestBlockingAndHello(t *testing.T) {
	rs := redistest.Start(t)
	if got := string(rs.Dial(t).MustDo(t, "ACL", "SETUSER", "u", "on", ">p", "~*", "&*", "+@all")); got != "+OK\r\n" {
		t.Fatalf("ACL SETUSER: %q", got)
	}
	p := startProxy(t, rs.Addr, nil)
	c := p.dial(t)
	got := string(c.MustDo(t, "HELLO", "3", "AUTH", "u", "p", "SETNAME", "n"))
	if !strings.HasPrefix(got, "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n") || !strings.Contains(got, "$5\r\nproto\r\n:3\r\n") {
		t.Fatalf("HELLO 3 AUTH SETNAME: %q", got)
	}
	if got := string(c.MustDo(t, "CLIENT", "GETNAME")); got != bulk("n") {
		t.Fatalf("CLIENT GETNAME: %q", got)
	}
	if got := string(c.MustDo(t, "ACL", "WHOAMI")); got != bulk("u") {
		t.Fatalf("ACL WHOAMI: %q", got)
	}
	other := rs.Dial(t)
	steps := []struct {
		args []string
		wake []string // run on another connection once the command is sent
		want string
	}{
		{[]string{"XREAD", "BLOCK", "0", "STREAMS", "s", "$"}, []string{"XADD", "s", "1-1", "f", "v"},
			"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"},
		{[]string{"BZPOPMIN", "z", "0"}, []string{"ZADD", "z", "1", "m"}, "*3\r\n$1\r\nz\r\n$1\r\nm\r\n,1\r\n"},
		{[]string{"WAIT", "0", "10"}, nil, ":0\r\n"},
	}
	for _, st := range steps {
		_ = c.Send(st.args...)
		_ = c.Flush()
		if st.wake != nil {
			waitBlockedCmd(t, rs, strings.ToLower(st.args[0]))
			other.MustDo(t, st.wake...)
		}
		if got, err := c.Read(); err != nil || string(got) != st.want {
			t.Errorf("%v: %q, %v; want %q", st.args, got, err, st.want)
		}
	}
}

// waitBlockedCmd waits until redis-server reports a client blocked in cmd.
func waitBlockedCmd(t *testing.T, rs *redistest.Server, cmd string) {
	t.Helper()
	admin := rs.Dial(t)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(string(admin.MustDo(t, "CLIENT", "LIST")), "cmd="+cmd) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached redis-server", cmd)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSyncRefused: SYNC and PSYNC would turn the connection into a
// replication stream; luaproxy refuses them and the session goes on.
func TestSyncRefused(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, nil)
	c := p.dial(t)
	for _, args := range [][]string{{"SET", "a", "1"}, {"SYNC"}, {"psync", "?", "-1"}, {"GET", "a"}} {
		_ = c.Send(args...)
	}
	_ = c.Flush()
	for _, want := range []string{"+OK\r\n", string(errSync), string(errSync), "$1\r\n1\r\n"} {
		if got, err := c.Read(); err != nil || string(got) != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
}
