package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Bounds on what the reply scanner accepts from the upstream. They are far
// above anything Redis sends and only stop a corrupt stream from making the
// element count overflow.
const (
	maxReplyLen     = 1 << 40 // largest bulk length or aggregate count
	maxReplyPending = 1 << 50 // most elements outstanding at once
)

// errBadReply is wrapped by every reply scanning error caused by the bytes
// themselves (as opposed to I/O errors).
var errBadReply = errors.New("invalid reply from upstream")

// copyReply copies exactly one RESP2 or RESP3 reply (with any attributes in
// front of it) from r to w, without decoding it. It keeps only a count of
// the elements still to come, so nesting costs nothing, and it streams bulk
// payloads through r's buffer in chunks, so a reply of any size needs no
// more memory than that buffer.
//
// A line ends at its first '\n'. Simple types (+ - : , # ( _) are copied as
// they are; length lines ($ ! = * ~ > % |) must end in "\r\n" and hold -1 or
// a decimal length, and a bulk payload must be followed by "\r\n".
func copyReply(w io.Writer, r *bufio.Reader) error {
	return scanReply(w, r)
}

// countingWriter counts what reaches w, so that a caller can tell a reply
// that failed before any of it was written. Callers keep one per
// connection: a fresh one per reply would escape to the heap.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error // the first write error: the client side failed, not the upstream
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

func scanReply(w io.Writer, r *bufio.Reader) error {
	remaining := int64(1)
	for remaining > 0 {
		remaining--
		line, err := r.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull && len(line) > 0 && isSimpleType(line[0]) {
				if err := copyLongLine(w, r, line); err != nil {
					return err
				}
				continue
			}
			if err == bufio.ErrBufferFull {
				return fmt.Errorf("%w: length line too long", errBadReply)
			}
			return noEOF(err)
		}
		typ := line[0]
		if isSimpleType(typ) {
			if _, err := w.Write(line); err != nil {
				return err
			}
			continue
		}
		n, ok := parseReplyLen(line)
		if !ok || !isLengthType(typ) {
			return fmt.Errorf("%w: bad header %q", errBadReply, truncate(line))
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
		switch typ {
		case '$', '!', '=':
			if n < 0 {
				continue
			}
			if err := copyN(w, r, n); err != nil {
				return err
			}
			crlf, err := r.Peek(2)
			if err != nil {
				return noEOF(err)
			}
			if crlf[0] != '\r' || crlf[1] != '\n' {
				return fmt.Errorf("%w: bulk payload not followed by CRLF", errBadReply)
			}
			if _, err := w.Write(crlf); err != nil {
				return err
			}
			_, _ = r.Discard(2)
		case '*', '~', '>':
			if n > 0 {
				remaining += n
			}
		case '%':
			if n > 0 {
				remaining += 2 * n
			}
		case '|':
			// An attribute map comes before the reply it describes.
			if n > 0 {
				remaining += 2 * n
			}
			remaining++
		}
		if remaining > maxReplyPending {
			return fmt.Errorf("%w: too many nested elements", errBadReply)
		}
	}
	return nil
}

// scalarLen returns the size of the reply at the front of b if it is a
// simple-type line or a bulk string and lies complete and well formed in
// b, and 0 otherwise. For such a reply scanReply would copy exactly those
// bytes; the caller can then copy them itself in one piece.
func scalarLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	typ := b[0]
	if !isSimpleType(typ) && typ != '$' {
		return 0
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return 0
	}
	line := b[:nl+1]
	if typ != '$' {
		return len(line)
	}
	n, ok := parseReplyLen(line)
	if !ok {
		return 0
	}
	if n < 0 {
		return len(line)
	}
	end := int64(len(line)) + n
	if end+2 > int64(len(b)) || b[end] != '\r' || b[end+1] != '\n' {
		return 0
	}
	return int(end + 2)
}

func isLengthType(c byte) bool {
	switch c {
	case '$', '!', '=', '*', '~', '>', '%', '|':
		return true
	}
	return false
}

func isSimpleType(c byte) bool {
	switch c {
	case '+', '-', ':', ',', '#', '(', '_':
		return true
	}
	return false
}

// noEOF turns an EOF in the middle of a reply into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// copyLongLine copies a simple-type line longer than r's buffer.
func copyLongLine(w io.Writer, r *bufio.Reader, first []byte) error {
	if _, err := w.Write(first); err != nil {
		return err
	}
	for {
		line, err := r.ReadSlice('\n')
		if _, werr := w.Write(line); werr != nil {
			return werr
		}
		if err == nil {
			return nil
		}
		if err != bufio.ErrBufferFull {
			return noEOF(err)
		}
	}
}

// copyN copies n bytes from r to w through r's buffer.
func copyN(w io.Writer, r *bufio.Reader, n int64) error {
	for n > 0 {
		if r.Buffered() == 0 {
			if _, err := r.Peek(1); err != nil {
				return noEOF(err)
			}
		}
		k := r.Buffered()
		if int64(k) > n {
			k = int(n)
		}
		b, _ := r.Peek(k)
		if _, err := w.Write(b); err != nil {
			return err
		}
		_, _ = r.Discard(k)
		n -= int64(k)
	}
	return nil
}

