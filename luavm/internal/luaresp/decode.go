package luaresp

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/Shopify/go-lua"
)

// maxDecodeDepth bounds the nesting Push accepts. Redis replies nest a few
// levels at most; the bound only keeps a corrupt reply from recursing
// without end.
const maxDecodeDepth = 1000

// ErrMalformed is wrapped by every error Push returns for input that is not
// one complete RESP reply.
var ErrMalformed = errors.New("malformed RESP reply")

// Push decodes one raw RESP2 or RESP3 reply and pushes the Lua value Redis
// hands to a script as the result of redis.call or redis.pcall:
//
//   - integer: number; bulk string: string; null bulk or null array: false
//   - status: {ok=s}; error: {err="CODE message", ignore_error_stats_update=true}
//   - array: table with the elements at 1..n (a RESP3 null leaves a hole)
//   - RESP3 null: nil; boolean: boolean; double: {double=n};
//     map: {map={k=v...}}; set: {set={member=true...}};
//     big number: {big_number=s}; verbatim: {verbatim_string={format=f, string=s}}
//   - attributes are skipped
//
// isErr reports a top-level error reply, which redis.call raises and
// redis.pcall returns. err reports input that is not exactly one complete
// reply; nothing is left on the stack then.
func Push(l *lua.State, reply []byte) (isErr bool, err error) {
	top := l.Top()
	d := decoder{l: l, in: reply}
	if err := d.value(0, true); err != nil {
		l.SetTop(top)
		return false, err
	}
	if d.pos != len(reply) {
		l.SetTop(top)
		return false, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(reply)-d.pos)
	}
	return len(reply) > 0 && reply[0] == '-', nil
}

type decoder struct {
	l   *lua.State
	in  []byte
	pos int
}

func (d *decoder) fail(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", ErrMalformed, d.pos, fmt.Sprintf(format, args...))
}

// line returns the text after the type byte up to CRLF and moves past it.
func (d *decoder) line() ([]byte, error) {
	i := bytes.Index(d.in[d.pos:], []byte("\r\n"))
	if i < 1 {
		return nil, d.fail("unterminated line")
	}
	s := d.in[d.pos+1 : d.pos+i]
	d.pos += i + 2
	return s, nil
}

func (d *decoder) length(b []byte) (int, error) {
	n, err := strconv.Atoi(string(b))
	if err != nil || n < -1 {
		return 0, d.fail("bad length %q", b)
	}
	return n, nil
}

// blob reads n bytes and their CRLF.
func (d *decoder) blob(n int) ([]byte, error) {
	if n > len(d.in)-d.pos-2 || d.in[d.pos+n] != '\r' || d.in[d.pos+n+1] != '\n' {
		return nil, d.fail("truncated bulk of %d bytes", n)
	}
	b := d.in[d.pos : d.pos+n]
	d.pos += n + 2
	return b, nil
}

