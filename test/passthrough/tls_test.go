package passthrough

import (
	"bytes"
	"net"
	"strconv"
	"testing"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/test/harness"
)

// startTLS starts luaproxy in front of an upstream that also listens with
// TLS, reaching it through rediss://.
func startTLS(t *testing.T, files redistest.TLSFiles, configure func(*config.Config)) *harness.Harness {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return harness.Start(t,
		harness.WithUpstreamArgs(files.ServerArgs(port)...),
		harness.WithUpstreamURL(func(string) string { return "rediss://" + tlsAddr }),
		harness.WithConfig(configure))
}

// TestTLSUpstream passes traffic to a rediss:// upstream verified with a
// CA file, and refuses an upstream that the CA did not sign.
func TestTLSUpstream(t *testing.T) {
	files := redistest.WriteTLSFiles(t, t.TempDir())
	h := startTLS(t, files, func(c *config.Config) { c.UpstreamTLSCAFile = files.CA })
	h.Run(t, scenario{Name: "over TLS", Steps: []step{
		cmd("SET", "k", "v"), cmd("GET", "k"), {Cmd: []string{"HELLO", "3"}, Norm: harness.HelloID}, cmd("HGETALL", "nope"),
		cmd("SUBSCRIBE", "c"), on(1, "PUBLISH", "c", "m"), {Read: 1},
	}})
	if code := httpStatus(t, h.AdminURL+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d, want 200", code)
	}

	t.Run("insecure", func(t *testing.T) {
		h := startTLS(t, files, func(c *config.Config) { c.UpstreamTLSInsecure = true })
		if got := h.DialProxy(t).MustDo(t, "PING"); string(got) != "+PONG\r\n" {
			t.Errorf("PING = %q", got)
		}
	})
	t.Run("unknown CA", func(t *testing.T) {
		other := redistest.WriteTLSFiles(t, t.TempDir())
		h := startTLS(t, files, func(c *config.Config) { c.UpstreamTLSCAFile = other.CA })
		got := h.DialProxy(t).MustDo(t, "PING")
		if !bytes.HasPrefix(got, []byte("-ERR upstream unavailable")) {
			t.Errorf("PING with an untrusted upstream = %q", got)
		}
		if code := httpStatus(t, h.AdminURL+"/readyz"); code != 503 {
			t.Errorf("/readyz = %d, want 503", code)
		}
	})
}
