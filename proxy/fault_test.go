package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/redistest"
)

// fakeUpstream is a listener whose connections run a test's script, for
// injecting faults Redis would never produce.
type fakeUpstream struct {
	ln   net.Listener
	Addr string
	wg   sync.WaitGroup
}

func startFake(t *testing.T, serve func(c net.Conn, r *bufio.Reader)) *fakeUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeUpstream{ln: ln, Addr: ln.Addr().String()}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

// readCommand reads one RESP request and returns its arguments.
func readCommand(r *bufio.Reader) ([]string, error) {
	raw, err := redistest.ReadReply(r)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(string(raw), "\r\n")
	var args []string
	for i := 2; i < len(parts); i += 2 {
		args = append(args, parts[i])
	}
	return args, nil
}

// pongServer answers PING with PONG and everything else with +OK, and
// drops the connection on DROP, replies garbage to GARBAGE and replies
// after a pause to SLOW.
func pongServer(c net.Conn, r *bufio.Reader) {
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		switch strings.ToUpper(args[0]) {
		case "PING":
			_, _ = io.WriteString(c, "+PONG\r\n")
		case "DROP":
			return
		case "GARBAGE":
			_, _ = io.WriteString(c, "?what\r\n")
		case "HALF":
			_, _ = io.WriteString(c, "$10\r\nabc")
			return
		case "SLOW":
			time.Sleep(50 * time.Millisecond)
			_, _ = io.WriteString(c, "+SLOW\r\n")
		default:
			_, _ = io.WriteString(c, "+OK\r\n")
		}
	}
}

func TestUpstreamFaults(t *testing.T) {
	f := startFake(t, pongServer)
	p := startProxy(t, f.Addr, nil)
	tests := []struct {
		name string
		in   string
		want string // full output until the proxy closes the connection
	}{
		{"drop", "PING\r\nDROP\r\nPING\r\n", "+PONG\r\n-ERR upstream connection lost: EOF\r\n-ERR upstream connection lost: EOF\r\n"},
		{"garbage", "PING\r\nGARBAGE\r\nPING\r\n", "+PONG\r\n" + strings.Repeat("-ERR upstream connection lost: invalid reply from upstream: bad header \"?what\\r\\n\"\r\n", 2)},
		{"half reply", "PING\r\nHALF\r\n", "+PONG\r\n$10\r\nabc"},
		{"slow keeps order", "SLOW\r\nPING\r\nSLOW\r\nQUIT\r\n", "+SLOW\r\n+PONG\r\n+SLOW\r\n+OK\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exchange(t, p.Addr, tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestUpstreamLossIsolated drops one client's upstream connection and
// checks that another client carries on.
func TestUpstreamLossIsolated(t *testing.T) {
	f := startFake(t, pongServer)
	p := startProxy(t, f.Addr, nil)
	a, b := p.dial(t), p.dial(t)
	if got := string(a.MustDo(t, "PING")); got != "+PONG\r\n" {
		t.Fatal(got)
	}
	if got := string(b.MustDo(t, "DROP")); !strings.HasPrefix(got, "-ERR upstream connection lost") {
		t.Fatalf("DROP: %q", got)
	}
	if _, err := b.Read(); err == nil {
		t.Fatal("client of the lost upstream not closed")
	}
	if got := string(a.MustDo(t, "PING")); got != "+PONG\r\n" {
		t.Fatalf("other client: %q", got)
	}
}

func TestUpstreamUnavailableAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := startProxy(t, addr, &stateHandler{})
	c := p.dial(t)
	for _, args := range [][]string{{"PING"}, {"GET", "k"}, {"EVAL", "state", "0"}} {
		got := string(c.MustDo(t, args...))
		if !strings.HasPrefix(got, "-ERR upstream unavailable: dial tcp "+addr) || !strings.HasSuffix(got, "connection refused\r\n") {
			t.Fatalf("%v: %q", args, got)
		}
	}
	// Once the upstream appears, a later command gets through.
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	ln2.Close()
	startFakeOn(t, addr, pongServer)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := string(c.MustDo(t, "PING"))
		if got == "+PONG\r\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never reconnected: %q", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := string(c.MustDo(t, "QUIT")); got != "+OK\r\n" {
		t.Fatalf("QUIT: %q", got)
	}
}

func startFakeOn(t *testing.T, addr string, serve func(net.Conn, *bufio.Reader)) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); serve(c, bufio.NewReader(c)) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
}

