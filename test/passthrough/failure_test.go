package passthrough

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/test/harness"
)

// TestClientHangsUpWithRepliesInFlight closes a client that has many big
// replies pending; luaproxy must stay healthy and release the connection.
func TestClientHangsUpWithRepliesInFlight(t *testing.T) {
	h := harness.Start(t)
	other := h.DialProxy(t)
	if got := other.MustDo(t, "SET", "big", strings.Repeat("v", 256<<10)); string(got) != "+OK\r\n" {
		t.Fatalf("SET = %q", got)
	}
	up := h.Control(t, h.Upstream)
	baseline := connectedClients(t, up)

	for i := 0; i < 3; i++ {
		c, err := dial(h.ProxyAddr)
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 500; j++ {
			_, _ = c.w.WriteString("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n")
		}
		_ = c.w.Flush()
		// Read a little so that replies are surely in flight, then hang up.
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c.r, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}

	if got := other.MustDo(t, "PING"); string(got) != "+PONG\r\n" {
		t.Errorf("other client PING = %q", got)
	}
	fresh := h.DialProxy(t)
	if got := fresh.MustDo(t, "STRLEN", "big"); string(got) != ":262144\r\n" {
		t.Errorf("new client STRLEN = %q", got)
	}
	// Every upstream connection of the hung-up clients goes away, and so
	// does the proxy's count of them.
	waitFor(t, "upstream connections to return to the baseline", func() bool {
		return connectedClients(t, up) <= baseline+1 // +1: fresh
	})
	waitFor(t, "luaproxy_client_connections to drop to 2", func() bool {
		return gauge(t, h.Proxy.Registry(), "luaproxy_client_connections") == 2
	})
}

// TestUpstreamUnavailable starts luaproxy with nothing at its upstream
// address: it runs, says it is not ready, and answers clients at once with
// an error.
func TestUpstreamUnavailable(t *testing.T) {
	h := harness.Start(t, harness.WithoutUpstream())
	if code := httpStatus(t, h.AdminURL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code := httpStatus(t, h.AdminURL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d, want 503", code)
	}
	for i := 0; i < 3; i++ {
		c := h.DialProxy(t)
		start := time.Now()
		got := c.MustDo(t, "PING")
		if !bytes.HasPrefix(got, []byte("-ERR upstream unavailable")) || !bytes.HasSuffix(got, []byte("\r\n")) {
			t.Errorf("PING = %q, want -ERR upstream unavailable...", got)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("error took %v", d)
		}
	}
}

// TestUpstreamDies kills the upstream under live sessions: a client with a
// request in flight gets an error, and every client a closed connection; once a Redis is back at the same
// address, new clients work.
func TestUpstreamDies(t *testing.T) {
	h := harness.Start(t, harness.WithGate())
	c := h.DialProxy(t)
	if got := c.MustDo(t, "SET", "a", "1"); string(got) != "+OK\r\n" {
		t.Fatalf("SET = %q", got)
	}
	sub := h.DialProxy(t)
	if got := sub.MustDo(t, "SUBSCRIBE", "ch"); !bytes.HasPrefix(got, []byte("*3\r\n$9\r\nsubscribe")) {
		t.Fatalf("SUBSCRIBE = %q", got)
	}
	blocked := h.DialProxy(t)
	_ = blocked.Send("BLPOP", "nope", "0")
	_ = blocked.Flush()
	h.WaitBlocked(t, h.Upstream, 1)
	h.Upstream.Stop()
	h.Gate.Cut()

	for name, conn := range map[string]*redistest.Conn{"idle": c, "subscriber": sub, "blocked": blocked} {
		if name == "idle" {
			_ = conn.Send("GET", "a")
			_ = conn.Flush()
		}
		_ = conn.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
		var replies []string
		for {
			b, err := conn.Read()
			if err != nil {
				if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
					t.Errorf("%s client: %v after %q, want EOF", name, err, replies)
				}
				break
			}
			replies = append(replies, string(b))
		}
		for _, r := range replies {
			if !strings.HasPrefix(r, "-") {
				t.Errorf("%s client got %q, want only error replies before the close", name, replies)
			}
		}
		// The idle client may see the close before its GET is read;
		// the blocked one has a request in flight and must hear why it
		// failed.
		if name == "blocked" && len(replies) == 0 {
			t.Errorf("blocked client got no error reply for its BLPOP")
		}
	}

	// A new Redis behind the same address.
	fresh := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	h.Gate.Open(fresh.Addr)
	waitFor(t, "/readyz to return 200", func() bool { return httpStatus(t, h.AdminURL+"/readyz") == http.StatusOK })
	n := h.DialProxy(t)
	if got := n.MustDo(t, "SET", "b", "2"); string(got) != "+OK\r\n" {
		t.Errorf("new client SET = %q", got)
	}
	if got := n.MustDo(t, "GET", "a"); string(got) != "$-1\r\n" {
		t.Errorf("new client GET a = %q (the fresh Redis is empty)", got)
	}
}

func connectedClients(t *testing.T, c *redistest.Conn) int {
	t.Helper()
	info := string(c.MustDo(t, "INFO", "clients"))
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "connected_clients:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("no connected_clients in %q", info)
	return 0
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUpstreamDB pins the meaning of a database in the upstream URL: it
// is where every client connection starts.
func TestUpstreamDB(t *testing.T) {
	h := harness.Start(t, harness.WithUpstreamURL(func(addr string) string { return "redis://" + addr + "/3" }))
	c := h.DialProxy(t)
	if got := c.MustDo(t, "SET", "k", "in3"); string(got) != "+OK\r\n" {
		t.Fatalf("SET = %q", got)
	}
	up := h.Control(t, h.Upstream)
	up.MustDo(t, "SELECT", "3")
	if got := up.MustDo(t, "GET", "k"); string(got) != "$3\r\nin3\r\n" {
		t.Errorf("upstream db 3 GET k = %q", got)
	}
	c.MustDo(t, "SELECT", "0")
	if got := c.MustDo(t, "GET", "k"); string(got) != "$-1\r\n" {
		t.Errorf("after SELECT 0, GET k = %q", got)
	}
	if got := h.DialProxy(t).MustDo(t, "GET", "k"); string(got) != "$3\r\nin3\r\n" {
		t.Errorf("a new client's GET k = %q, want it in db 3", got)
	}
}
