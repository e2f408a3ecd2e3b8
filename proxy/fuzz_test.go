package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// naiveReply is the obvious recursive reader of one reply, with the same
// acceptance rules as copyReply. It returns the reply's length.
func naiveReply(r *bufio.Reader) (int, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return 0, err
	}
	switch line[0] {
	case '+', '-', ':', ',', '#', '(', '_':
		return len(line), nil
	}
	if len(line) < 4 || line[len(line)-2] != '\r' {
		return 0, errors.New("bad header")
	}
	digits := string(line[1 : len(line)-2])
	n := int64(-1)
	if digits != "-1" {
		if len(digits) > 13 {
			return 0, errors.New("bad length")
		}
		n = 0
		for _, c := range digits {
			if c < '0' || c > '9' {
				return 0, errors.New("bad length")
			}
			n = n*10 + int64(c-'0')
		}
		if n > maxReplyLen {
			return 0, errors.New("length too big")
		}
	}
	total := len(line)
	elems := int64(0)
	switch line[0] {
	case '$', '!', '=':
		if n < 0 {
			return total, nil
		}
		if _, err := io.CopyN(io.Discard, r, n); err != nil {
			return 0, err
		}
		var crlf [2]byte
		if _, err := io.ReadFull(r, crlf[:]); err != nil {
			return 0, err
		}
		if crlf[0] != '\r' || crlf[1] != '\n' {
			return 0, errors.New("no CRLF after bulk")
		}
		return total + int(n) + 2, nil
	case '*', '~', '>':
		elems = n
	case '%':
		elems = 2 * n
	case '|':
		elems = 2*n + 1
		if n < 0 {
			elems = 1
		}
	default:
		return 0, errors.New("unknown type")
	}
	for i := int64(0); i < elems; i++ {
		k, err := naiveReply(r)
		if err != nil {
			return 0, err
		}
		total += k
	}
	return total, nil
}

func FuzzReplyScanner(f *testing.F) {
	for _, tt := range replyCases {
		f.Add([]byte(tt.in))
	}
	for _, s := range []string{"", "\n", "$", "$-1\r\n", "*-1\r\n", "|-1\r\n+x\r\n", "*1\r\n", "$3\r\nab", "$3\r\nabcXY",
		"+" + string(bytes.Repeat([]byte("x"), 40)) + "\r\n", "*2\r\n$0\r\n\r\n%1\r\n_\r\n#f\r\n", "$0000000000003\r\nabc\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// A large reply count could make the reference read for a long
		// time; the input bounds it anyway.
		var out bytes.Buffer
		r := bufio.NewReaderSize(bytes.NewReader(in), 16)
		err := copyReply(&out, r)
		n, refErr := naiveReply(bufio.NewReader(bytes.NewReader(in)))
		if (err == nil) != (refErr == nil) {
			t.Fatalf("scanner error %v, reference error %v", err, refErr)
		}
		if err != nil {
			return
		}
		if out.Len() != n || !bytes.Equal(out.Bytes(), in[:n]) {
			t.Fatalf("scanner copied %d bytes %q, reference reply is %d bytes", out.Len(), out.Bytes(), n)
		}
		// Peeking at the same input never fails where scanning succeeded.
		var h replyHead
		if err := peekHead(bufio.NewReaderSize(bytes.NewReader(in), 16), &h); err != nil {
			t.Fatalf("peekHead: %v", err)
		}
	})
}

func FuzzRequestParser(f *testing.F) {
	for _, s := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "*1\rX$4\r\nPINGxy", "*0\r\n", "*-1\r\n", "*x\r\n", "*1\r\n:1\r\n",
		"GET k\r\n", "SET \"a b\" 'c\\'d' \"\\x41\\n\"\n", "ECHO \"abc\n", "\r\n", "  \n", "*1\x00\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n" + string(bytes.Repeat([]byte("v"), 100)) + "\r\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, noAuth bool) {
		p := requestParser{maxBulk: 1 << 20}
		req, ok, perr := p.parse(in, noAuth)
		if perr != "" {
			if ok {
				t.Fatal("ok with an error")
			}
			return
		}
		if !ok {
			return
		}
		if req.n <= 0 || req.n > len(in) {
			t.Fatalf("consumed %d of %d bytes", req.n, len(in))
		}
		if req.empty != (len(req.argv) == 0) {
			t.Fatalf("empty %v with %d arguments", req.empty, len(req.argv))
		}
		if req.empty {
			return
		}
		argv := fmt.Sprintf("%q", req.argv)
		// The same request alone parses the same; a strict prefix of it
		// is incomplete (inputs here are far below the 64 KiB limits).
		q := requestParser{maxBulk: 1 << 20}
		if r2, ok2, _ := q.parse(in[:req.n], noAuth); !ok2 || r2.n != req.n || fmt.Sprintf("%q", r2.argv) != argv {
			t.Fatalf("request alone parses differently")
		}
		for k := 1; k < req.n; k++ {
			if _, ok2, perr2 := q.parse(in[:k], noAuth); ok2 && !(in[0] != '*' && bytes.IndexByte(in[:k], '\n') >= 0) {
				t.Fatalf("prefix of %d bytes complete", k)
			} else if perr2 != "" {
				t.Fatalf("prefix of %d bytes fails: %s", k, perr2)
			}
		}
		// Re-encoded as multibulk (how inline requests are forwarded), the
		// arguments survive.
		enc := appendCommand(nil, req.argv)
		r3, ok3, perr3 := q.parse(enc, false)
		if !ok3 || perr3 != "" || r3.n != len(enc) || fmt.Sprintf("%q", r3.argv) != argv {
			t.Fatalf("re-encoded request parses as %q (%v %q)", r3.argv, ok3, perr3)
		}
	})
}
