package proxy

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// exchange writes in to addr, half-closes nothing, and reads until the
// server closes the connection.
func exchange(t *testing.T, addr, in string) string {
	t.Helper()
	c := rawDial(t, addr)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, in); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read: %v (got %q)", err, out)
	}
	return string(out)
}

// TestDifferentialRaw sends the same bytes to redis-server and through the
// proxy and expects the same bytes back: protocol errors, inline requests,
// edge cases of the request syntax. Every input ends the connection (by a
// protocol error or QUIT).
func TestDifferentialRaw(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, nil)
	const quit = "*1\r\n$4\r\nQUIT\r\n"
	tests := []struct{ name, in string }{
		{"invalid multibulk length", "*x\r\n"},
		{"multibulk over int max", "*2147483648\r\n"},
		{"expected dollar", "*1\r\n:4\r\n"},
		{"expected dollar got cr", "*1\r\n\r\n\r\n"},
		{"expected dollar got lf", "*1\r\n\n\r\n"},
		{"invalid bulk length", "*1\r\n$-1\r\n"},
		{"bulk length not a number", "*1\r\n$1x\r\n"},
		{"bulk over proto-max-bulk-len", "*1\r\n$536870913\r\n"},
		{"unbalanced quotes", "ECHO \"abc\r\n"},
		{"unbalanced single quote", "ECHO 'abc\r\n"},
		{"closing quote then char", "ECHO \"a\"b\r\n"},
		{"too big inline", strings.Repeat("a", 70000)},
		{"too big mbulk count", "*" + strings.Repeat("1", 70000)},
		{"too big bulk count", "*1\r\n$" + strings.Repeat("1", 70000)},
		{"errors after good commands", "PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n"},
		{"inline commands", "PING\r\nECHO hello\nSET k \"a b\\x41\\n\"\r\nGET k\r\n\r\n   \r\nECHO 'it\\'s'\r\nQUIT\r\n"},
		{"inline hex edge", "ECHO \"\\x4\" \"\\x\" \"\\xZZ\" \"\\\"\"\r\nQUIT\r\n"},
		{"empty multibulk", "*0\r\n*-1\r\n" + quit},
		{"unchecked bytes", "*1\rX$4\r\nPINGxy" + quit},
		{"unknown command", "*1\r\n$7\r\nNOSUCHX\r\n" + quit},
		{"arity error", "*1\r\n$3\r\nGET\r\n" + quit},
		{"quit with args", "*2\r\n$4\r\nQUIT\r\n$1\r\nx\r\nPING\r\n"},
		{"after quit ignored", quit + "*1\r\n$4\r\nPING\r\n"},
		{"reply off then error", "PING\r\nCLIENT REPLY OFF\r\nPING\r\n*x\r\n"},
		{"reply skip then error", "PING\r\nCLIENT REPLY SKIP\r\n*x\r\n"},
		{"reply skip used then error", "CLIENT REPLY SKIP\r\nPING\r\nPING\r\n*x\r\n"},
		{"reply on again", "CLIENT REPLY OFF\r\nPING\r\nCLIENT REPLY ON\r\nPING\r\n" + quit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := exchange(t, rs.Addr, tt.in)
			got := exchange(t, p.Addr, tt.in)
			if got != want {
				t.Errorf("proxy replied\n%q\nredis replied\n%q", trunc(got), trunc(want))
			}
		})
	}
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// TestDifferentialUnauthenticated checks the tighter limits Redis applies
// before a client has authenticated, and that they lift after AUTH.
func TestDifferentialUnauthenticated(t *testing.T) {
	rs := requirePass(t, "secret")
	p := startProxy(t, rs.Addr, nil)
	big := strings.Repeat("x", 16385)
	tests := []struct{ name, in string }{
		{"unauthenticated multibulk length", "*11\r\n"},
		{"unauthenticated bulk length", "*2\r\n$4\r\nECHO\r\n$16385\r\n"},
		{"small allowed", "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nQUIT\r\n"},
		{"after auth", "*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n*2\r\n$4\r\nECHO\r\n$16385\r\n" + big + "\r\n*1\r\n$4\r\nQUIT\r\n"},
		{"after failed auth", "*2\r\n$4\r\nAUTH\r\n$5\r\nwrong\r\n*11\r\n"},
		{"pipelined auth", "*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n*11\r\n$4\r\nECHO\r\n" + strings.Repeat("$1\r\na\r\n", 10) + "*1\r\n$4\r\nQUIT\r\n"},
		{"hello without protover", "*4\r\n$5\r\nHELLO\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$6\r\nsecret\r\n*11\r\n$4\r\nECHO\r\n" + strings.Repeat("$1\r\na\r\n", 10) + "*1\r\n$4\r\nQUIT\r\n"},
		{"reset deauthenticates", "*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n*1\r\n$5\r\nRESET\r\n*11\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := exchange(t, rs.Addr, tt.in)
			got := exchange(t, p.Addr, tt.in)
			if got != want {
				t.Errorf("proxy replied\n%q\nredis replied\n%q", trunc(got), trunc(want))
			}
		})
	}
}

