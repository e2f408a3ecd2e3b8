package passthrough

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/test/harness"
)

// fuzzCommands are the only commands the fuzzed client may run: their
// replies are deterministic, so any difference is luaproxy's. Everything
// else gets the same -NOPERM from both servers.
var fuzzCommands = []string{
	"get", "set", "ping", "echo", "incr", "incrby", "incrbyfloat", "del", "exists", "append", "strlen", "getrange",
	"mget", "mset", "setnx", "getset", "rpush", "lpush", "lrange", "llen", "lpop", "lindex", "hset", "hget",
	"hgetall", "hdel", "sadd", "sismember", "scard", "zadd", "zrange", "zscore", "zincrby", "type", "select",
	"multi", "exec", "discard", "watch", "unwatch", "quit", "reset", "hello", "auth",
}

const fuzzSentinel = "*2\r\n$4\r\nECHO\r\n$14\r\nfuzz-sentinel!\r\n"

// FuzzProtocol sends arbitrary bytes, followed by a harmless ECHO, to the
// direct Redis and through luaproxy, and requires the same reply bytes and
// the same closing of the connection.
func FuzzProtocol(f *testing.F) {
	// A fuzz worker talks to its coordinator over inherited descriptors 3
	// and 4, which are not close-on-exec; redis-server children would
	// inherit them and, outliving a restarted worker, keep the coordinator
	// waiting forever. Keep them out of the children.
	syscall.CloseOnExec(3)
	syscall.CloseOnExec(4)
	allow := append([]string{"ACL", "SETUSER", "default", "-@all"}, prefixed("+", fuzzCommands)...)
	h := harness.Start(f,
		harness.WithServerSetup(
			[]string{"ACL", "SETUSER", "admin", "on", ">admin", "~*", "&*", "+@all"},
			allow),
		harness.WithServerAuth("admin", "admin"))
	for _, seed := range []string{
		"PING\r\n", "*1\r\n$4\r\nPING\r\n", "SET a \"b c\"\r\nGET a\r\n", "*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
		"*-1\r\n", "*0\r\n", "*1\r\n$-1\r\n", "*1\r\n$0\r\n\r\n", "*abc\r\n", "$3\r\nGET\r\n", "*1\r\n$4\r\nPIN",
		"\r\n\n\r\nPING\n", "ECHO 'a\\'b'\r\n", "ECHO \"\\x4\"\r\n", "ECHO \"a\"b\r\n", "SET x 1\r\nINCR x\r\n",
		"MULTI\r\nINCR a\r\nNOSUCH\r\nEXEC\r\n", "HELLO 3\r\nHGETALL h\r\n", "QUIT\r\nPING\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nvv\r\n",
		"*2\r\n$4\r\nECHO\r\n$3\r\nabcXY", "FLUSHALL\r\n", "*1\r\n*1\r\n", "*1\r\n$4\r\nPING\n", " \t PING \t\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h.FlushAll(t)
		want := exchange(t, h.Direct.Addr, in)
		got := exchange(t, h.ProxyAddr, in)
		if !bytes.Equal(want, got) {
			t.Fatalf("request %q\ndirect: %q\nproxy:  %q", in, want, got)
		}
	})
}

// exchange writes in and the sentinel, and returns everything read until
// the sentinel's reply, the server closing, or a quiet 300 ms (a request
// left incomplete), with a marker for how it ended.
func exchange(t *testing.T, addr string, in []byte) []byte {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		// Written concurrently with reading, so that a server that
		// answers and closes early cannot block the write.
		_, _ = c.Write(append(append([]byte(nil), in...), fuzzSentinel...))
	}()
	var out []byte
	buf := make([]byte, 4096)
	end := []byte("$14\r\nfuzz-sentinel!\r\n")
	for {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if bytes.HasSuffix(out, end) {
			return out
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			return append(out, "<quiet>"...)
		case errors.Is(err, io.EOF):
			return append(out, "<closed>"...)
		default:
			return append(out, "<closed: error>"...)
		}
	}
}

func prefixed(p string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p + n
	}
	return out
}