func TestUpstreamAuthFromURL(t *testing.T) {
	rs := requirePass(t, "secret")
	p := startProxy(t, "redis://:secret@"+rs.Addr+"/3", nil)
	c := p.dial(t)
	c.MustDo(t, "SET", "x", "1")
	if got := string(c.MustDo(t, "RESET")); got != "+RESET\r\n" {
		t.Fatal(got)
	}
	// After RESET the proxy authenticates and selects db 3 again.
	if got := string(c.MustDo(t, "GET", "x")); got != bulk("1") {
		t.Fatalf("GET after RESET: %q", got)
	}
	bad := startProxy(t, "redis://:wrong@"+rs.Addr, nil)
	got := string(bad.dial(t).MustDo(t, "PING"))
	if !strings.HasPrefix(got, "-ERR upstream unavailable: upstream AUTH failed: WRONGPASS") {
		t.Fatalf("wrong password: %q", got)
	}
}

func TestMaxClients(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, nil, func(c *config.Config) { c.MaxClients = 1 })
	a := p.dial(t)
	if got := string(a.MustDo(t, "PING")); got != "+PONG\r\n" {
		t.Fatal(got)
	}
	if got := exchange(t, p.Addr, ""); got != "-ERR max number of clients reached\r\n" {
		t.Fatalf("second client: %q", got)
	}
	if got := string(a.MustDo(t, "PING")); got != "+PONG\r\n" {
		t.Fatal(got)
	}
}

func TestIdleTimeout(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, nil, func(c *config.Config) { c.ClientIdleTimeout = 100 * time.Millisecond })
	if got := exchange(t, p.Addr, "PING\r\n"); got != "+PONG\r\n" {
		t.Fatalf("idle client: %q", got)
	}
	// A subscriber is never idle: it must still get a message later.
	sub := p.dial(t)
	sub.MustDo(t, "SUBSCRIBE", "ch")
	time.Sleep(300 * time.Millisecond) // longer than the idle timeout, on purpose
	rs.Dial(t).MustDo(t, "PUBLISH", "ch", "m")
	if got, err := sub.Read(); err != nil || !strings.Contains(string(got), "message") {
		t.Fatalf("subscriber: %q, %v", got, err)
	}
}

// blockingHandler blocks EVAL until released.
type blockingHandler struct {
	started chan struct{}
	release chan struct{}
}

func (h *blockingHandler) Serve(context.Context, *Session, [][]byte) []byte {
	close(h.started)
	<-h.release
	return []byte("+DONE\r\n")
}

func TestShutdownDrains(t *testing.T) {
	rs := redistest.Start(t)
	h := &blockingHandler{started: make(chan struct{}), release: make(chan struct{})}
	p := startProxy(t, rs.Addr, h)
	c := p.dial(t)
	idle := p.dial(t)
	idle.MustDo(t, "PING")
	_ = c.Send("SET", "a", "1")
	_ = c.Send("EVAL", "x", "0")
	_ = c.Flush()
	<-h.started
	shut := make(chan error, 1)
	go func() { shut <- p.Shutdown(context.Background()) }()
	close(h.release)
	for _, w := range []string{"+OK\r\n", "+DONE\r\n"} {
		if got, err := c.Read(); err != nil || string(got) != w {
			t.Fatalf("got %q, %v; want %q", got, err, w)
		}
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := c.Read(); err == nil {
		t.Fatal("connection still open after Shutdown")
	}
	if _, err := idle.Read(); err == nil {
		t.Fatal("idle connection still open after Shutdown")
	}
}

func TestShutdownTimeout(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, nil)
	c := p.dial(t)
	// PING proves the session exists before the blocked BLPOP is sent.
	c.MustDo(t, "PING")
	_ = c.Send("BLPOP", "never", "0")
	_ = c.Flush()
	waitBlocked(t, rs)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown returned nil with a blocked client")
	}
	if _, err := c.Read(); err == nil {
		t.Fatal("blocked client not closed")
	}
}

func TestAdmin(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, nil)
	p.dial(t).MustDo(t, "PING")
	srv := httptest.NewServer(p.AdminHandler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz %d %s", code, body)
	}
	code, body := get("/metrics")
	for _, m := range []string{"luaproxy_client_connections 1", "luaproxy_client_connections_total 1",
		`luaproxy_commands_total{route="passthrough"} 1`, "luaproxy_upstream_up 1", "luaproxy_upstream_dial_seconds_count"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics (%d) lacks %q", code, m)
		}
	}

	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	down := startProxy(t, deadAddr, nil)
	srv2 := httptest.NewServer(down.AdminHandler())
	defer srv2.Close()
	resp, err := http.Get(srv2.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "connection refused") {
		t.Errorf("/readyz with dead upstream: %d %q", resp.StatusCode, b)
	}
}

// waitBlocked waits until redis-server reports a client blocked in BLPOP.
func waitBlocked(t *testing.T, rs *redistest.Server) {
	t.Helper()
	admin := rs.Dial(t)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(string(admin.MustDo(t, "CLIENT", "LIST")), "cmd=blpop") {
		if time.Now().After(deadline) {
			t.Fatal("BLPOP never reached redis-server")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
