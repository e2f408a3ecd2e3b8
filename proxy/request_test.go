package proxy

import (
	"fmt"
	"strings"
	"testing"
)

func argvString(argv [][]byte) string { return fmt.Sprintf("%q", argv) }

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		argv   string // %q of argv; "" for incomplete or error
		n      int
		empty  bool
		perr   string
		noAuth bool
	}{
		{name: "multibulk", in: "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", argv: `["GET" "k"]`, n: 20},
		{name: "multibulk then more", in: "*1\r\n$4\r\nPING\r\n*1\r\n", argv: `["PING"]`, n: 14},
		{name: "binary arg", in: "*2\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n", argv: `["SET" "a\r\nb"]`, n: 23},
		{name: "empty arg", in: "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", argv: `["ECHO" ""]`, n: 20},
		{name: "zero count", in: "*0\r\n", empty: true, n: 4},
		{name: "negative count", in: "*-3\r\n", empty: true, n: 5},
		{name: "unchecked bytes after count", in: "*1\rX$4\r\nPING\r\n", argv: `["PING"]`, n: 14},
		{name: "unchecked bytes after bulk", in: "*1\r\n$4\r\nPINGxy", argv: `["PING"]`, n: 14},
		{name: "incomplete count", in: "*2"},
		{name: "incomplete count cr", in: "*2\r"},
		{name: "incomplete bulk", in: "*1\r\n$4\r\nPI"},
		{name: "incomplete crlf", in: "*1\r\n$4\r\nPING"},
		{name: "incomplete second", in: "*2\r\n$4\r\nPING\r\n"},
		{name: "nul hides cr", in: "*1\x00\r\n"},
		{name: "bad count", in: "*x\r\n", perr: errInvalidMbulkLen},
		{name: "plus count", in: "*+1\r\n", perr: errInvalidMbulkLen},
		{name: "leading zero count", in: "*01\r\n", perr: errInvalidMbulkLen},
		{name: "minus zero count", in: "*-0\r\n", perr: errInvalidMbulkLen},
		{name: "empty count", in: "*\r\n", perr: errInvalidMbulkLen},
		{name: "count over int max", in: "*2147483648\r\n", perr: errInvalidMbulkLen},
		{name: "count int max", in: "*2147483647\r\n"},
		{name: "not dollar", in: "*1\r\n:4\r\n", perr: "Protocol error: expected '$', got ':'"},
		{name: "not dollar cr", in: "*1\r\n\r\n", perr: "Protocol error: expected '$', got ' '"},
		{name: "bad bulk len", in: "*1\r\n$x\r\n", perr: errInvalidBulkLen},
		{name: "negative bulk len", in: "*1\r\n$-1\r\n", perr: errInvalidBulkLen},
		{name: "bulk over max", in: "*1\r\n$1025\r\n", perr: errInvalidBulkLen},
		{name: "unauth count", in: "*11\r\n", perr: errUnauthMbulkLen, noAuth: true},
		{name: "unauth count ok", in: "*10\r\n", noAuth: true},
		{name: "unauth bulk", in: "*1\r\n$16385\r\n", perr: errInvalidBulkLen, noAuth: true},
		{name: "too big count", in: "*" + strings.Repeat("1", 65537), perr: errTooBigMbulkCount},
		{name: "big count pending", in: "*" + strings.Repeat("1", 65535)},
		{name: "too big bulk count", in: "*1\r\n$" + strings.Repeat("1", 65536), perr: errTooBigBulkCount},
		{name: "inline", in: "GET k\r\n", argv: `["GET" "k"]`, n: 7},
		{name: "inline lf", in: "GET k\n", argv: `["GET" "k"]`, n: 6},
		{name: "inline blanks", in: "  SET \t a  b \r\n", argv: `["SET" "a" "b"]`, n: 15},
		{name: "inline empty", in: "\r\n", empty: true, n: 2},
		{name: "inline spaces only", in: "   \n", empty: true, n: 4},
		{name: "inline double quotes", in: `SET "a b" "c\"d"` + "\r\n", argv: `["SET" "a b" "c\"d"]`, n: 18},
		{name: "inline escapes", in: `ECHO "\n\r\t\b\a\\\q"` + "\n", argv: `["ECHO" "\n\r\t\b\a\\q"]`, n: 22},
		{name: "inline hex", in: `ECHO "\x41\x7a\x0" ` + "\n", argv: `["ECHO" "Azx0"]`, n: 20},
		{name: "inline single quotes", in: `ECHO 'it\'s' '\n'` + "\n", argv: `["ECHO" "it's" "\\n"]`, n: 18},
		{name: "inline empty quotes", in: `ECHO "" ''` + "\n", argv: `["ECHO" "" ""]`, n: 11},
		{name: "inline quote mid token", in: `ECHO a"b c"d` + "\n"},
		{name: "inline quote joins", in: `ECHO a"b c" d` + "\n", argv: `["ECHO" "ab c" "d"]`, n: 14},
		{name: "inline unbalanced", in: `ECHO "abc` + "\n", perr: errUnbalancedQuotes},
		{name: "inline unbalanced single", in: `ECHO 'abc` + "\n", perr: errUnbalancedQuotes},
		{name: "inline closing quote then char", in: `ECHO "a"b` + "\n", perr: errUnbalancedQuotes},
		{name: "inline cr inside", in: "ECHO a\rb\r\n", argv: `["ECHO" "a" "b"]`, n: 10},
		{name: "inline vertical tab", in: "ECHO\va\n", argv: `["ECHO\va"]`, n: 7},
		{name: "inline incomplete", in: "GET k"},
		{name: "inline nul hides newline", in: "GET\x00k\r\n"},
		{name: "inline too big", in: strings.Repeat("a", 65537), perr: errTooBigInline},
		{name: "inline max pending", in: strings.Repeat("a", 65536)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := requestParser{maxBulk: 1024}
			req, ok, perr := p.parse([]byte(tt.in), tt.noAuth)
			if tt.name == "inline quote mid token" {
				// a"b c"d: the closing quote is followed by 'd'.
				if perr != errUnbalancedQuotes {
					t.Fatalf("perr = %q", perr)
				}
				return
			}
			if perr != tt.perr {
				t.Fatalf("perr = %q, want %q", perr, tt.perr)
			}
			if tt.perr != "" {
				return
			}
			complete := tt.argv != "" || tt.empty
			if ok != complete {
				t.Fatalf("ok = %v, want %v", ok, complete)
			}
			if !ok {
				return
			}
			if req.n != tt.n || req.empty != tt.empty {
				t.Fatalf("n = %d empty = %v, want %d %v", req.n, req.empty, tt.n, tt.empty)
			}
			if !tt.empty && argvString(req.argv) != tt.argv {
				t.Fatalf("argv = %s, want %s", argvString(req.argv), tt.argv)
			}
		})
	}
}

