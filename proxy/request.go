package proxy

import (
	"bytes"
	"math"

	"github.com/luaproxy/luaproxy/internal/sdsargs"
)

// Limits of Redis 7.0's request reader (server.h, networking.c). The proxy
// applies them before the upstream sees a byte, so that a misbehaving client
// gets the same error Redis would give and never makes the proxy allocate
// by a length it announced.
const (
	// inlineMaxSize is PROTO_INLINE_MAX_SIZE: the most bytes Redis buffers
	// while looking for the end of an inline request or a length line.
	inlineMaxSize = 64 * 1024
	// unauthMaxCount and unauthMaxBulk bound the multibulk count and the
	// bulk length an unauthenticated client may announce.
	unauthMaxCount = 10
	unauthMaxBulk  = 16384
)

// Protocol error texts, exactly as Redis 7.0 replies them (after "-ERR ").
const (
	errTooBigInline      = "Protocol error: too big inline request"
	errUnbalancedQuotes  = "Protocol error: unbalanced quotes in request"
	errTooBigMbulkCount  = "Protocol error: too big mbulk count string"
	errInvalidMbulkLen   = "Protocol error: invalid multibulk length"
	errUnauthMbulkLen    = "Protocol error: unauthenticated multibulk length"
	errTooBigBulkCount   = "Protocol error: too big bulk count string"
	errInvalidBulkLen    = "Protocol error: invalid bulk length"
	errUnauthBulkLen     = "Protocol error: unauthenticated bulk length"
	errExpectedDollarFmt = "Protocol error: expected '$', got '"
)

// request is one parsed client request. argv aliases the parsed buffer (or
// the parser's scratch space for inline requests) and is valid until the
// next parse call or until the buffer is consumed.
type request struct {
	argv   [][]byte
	n      int  // bytes of input the request occupies
	inline bool // telnet-style request; argv is in the parser's scratch
	empty  bool // nothing to run: an empty inline line or a count <= 0
}

// requestParser parses client requests the way Redis 7.0's
// processInlineBuffer and processMultibulkBuffer do, without copying
// multibulk arguments. It keeps its slices between calls so that steady
// state parsing does not allocate.
type requestParser struct {
	maxBulk int64 // proto-max-bulk-len
	argv    [][]byte
	scratch []byte // inline arguments after unquoting
	offs    []int  // inline argument boundaries in scratch
}

// parse looks at buf, the client's unconsumed input, and returns the first
// request in it. With ok false and perr empty more input is needed; a
// non-empty perr is the Redis error text (without "-ERR ") after which the
// connection must be closed. authRequired applies Redis's tighter limits
// for connections that have not authenticated yet.
func (p *requestParser) parse(buf []byte, authRequired bool) (req request, ok bool, perr string) {
	if len(buf) == 0 {
		return request{}, false, ""
	}
	if buf[0] == '*' {
		return p.parseMultibulk(buf, authRequired)
	}
	return p.parseInline(buf)
}

// strchr finds c in b the way C's strchr does on Redis's NUL-terminated
// query buffer: a NUL byte before c hides it.
//
// Count and length lines are a few bytes long, so it looks at the first
// bytes itself (two IndexByte calls cost more there) and only then turns
// to IndexByte.
func strchr(b []byte, c byte) int {
	const short = 24
	head := b[:min(len(b), short)]
	for i, x := range head {
		if x == c {
			return i
		}
		if x == 0 {
			return -1
		}
	}
	if len(head) == len(b) {
		return -1
	}
	i := bytes.IndexByte(b[short:], c)
	if i < 0 {
		return -1
	}
	i += short
	if bytes.IndexByte(b[short:i], 0) >= 0 {
		return -1
	}
	return i
}

func (p *requestParser) parseMultibulk(buf []byte, authRequired bool) (request, bool, string) {
	cr := strchr(buf, '\r')
	if cr < 0 {
		if len(buf) > inlineMaxSize {
			return request{}, false, errTooBigMbulkCount
		}
		return request{}, false, ""
	}
	// Redis wants one byte after the '\r' and skips it unchecked.
	if cr > len(buf)-2 {
		return request{}, false, ""
	}
	count, okNum := string2ll(buf[1:cr])
	if !okNum || count > math.MaxInt32 {
		return request{}, false, errInvalidMbulkLen
	}
	if count > unauthMaxCount && authRequired {
		return request{}, false, errUnauthMbulkLen
	}
	pos := cr + 2
	if count <= 0 {
		return request{n: pos, empty: true}, true, ""
	}
	argv := p.argv[:0]
	for i := int64(0); i < count; i++ {
		n, hl, perr := p.bulkHeader(buf[pos:], authRequired)
		if perr != "" {
			return request{}, false, perr
		}
		if hl == 0 {
			p.argv = argv
			return request{}, false, ""
		}
		pos += hl
		// The two bytes after the argument are skipped unchecked, as Redis does.
		if int64(len(buf)-pos) < n+2 {
			p.argv = argv
			return request{}, false, ""
		}
		argv = append(argv, buf[pos:pos+int(n):pos+int(n)])
		pos += int(n) + 2
	}
	p.argv = argv
	return request{argv: argv, n: pos}, true, ""
}

