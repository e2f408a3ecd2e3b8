package proxy

import (
	"strconv"
	"strings"
	"testing"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/redistest"
)

func TestUpstreamTLS(t *testing.T) {
	dir := t.TempDir()
	files := redistest.WriteTLSFiles(t, dir)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	redistest.Start(t, files.ServerArgs(port)...)
	url := "rediss://127.0.0.1:" + strconv.Itoa(port)
	tests := []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"ca file", func(c *config.Config) { c.UpstreamTLSCAFile = files.CA }, "+PONG\r\n"},
		{"insecure", func(c *config.Config) { c.UpstreamTLSInsecure = true }, "+PONG\r\n"},
		{"unverified", func(*config.Config) {}, "-ERR upstream unavailable: tls: failed to verify certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, url, nil, tt.edit)
			if got := string(p.dial(t).MustDo(t, "PING")); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("PING: %q, want prefix %q", got, tt.want)
			}
		})
	}
}
