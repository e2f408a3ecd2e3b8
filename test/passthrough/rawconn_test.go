package passthrough

import (
	"bufio"
	"fmt"
	"net"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// rawConn is a goroutine-safe-per-instance RESP client that does not need
// a testing.TB, for workloads run from many goroutines.
type rawConn struct {
	net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func dial(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}, nil
}

// pipeline writes cmds at once and reads one reply each.
func (c *rawConn) pipeline(cmds [][]string) ([][]byte, error) {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	for _, args := range cmds {
		fmt.Fprintf(c.w, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(c.w, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	replies := make([][]byte, len(cmds))
	for i := range cmds {
		b, err := redistest.ReadReply(c.r)
		if err != nil {
			return replies, err
		}
		replies[i] = b
	}
	return replies, nil
}
