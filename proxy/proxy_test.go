package proxy

import (
	"testing"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

func TestPassThroughBasic(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, nil)
	c := p.dial(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "+PONG\r\n"},
		{[]string{"SET", "k", "v"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$1\r\nv\r\n"},
		{[]string{"GET", "missing"}, "$-1\r\n"},
		{[]string{"SELECT", "3"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$-1\r\n"},
		{[]string{"NOSUCH"}, "-ERR unknown command 'NOSUCH', with args beginning with: \r\n"},
	}
	for _, tt := range tests {
		if got := string(c.MustDo(t, tt.args...)); got != tt.want {
			t.Errorf("%v = %q, want %q", tt.args, got, tt.want)
		}
	}
}