// bulkHeader parses the "$<len>" line at the front of rest. It returns the
// length and the line's size (0 when more input is needed) or Redis's error.
func (p *requestParser) bulkHeader(rest []byte, authRequired bool) (n int64, size int, perr string) {
	cr := strchr(rest, '\r')
	if cr < 0 {
		if len(rest) > inlineMaxSize {
			return 0, 0, errTooBigBulkCount
		}
		return 0, 0, ""
	}
	// Redis wants one byte after the '\r' and skips it unchecked.
	if cr > len(rest)-2 {
		return 0, 0, ""
	}
	if rest[0] != '$' {
		return 0, 0, expectedDollar(rest[0])
	}
	n, okNum := string2ll(rest[1:cr])
	if !okNum || n < 0 || n > p.maxBulk {
		return 0, 0, errInvalidBulkLen
	}
	if n > unauthMaxBulk && authRequired {
		return 0, 0, errUnauthBulkLen
	}
	return n, cr + 2, ""
}

// expectedDollar builds Redis's "expected '$'" error; Redis turns CR and LF
// in error texts into spaces.
func expectedDollar(c byte) string {
	if c == '\r' || c == '\n' {
		c = ' '
	}
	return errExpectedDollarFmt + string([]byte{c}) + "'"
}

func (p *requestParser) parseInline(buf []byte) (request, bool, string) {
	nl := strchr(buf, '\n')
	if nl < 0 {
		if len(buf) > inlineMaxSize {
			return request{}, false, errTooBigInline
		}
		return request{}, false, ""
	}
	end := nl
	if nl > 0 && buf[nl-1] == '\r' {
		end--
	}
	argv, okSplit := p.splitArgs(buf[:end])
	if !okSplit {
		return request{}, false, errUnbalancedQuotes
	}
	return request{argv: argv, n: nl + 1, inline: true, empty: len(argv) == 0}, true, ""
}

// splitArgs splits an inline request line by the rules of Redis's
// sdssplitargs: blanks separate arguments, "double quotes" understand \n \r
// \t \b \a and \xHH escapes, 'single quotes' only \', and a closing quote
// must be followed by a blank or the end of the line. It returns false for
// unbalanced quotes. The line never contains NUL (strchr stops there).
// The rules live in package sdsargs, shared with luavm's shebang parser.
func (p *requestParser) splitArgs(line []byte) ([][]byte, bool) {
	sc, offs, ok := sdsargs.Split(line, p.scratch[:0], p.offs[:0])
	p.scratch, p.offs = sc, offs
	if !ok {
		return nil, false
	}
	argv := p.argv[:0]
	start := 0
	for _, end := range offs {
		argv = append(argv, sc[start:end:end])
		start = end
	}
	p.argv = argv
	return argv, true
}

// string2ll parses a decimal integer exactly as Redis's string2ll: no sign
// but '-', no leading zeros, no blanks, at most 20 bytes, within int64.
func string2ll(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) >= 21 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := false
	i := 0
	if b[0] == '-' {
		neg = true
		i++
		if i == len(b) {
			return 0, false
		}
	}
	if b[i] < '1' || b[i] > '9' {
		return 0, false
	}
	var v uint64
	for ; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > math.MaxUint64/10 {
			return 0, false
		}
		v *= 10
		if v > math.MaxUint64-uint64(c-'0') {
			return 0, false
		}
		v += uint64(c - '0')
	}
	if neg {
		if v > uint64(math.MaxInt64)+1 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// appendCommand encodes argv as a RESP multibulk request.
func appendCommand(dst []byte, argv [][]byte) []byte {
	dst = append(dst, '*')
	dst = appendInt(dst, int64(len(argv)))
	dst = append(dst, '\r', '\n')
	for _, a := range argv {
		dst = append(dst, '$')
		dst = appendInt(dst, int64(len(a)))
		dst = append(dst, '\r', '\n')
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

func appendInt(dst []byte, n int64) []byte {
	if n >= 0 && n < 10 {
		return append(dst, byte('0'+n))
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	for u > 0 {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return append(dst, b[i:]...)
}