// requirePass starts a redis-server whose default user needs a password
// (set after start: redistest's readiness check PINGs without AUTH).
func requirePass(t *testing.T, pass string) *redistest.Server {
	rs := redistest.Start(t)
	if got := string(rs.Dial(t).MustDo(t, "CONFIG", "SET", "requirepass", pass)); got != "+OK\r\n" {
		t.Fatalf("CONFIG SET requirepass: %q", got)
	}
	return rs
}

// exchangeHalfClose writes in, closes the sending side and reads until the
// server closes.
func exchangeHalfClose(t *testing.T, addr string, in []byte) string {
	t.Helper()
	c := rawDial(t, addr)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(in); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("%s: input %q: read: %v (got %q)", addr, in, err, out)
	}
	return string(out)
}

var helloID = regexp.MustCompile(`\$2\r\nid\r\n:\d+\r\n`)

// TestDifferentialRandom builds request streams from valid commands,
// inline lines with quoting and malformed fragments, sends each to
// redis-server and through the proxy, and compares the replies byte for
// byte. Only commands without side effects are used, so the two runs see
// the same data.
func TestDifferentialRandom(t *testing.T) {
	rs := redistest.Start(t)
	p := startProxy(t, rs.Addr, nil)
	fragments := []string{
		"*1\r\n$4\r\nPING\r\n", "*2\r\n$4\r\nECHO\r\n$3\r\na b\r\n", "*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n",
		"PING\r\n", "ECHO \"q\\x41\\n\"\r\n", "ECHO 'x\\'y'\n", "  \r\n", "\n", "EXISTS a b c\r\n",
		"*0\r\n", "*-1\r\n", "*1\r\n$3\r\nFOO\r\n", "*3\r\n$4\r\nECHO\r\n$1\r\na\r\n$1\r\nb\r\n",
		"*", "$", "\r", "\n", "\x00", "\"", "'", "x", " ", "*1\r\n", "$4\r\n", "PING", "*2\r\n$4\r\nECHO\r\n",
		"*1\r\n$-1\r\n", "*1\r\n:1\r\n", "*x\r\n", "*1\rX", "$4\r\nPINGxy", "ECHO \"a\"b\r\n", "*11\r\n",
		"CLIENT REPLY SKIP\r\n", "CLIENT REPLY OFF\r\n", "CLIENT REPLY ON\r\n", "MULTI\r\n", "EXEC\r\n",
		"SELECT 1\r\n", "RESET\r\n", "UNSUBSCRIBE\r\n", "SUBSCRIBE a b\r\n", "PSUBSCRIBE p*\r\n",
		"PUNSUBSCRIBE\r\n", "DISCARD\r\n", "WATCH k\r\n", "QUIT\r\n", "SUBSCRIBE\r\n", "UNSUBSCRIBE a\r\n",
		"HELLO 3\r\n", "HELLO 2\r\n", "SSUBSCRIBE s\r\n", "SUNSUBSCRIBE\r\n",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		var in []byte
		for n := 1 + rng.IntN(8); n > 0; n-- {
			in = append(in, fragments[rng.IntN(len(fragments))]...)
		}
		if bytes.Contains(in, []byte("MULTI")) && bytes.Contains(in, []byte("CLIENT REPLY")) {
			// Redis 7.0 cuts EXEC's reply short after a queued CLIENT
			// REPLY OFF; the proxy does not reproduce that.
			continue
		}
		// HELLO's reply holds the connection id, which differs.
		want := helloID.ReplaceAllString(exchangeHalfClose(t, rs.Addr, in), "id")
		got := helloID.ReplaceAllString(exchangeHalfClose(t, p.Addr, in), "id")
		if i < 5 {
			t.Logf("input %q -> %q", in, got)
		}
		if got != want {
			t.Fatalf("input %q:\nproxy replied %q\nredis replied %q", in, got, want)
		}
	}
}