// parseReplyLen parses the length of a header line such as "$5\r\n": -1 or
// one to thirteen decimal digits, at most maxReplyLen.
func parseReplyLen(line []byte) (int64, bool) {
	if len(line) < 4 || line[len(line)-2] != '\r' {
		return 0, false
	}
	d := line[1 : len(line)-2]
	if len(d) == 2 && d[0] == '-' && d[1] == '1' {
		return -1, true
	}
	if len(d) > 13 {
		return 0, false
	}
	var n int64
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n > maxReplyLen {
		return 0, false
	}
	return n, true
}

func truncate(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

// replyHead is what the proxy needs to know about a reply to track the
// session's state, read without consuming anything. It holds copies, so it
// stays valid after the reply has been consumed.
type replyHead struct {
	kind    byte // type byte of the reply
	lineLen uint8
	nameLen uint8
	line    [64]byte // simple types: the start of the line, without type byte and CRLF
	name    [32]byte // aggregates: the first element if it is a short bulk or simple string
	// For three-element aggregates shaped like a pub/sub confirmation
	// (name, channel or null, integer): the integer.
	count    int64
	hasCount bool
}

func (h *replyHead) Line() []byte { return h.line[:h.lineLen] }
func (h *replyHead) Name() []byte { return h.name[:h.nameLen] }

// peekHead inspects the reply at the front of r. It may block until the
// parts of the reply it looks at have arrived, which a well-formed reply
// guarantees. Anything unusual leaves the fields empty: the caller then
// copies the reply without special treatment.
func peekHead(r *bufio.Reader, h *replyHead) error {
	*h = replyHead{}
	line, next, err := peekLine(r, 0)
	if err != nil {
		if err == bufio.ErrBufferFull {
			b, _ := r.Peek(1)
			h.kind = b[0]
			return nil
		}
		return err
	}
	h.kind = line[0]
	if isSimpleType(h.kind) {
		body := bytes.TrimSuffix(line[1:], []byte("\r\n"))
		h.lineLen = uint8(copy(h.line[:], body))
		return nil
	}
	if h.kind != '*' && h.kind != '>' {
		return nil
	}
	n, ok := parseReplyLen(line)
	if !ok || n < 1 {
		return nil
	}
	// First element.
	el, next, err := peekLine(r, next)
	if err != nil {
		return ignoreFull(err)
	}
	switch el[0] {
	case '$':
		l, ok := parseReplyLen(el)
		if !ok || l < 0 || l > int64(len(h.name)) {
			return nil
		}
		b, err := r.Peek(next + int(l) + 2)
		if err != nil {
			return ignoreFull(err)
		}
		h.nameLen = uint8(copy(h.name[:], b[next:next+int(l)]))
		next += int(l) + 2
	case '+':
		body := bytes.TrimSuffix(el[1:], []byte("\r\n"))
		if len(body) > len(h.name) {
			return nil
		}
		h.nameLen = uint8(copy(h.name[:], body))
	default:
		return nil
	}
	if n != 3 || !isSubscriptionName(h.Name()) {
		return nil
	}
	// Second element: the channel (bulk) or a null.
	el, next, err = peekLine(r, next)
	if err != nil {
		return ignoreFull(err)
	}
	switch el[0] {
	case '$':
		l, ok := parseReplyLen(el)
		if !ok {
			return nil
		}
		if l >= 0 {
			next += int(l) + 2
		}
	case '_':
	default:
		return nil
	}
	el, _, err = peekLine(r, next)
	if err != nil {
		return ignoreFull(err)
	}
	if el[0] == ':' {
		if v, ok := string2ll(bytes.TrimSuffix(el[1:], []byte("\r\n"))); ok {
			h.count, h.hasCount = v, true
		}
	}
	return nil
}

func ignoreFull(err error) error {
	if err == bufio.ErrBufferFull {
		return nil
	}
	return err
}

// peekLine returns the line that starts off bytes into r's unread data and
// the offset just past it, reading more input as needed.
func peekLine(r *bufio.Reader, off int) (line []byte, next int, err error) {
	for {
		b, _ := r.Peek(r.Buffered())
		if off < len(b) {
			if i := bytes.IndexByte(b[off:], '\n'); i >= 0 {
				return b[off : off+i+1], off + i + 1, nil
			}
		}
		if r.Buffered() >= r.Size() {
			return nil, 0, bufio.ErrBufferFull
		}
		if _, err := r.Peek(r.Buffered() + 1); err != nil {
			return nil, 0, noEOF(err)
		}
	}
}

func isSubscriptionName(b []byte) bool {
	return subscriptionKind(b) != kindPlain
}

// subscriptionKind maps a confirmation name such as "psubscribe" to the
// command kind that produces it.
func subscriptionKind(b []byte) cmdKind {
	switch string(b) {
	case "subscribe":
		return kindSubscribe
	case "psubscribe":
		return kindPsubscribe
	case "ssubscribe":
		return kindSsubscribe
	case "unsubscribe":
		return kindUnsubscribe
	case "punsubscribe":
		return kindPunsubscribe
	case "sunsubscribe":
		return kindSunsubscribe
	}
	return kindPlain
}

// isMessageName reports whether b names an unsolicited pub/sub delivery.
func isMessageName(b []byte) bool {
	switch string(b) {
	case "message", "pmessage", "smessage":
		return true
	}
	return false
}
