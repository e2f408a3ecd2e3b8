package proxy

import "strconv"

// funcReply builds the replies of the FUNCTION commands in the client's
// protocol: maps, sets and nulls are RESP3 types that RESP2 clients get as
// flat arrays and nil bulks, as Redis's addReplyMapLen and friends do.
type funcReply struct {
	b     []byte
	proto int
}

func (r *funcReply) head(c byte, n int) {
	r.b = append(r.b, c)
	r.b = strconv.AppendInt(r.b, int64(n), 10)
	r.b = append(r.b, '\r', '\n')
}

func (r *funcReply) array(n int) { r.head('*', n) }

func (r *funcReply) mapLen(n int) {
	if r.proto >= 3 {
		r.head('%', n)
		return
	}
	r.head('*', 2*n)
}

func (r *funcReply) setLen(n int) {
	if r.proto >= 3 {
		r.head('~', n)
		return
	}
	r.head('*', n)
}

func (r *funcReply) null() {
	if r.proto >= 3 {
		r.b = append(r.b, "_\r\n"...)
		return
	}
	r.b = append(r.b, "$-1\r\n"...)
}

func (r *funcReply) bulk(s string) {
	r.head('$', len(s))
	r.b = append(r.b, s...)
	r.b = append(r.b, '\r', '\n')
}

func (r *funcReply) status(s string) {
	r.b = append(r.b, '+')
	r.b = append(r.b, s...)
	r.b = append(r.b, '\r', '\n')
}

func (r *funcReply) integer(n int64) {
	r.b = append(r.b, ':')
	r.b = strconv.AppendInt(r.b, n, 10)
	r.b = append(r.b, '\r', '\n')
}

// funcError is an error reply; msg gets the ERR code unless it has its own
// (a leading '-'), and CR and LF become spaces as in addReplyErrorLength's
// callers, so a client-supplied name cannot break the protocol.
func funcError(msg string) []byte {
	b := make([]byte, 0, len(msg)+8)
	if len(msg) > 0 && msg[0] == '-' {
		b = append(b, msg...)
	} else {
		b = append(b, "-ERR "...)
		b = append(b, msg...)
	}
	for i := 1; i < len(b); i++ {
		if b[i] == '\r' || b[i] == '\n' {
			b[i] = ' '
		}
	}
	return append(b, '\r', '\n')
}

var funcOK = []byte("+OK\r\n")
