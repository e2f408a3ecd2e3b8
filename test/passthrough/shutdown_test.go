package passthrough

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/test/harness"
)

// TestShutdownDrains checks that Shutdown lets an in-flight command finish
// and deliver its reply, then closes the client, and accepts no one new.
func TestShutdownDrains(t *testing.T) {
	h := harness.Start(t)
	c := h.DialProxy(t)
	c.MustDo(t, "PING")
	_ = c.Send("BLPOP", "nope", "0.3")
	_ = c.Send("SET", "after", "sleep")
	_ = c.Flush()
	h.WaitBlocked(t, h.Upstream, 1)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- h.Proxy.Shutdown(ctx)
	}()
	_ = c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range []string{"*-1\r\n", "+OK\r\n"} {
		got, err := c.Read()
		if err != nil || string(got) != want {
			t.Fatalf("in-flight reply = %q, %v; want %q", got, err, want)
		}
	}
	if b, err := c.Read(); err == nil {
		t.Errorf("after the drain the client read %q, want a close", b)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", h.ProxyAddr, time.Second); err == nil {
		conn.Close()
		t.Error("luaproxy still accepts connections after Shutdown")
	}
	if code := httpStatus(t, h.AdminURL+"/readyz"); code != 503 {
		t.Errorf("/readyz after Shutdown = %d, want 503", code)
	}
}
