package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// replyCases are complete replies of every RESP2 and RESP3 type.
var replyCases = []struct {
	name, in string
}{
	{"simple", "+OK\r\n"},
	{"error", "-ERR something bad\r\n"},
	{"integer", ":-42\r\n"},
	{"bulk", "$5\r\nhello\r\n"},
	{"bulk empty", "$0\r\n\r\n"},
	{"bulk binary", "$4\r\n\r\n\x00\n\r\n"},
	{"null bulk", "$-1\r\n"},
	{"null array", "*-1\r\n"},
	{"empty array", "*0\r\n"},
	{"array", "*3\r\n:1\r\n$1\r\na\r\n+b\r\n"},
	{"nested", "*2\r\n*2\r\n:1\r\n*1\r\n$1\r\nx\r\n*0\r\n"},
	{"null", "_\r\n"},
	{"double", ",3.14\r\n"},
	{"double inf", ",inf\r\n"},
	{"boolean", "#t\r\n"},
	{"big number", "(3492890328409238509324850943850943825024385\r\n"},
	{"blob error", "!21\r\nSYNTAX invalid syntax\r\n"},
	{"verbatim", "=15\r\ntxt:Some string\r\n"},
	{"map", "%2\r\n+first\r\n:1\r\n+second\r\n*2\r\n:2\r\n:3\r\n"},
	{"set", "~3\r\n+a\r\n+b\r\n:1\r\n"},
	{"push", ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nmsg\r\n"},
	{"attribute", "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.19\r\n$1\r\nb\r\n,0.05\r\n*2\r\n:2039123\r\n:9543892\r\n"},
	{"attribute inside", "*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:7\r\n"},
	{"map of maps", "%1\r\n%1\r\n+k\r\n+v\r\n~1\r\n_\r\n"},
	{"hello3", "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:5\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"},
}

func TestCopyReply(t *testing.T) {
	const trailer = "+NEXT\r\n"
	for _, tt := range replyCases {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []string{"whole", "byte by byte", "tiny buffer"} {
				var src io.Reader = strings.NewReader(tt.in + trailer)
				size := 4096
				switch mode {
				case "byte by byte":
					src = iotest.OneByteReader(src)
				case "tiny buffer":
					size = 16
				}
				r := bufio.NewReaderSize(src, size)
				var out bytes.Buffer
				if err := copyReply(&out, r); err != nil {
					t.Fatalf("%s: %v", mode, err)
				}
				if out.String() != tt.in {
					t.Fatalf("%s: copied %q, want %q", mode, out.String(), tt.in)
				}
				out.Reset()
				if err := copyReply(&out, r); err != nil || out.String() != trailer {
					t.Fatalf("%s: next reply %q, %v", mode, out.String(), err)
				}
			}
		})
	}
}

func TestCopyReplyTruncated(t *testing.T) {
	for _, tt := range replyCases {
		for cut := 0; cut < len(tt.in); cut++ {
			r := bufio.NewReaderSize(strings.NewReader(tt.in[:cut]), 16)
			err := copyReply(io.Discard, r)
			if err == nil {
				t.Fatalf("%s cut at %d: no error", tt.name, cut)
			}
			if cut > 0 && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%s cut at %d: %v, want unexpected EOF", tt.name, cut, err)
			}
		}
	}
}

func TestCopyReplyInvalid(t *testing.T) {
	for _, in := range []string{
		"?\r\n",
		"$abc\r\nxyz\r\n",
		"$3\r\nabcde\r\n",
		"$-2\r\n",
		"*1x\r\n:1\r\n",
		"$3\nabc\r\n",
		"*99999999999999\r\n",
	} {
		err := copyReply(io.Discard, bufio.NewReader(strings.NewReader(in)))
		if !errors.Is(err, errBadReply) {
			t.Errorf("%q: %v, want errBadReply", in, err)
		}
	}
}

// TestCopyReplyLarge streams a bulk much bigger than the reader's buffer
// and a simple line longer than it.
func TestCopyReplyLarge(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 100000)
	in := "$1000000\r\n" + string(payload) + "\r\n" + "+" + strings.Repeat("s", 10000) + "\r\n"
	r := bufio.NewReaderSize(strings.NewReader(in), 64)
	var out bytes.Buffer
	if err := copyReply(&out, r); err != nil {
		t.Fatal(err)
	}
	if err := copyReply(&out, r); err != nil {
		t.Fatal(err)
	}
	if out.String() != in {
		t.Fatal("large reply not copied exactly")
	}
}

// TestCopyReplyAllocs checks that copying a reply does not allocate.
func TestCopyReplyAllocs(t *testing.T) {
	in := []byte(replyCases[len(replyCases)-1].in)
	src := bytes.NewReader(in)
	r := bufio.NewReader(src)
	w := bufio.NewWriter(io.Discard)
	allocs := testing.AllocsPerRun(100, func() {
		src.Reset(in)
		r.Reset(src)
		if err := copyReply(w, r); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("copyReply allocates %v times per reply", allocs)
	}
}

func TestPeekHead(t *testing.T) {
	tests := []struct {
		in       string
		kind     byte
		line     string
		name     string
		count    int64
		hasCount bool
	}{
		{in: "+OK\r\n", kind: '+', line: "OK"},
		{in: "-NOAUTH Authentication required.\r\n", kind: '-', line: "NOAUTH Authentication required."},
		{in: "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", kind: '*', name: "subscribe", count: 1, hasCount: true},
		{in: ">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n", kind: '>', name: "unsubscribe", count: 0, hasCount: true},
		{in: "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n", kind: '*', name: "unsubscribe", count: 0, hasCount: true},
		{in: "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", kind: '*', name: "message"},
		{in: ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n", kind: '>', name: "invalidate"},
		{in: "%1\r\n+a\r\n:1\r\n", kind: '%'},
	}
	for _, tt := range tests {
		for _, one := range []bool{false, true} {
			var src io.Reader = strings.NewReader(tt.in)
			if one {
				src = iotest.OneByteReader(src)
			}
			r := bufio.NewReader(src)
			var h replyHead
			if err := peekHead(r, &h); err != nil {
				t.Fatalf("%q: %v", tt.in, err)
			}
			if h.kind != tt.kind || string(h.Line()) != tt.line || string(h.Name()) != tt.name ||
				h.count != tt.count || h.hasCount != tt.hasCount {
				t.Errorf("%q: got kind %c line %q name %q count %d/%v", tt.in, h.kind, h.Line(), h.Name(), h.count, h.hasCount)
			}
			// Peeking consumes nothing.
			var out bytes.Buffer
			if err := copyReply(&out, r); err != nil || out.String() != tt.in {
				t.Errorf("%q: after peek copied %q, %v", tt.in, out.String(), err)
			}
		}
	}
}