func TestString2ll(t *testing.T) {
	tests := []struct {
		in string
		v  int64
		ok bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"-1", -1, true}, {"9223372036854775807", 9223372036854775807, true},
		{"-9223372036854775808", -9223372036854775808, true}, {"9223372036854775808", 0, false},
		{"", 0, false}, {"-", 0, false}, {"00", 0, false}, {"01", 0, false}, {"+1", 0, false},
		{" 1", 0, false}, {"1 ", 0, false}, {"-0", 0, false}, {"123456789012345678901", 0, false},
	}
	for _, tt := range tests {
		v, ok := string2ll([]byte(tt.in))
		if v != tt.v || ok != tt.ok {
			t.Errorf("string2ll(%q) = %d, %v; want %d, %v", tt.in, v, ok, tt.v, tt.ok)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	in := appendCommand(nil, [][]byte{[]byte("SET"), []byte("key"), []byte("value")})
	inline := []byte("SET key \"va lue\"\r\n")
	p := requestParser{maxBulk: 1 << 20}
	p.parse(in, false)
	p.parse(inline, false)
	for _, b := range [][]byte{in, inline} {
		if a := testing.AllocsPerRun(100, func() { p.parse(b, false) }); a != 0 {
			t.Errorf("parse %q allocates %v times", b, a)
		}
	}
}
