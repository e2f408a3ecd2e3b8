package passthrough

import (
	"bytes"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/test/harness"
)

// TestMaxClients checks that the client over max-clients gets Redis's
// error and a closed connection, and that a slot frees when a client
// leaves.
func TestMaxClients(t *testing.T) {
	direct := redistest.Start(t, "--maxclients", "3")
	h := harness.Start(t, harness.WithConfig(func(c *config.Config) { c.MaxClients = 3 }))
	overflow := func(addr string) ([]byte, *redistest.Conn) {
		var conns []*redistest.Conn
		for i := 0; i < 3; i++ {
			c := redistest.Dial(t, addr)
			if got := c.MustDo(t, "PING"); string(got) != "+PONG\r\n" {
				t.Fatalf("%s client %d PING = %q", addr, i, got)
			}
			conns = append(conns, c)
		}
		c := redistest.Dial(t, addr)
		_ = c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
		reply, _ := c.Read()
		rest, err := c.Read()
		if err == nil || len(rest) != 0 {
			t.Errorf("%s: connection over the limit not closed: %q, %v", addr, rest, err)
		}
		return reply, conns[0]
	}
	want, _ := overflow(direct.Addr)
	got, first := overflow(h.ProxyAddr)
	if !bytes.Equal(got, want) {
		t.Errorf("over the limit: proxy %q, direct %q", got, want)
	}
	first.NetConn().Close()
	waitFor(t, "a free client slot", func() bool {
		c, err := dial(h.ProxyAddr)
		if err != nil {
			return false
		}
		defer c.Close()
		replies, err := c.pipeline([][]string{{"PING"}})
		return err == nil && string(replies[0]) == "+PONG\r\n"
	})
}

// TestClientIdleTimeout checks that idle clients are closed silently, as
// Redis's timeout does, while subscribers and blocked clients are not.
func TestClientIdleTimeout(t *testing.T) {
	h := harness.Start(t, harness.WithConfig(func(c *config.Config) { c.ClientIdleTimeout = 200 * time.Millisecond }))
	sub := h.DialProxy(t)
	sub.MustDo(t, "SUBSCRIBE", "ch")
	blocked := h.DialProxy(t)
	_ = blocked.Send("BLPOP", "l", "0")
	_ = blocked.Flush()
	idle := h.DialProxy(t)
	idle.MustDo(t, "PING")
	_ = idle.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if b, err := idle.Read(); err == nil || len(b) != 0 {
		t.Errorf("idle client: read %q, %v; want a silent close", b, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("idle client closed after %v, before its timeout", d)
	}
	// The idle client has been closed after its timeout; the others have
	// been idle at least as long and must still work.
	pub := h.DialProxy(t)
	pub.MustDo(t, "PUBLISH", "ch", "still here")
	_ = sub.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := sub.Read(); err != nil || !bytes.Contains(b, []byte("still here")) {
		t.Errorf("subscriber: %q, %v", b, err)
	}
	pub.MustDo(t, "RPUSH", "l", "v")
	_ = blocked.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := blocked.Read(); err != nil || string(b) != "*2\r\n$1\r\nl\r\n$1\r\nv\r\n" {
		t.Errorf("blocked client: %q, %v", b, err)
	}
}
