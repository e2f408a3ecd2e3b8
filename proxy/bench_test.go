package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/resp"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// parseBenchInputs are typical client requests: single commands and a
// pipeline of them.
func parseBenchInputs() []struct {
	name string
	in   []byte
} {
	get := []byte("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n")
	set := appendCommand(nil, [][]byte{[]byte("SET"), []byte("key:000001"), bytes.Repeat([]byte("v"), 100)})
	var pipe []byte
	for i := 0; i < 50; i++ {
		pipe = append(pipe, get...)
		pipe = append(pipe, set...)
	}
	return []struct {
		name string
		in   []byte
	}{
		{"GET", get},
		{"SET100", set},
		{"Pipeline100", pipe},
	}
}

// BenchmarkParse compares the proxy's request parser with
// github.com/tidwall/resp v0.1.1 on the same bytes. Both parse every
// request in the input; tidwall/resp reads through its own bufio.Reader.
func BenchmarkParse(b *testing.B) {
	for _, in := range parseBenchInputs() {
		b.Run("own/"+in.name, func(b *testing.B) {
			p := requestParser{maxBulk: 512 << 20}
			b.SetBytes(int64(len(in.in)))
			b.ReportAllocs()
			for b.Loop() {
				buf := in.in
				for len(buf) > 0 {
					req, ok, perr := p.parse(buf, false)
					if !ok || perr != "" {
						b.Fatalf("parse failed: %q", perr)
					}
					buf = buf[req.n:]
				}
			}
		})
		b.Run("tidwall/"+in.name, func(b *testing.B) {
			// One Reader over an endless repetition of the input, so that
			// its setup is not counted.
			rd := resp.NewReader(&cycleReader{b: in.in})
			requests := countRequests(in.in)
			b.SetBytes(int64(len(in.in)))
			b.ReportAllocs()
			for b.Loop() {
				for i := 0; i < requests; i++ {
					if _, _, _, err := rd.ReadMultiBulk(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// cycleReader repeats b forever.
type cycleReader struct {
	b   []byte
	off int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.b[c.off:])
		n += k
		c.off = (c.off + k) % len(c.b)
	}
	return n, nil
}

func countRequests(in []byte) int {
	p := requestParser{maxBulk: 512 << 20}
	n := 0
	for len(in) > 0 {
		req, _, _ := p.parse(in, false)
		in = in[req.n:]
		n++
	}
	return n
}

// TestParseAgreesWithTidwall checks that both parsers see the same
// arguments in the benchmark inputs, so the benchmark compares like work.
func TestParseAgreesWithTidwall(t *testing.T) {
	for _, in := range parseBenchInputs() {
		var own, theirs []string
		p := requestParser{maxBulk: 512 << 20}
		buf := in.in
		for len(buf) > 0 {
			req, ok, _ := p.parse(buf, false)
			if !ok {
				t.Fatalf("%s: incomplete", in.name)
			}
			own = append(own, fmt.Sprintf("%q", req.argv))
			buf = buf[req.n:]
		}
		rd := resp.NewReader(bytes.NewReader(in.in))
		for {
			v, _, _, err := rd.ReadMultiBulk()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			var args [][]byte
			for _, a := range v.Array() {
				args = append(args, a.Bytes())
			}
			theirs = append(theirs, fmt.Sprintf("%q", args))
		}
		if strings.Join(own, "\n") != strings.Join(theirs, "\n") {
			t.Errorf("%s: parsers disagree", in.name)
		}
	}
}

// BenchmarkProxyPipeline measures pass-through of pipelined GETs against a
// real redis-server; allocs/op is per command and counts the whole
// process (client, proxy and test), so it exposes hot-path allocations.
func BenchmarkProxyPipeline(b *testing.B) {
	rs := redistest.Start(b)
	p := startProxy(b, rs.Addr, nil)
	for _, target := range []struct{ name, addr string }{{"proxy", p.Addr}, {"direct", rs.Addr}} {
		for _, depth := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("%s/depth%d", target.name, depth), func(b *testing.B) {
				benchPipeline(b, target.addr, depth)
			})
		}
	}
}

func benchPipeline(b *testing.B, addr string, depth int) {
	{
		{
			c := rawDial(b, addr)
			_ = c.SetDeadline(time.Time{})
			req := bytes.Repeat([]byte("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"), depth)
			reply := len("$-1\r\n") * depth
			buf := make([]byte, reply)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
				n += depth
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/cmd")
		}
	}
}

// TestScalarLenAgreesWithScanner guards the reply fast path: whenever
// scalarLen claims a complete reply, the scanner copies exactly those
// bytes; for every prefix of a reply it claims nothing or the whole.
func TestScalarLenAgreesWithScanner(t *testing.T) {
	extra := []string{"$3\r\nabc\r\n", "$3\r\nabcXY", "$3\r\nab", "$-1\r\n", "$-2\r\n", "$x\r\n", "+OK\n", ":1\r\n",
		"$0\r\n\r\n", "$1\r\n\n\r\n", "$3\r\nabc", "\r\n", "x\r\n", "$10000000000000\r\n"}
	var ins []string
	for _, c := range replyCases {
		ins = append(ins, c.in)
	}
	ins = append(ins, extra...)
	for _, in := range ins {
		for cut := 0; cut <= len(in); cut++ {
			b := []byte(in[:cut] + "+NEXT\r\n")
			n := scalarLen(b)
			if n == 0 {
				continue
			}
			var out bytes.Buffer
			err := copyReply(&out, bufio.NewReader(bytes.NewReader(b)))
			if err != nil || out.String() != string(b[:n]) {
				t.Errorf("scalarLen(%q) = %d, scanner copied %q, %v", b, n, out.Bytes(), err)
			}
		}
	}
}

// TestNameIndexAgreesWithTable checks the hot-path name lookup against the
// table it is built from, for every name in it, in any case, and for
// near misses.
func TestNameIndexAgreesWithTable(t *testing.T) {
	for _, handler := range [][]string{nil, scriptingCommands, {"get", "Foo", "X"}} {
		tab := newCommandTable(handler)
		x := newNameIndex(tab)
		names := []string{"", "GET", "SET", "get", "ge", "GETX", "EVALSHA_RO", "x", "FOO", "foO", "SELECT1", "SELEC",
			strings.Repeat("A", maxCommandName+1)}
		for name := range tab {
			names = append(names, name, strings.ToLower(name), name[:len(name)-1], name+"S")
		}
		for _, name := range names {
			if got, want := x.lookup([]byte(name)), tab.lookup([]byte(name)); got != want {
				t.Errorf("handler %v: lookup(%q) = %+v, want %+v", handler, name, got, want)
			}
		}
	}
}

// BenchmarkNameLookup compares the name index with the map lookup it
// replaced on the hot path.
func BenchmarkNameLookup(b *testing.B) {
	tab := newCommandTable(scriptingCommands)
	x := newNameIndex(tab)
	for _, name := range []string{"GET", "HSET", "EVALSHA", "subscribe"} {
		b.Run("index/"+name, func(b *testing.B) {
			n := []byte(name)
			for b.Loop() {
				_ = x.lookup(n)
			}
		})
		b.Run("map/"+name, func(b *testing.B) {
			n := []byte(name)
			for b.Loop() {
				_ = tab.lookup(n)
			}
		})
	}
}