// value decodes one reply. When push is false the value is parsed and
// dropped (attributes).
func (d *decoder) value(depth int, push bool) error {
	if depth > maxDecodeDepth {
		return d.fail("nesting deeper than %d", maxDecodeDepth)
	}
	if d.pos >= len(d.in) {
		return d.fail("missing reply")
	}
	l := d.l
	kind := d.in[d.pos]
	head, err := d.line()
	if err != nil {
		return err
	}
	if push && !l.CheckStack(5) {
		return d.fail("lua stack limit reached")
	}
	switch kind {
	case ':':
		n, err := strconv.ParseInt(string(head), 10, 64)
		if err != nil {
			return d.fail("bad integer %q", head)
		}
		if push {
			l.PushNumber(float64(n))
		}
	case '$':
		n, err := d.length(head)
		if err != nil {
			return err
		}
		if n < 0 {
			if push {
				l.PushBoolean(false)
			}
			return nil
		}
		b, err := d.blob(n)
		if err != nil {
			return err
		}
		if push {
			l.PushString(string(b))
		}
	case '+':
		if push {
			l.CreateTable(0, 1)
			l.PushString(string(head))
			l.SetField(-2, "ok")
		}
	case '-':
		if push {
			pushError(l, string(head))
		}
	case '*', '~', '%', '|':
		n, err := d.length(head)
		if err != nil {
			return err
		}
		if n < 0 {
			if kind != '*' {
				return d.fail("negative length %d", n)
			}
			if push {
				l.PushBoolean(false)
			}
			return nil
		}
		return d.aggregate(kind, n, depth, push)
	case '_':
		if push {
			l.PushNil()
		}
	case '#':
		if push {
			l.PushBoolean(len(head) > 0 && head[0] == 't')
		}
	case ',':
		if push {
			l.CreateTable(0, 1)
			l.PushNumber(parseDouble(head))
			l.SetField(-2, "double")
		}
	case '(':
		if push {
			l.CreateTable(0, 1)
			l.PushString(string(head))
			l.SetField(-2, "big_number")
		}
	case '=':
		n, err := d.length(head)
		if err != nil {
			return err
		}
		if n < 4 {
			return d.fail("verbatim string of %d bytes", n)
		}
		b, err := d.blob(n)
		if err != nil {
			return err
		}
		if push {
			l.CreateTable(0, 1)
			l.CreateTable(0, 2)
			l.PushString(string(b[4:]))
			l.SetField(-2, "string")
			l.PushString(string(b[:3]))
			l.SetField(-2, "format")
			l.SetField(-2, "verbatim_string")
		}
	default:
		d.pos -= len(head) + 3
		return d.fail("unknown reply type %q", kind)
	}
	return nil
}

func (d *decoder) aggregate(kind byte, n, depth int, push bool) error {
	l := d.l
	switch kind {
	case '|':
		// Redis does not show attributes to scripts: skip them and
		// decode the reply they annotate.
		for i := 0; i < 2*n; i++ {
			if err := d.value(depth+1, false); err != nil {
				return err
			}
		}
		return d.value(depth, push)
	case '*':
		if push {
			l.CreateTable(min(n, 1<<16), 0)
		}
		for i := 1; i <= n; i++ {
			if err := d.value(depth+1, push); err != nil {
				return err
			}
			if push {
				l.RawSetInt(-2, i)
			}
		}
	case '%', '~':
		if push {
			l.CreateTable(0, 1)
			l.CreateTable(0, min(n, 1<<16))
		}
		for i := 0; i < n; i++ {
			if err := d.value(depth+1, push); err != nil {
				return err
			}
			if kind == '%' {
				if err := d.value(depth+1, push); err != nil {
					return err
				}
			} else if push {
				l.PushBoolean(true)
			}
			if push {
				if err := d.checkKey(); err != nil {
					return err
				}
				l.RawSet(-3)
			}
		}
		if push {
			if kind == '%' {
				l.SetField(-2, "map")
			} else {
				l.SetField(-2, "set")
			}
		}
	}
	return nil
}

// checkKey refuses a nil key (a RESP3 null as map key or set member), which
// Lua cannot store; Redis would raise "table index is nil" there.
func (d *decoder) checkKey() error {
	if d.l.IsNil(-2) {
		return d.fail("null map key or set member")
	}
	return nil
}

// pushError pushes the table Redis builds from an error reply: the first
// word is the error code ("ERR" when the reply has a single word), the rest
// the message without trailing CR/LF, as a C string.
func pushError(l *lua.State, s string) {
	code, msg := "ERR", s
	if i := strings.IndexByte(s, ' '); i >= 0 {
		code, msg = s[:i], s[i+1:]
	}
	msg = strings.Trim(msg, "\r\n")
	l.CreateTable(0, 2)
	l.PushString(cString(code + " " + msg))
	l.SetField(-2, "err")
	l.PushBoolean(true)
	l.SetField(-2, "ignore_error_stats_update")
}

// parseDouble reads a RESP3 double as Redis does with strtod: inf, -inf and
// nan in any case, and 0 for text it cannot read.
func parseDouble(b []byte) float64 {
	if len(b) > maxDoubleLiteral {
		return 0
	}
	s := string(b)
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimLeft(s, "+-")
	if strings.EqualFold(body, "nan") {
		if neg {
			return math.Copysign(math.NaN(), -1)
		}
		return math.NaN()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return f
		}
		return 0
	}
	return f
}
