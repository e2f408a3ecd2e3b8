package cjson

import (
	"bytes"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

type tokenType int

// Token types, named in errors as the C library names them.
const (
	tObjBegin tokenType = iota
	tObjEnd
	tArrBegin
	tArrEnd
	tString
	tNumber
	tBoolean
	tNull
	tColon
	tComma
	tEnd
	tWhitespace
	tError
	tUnknown
)

var tokenNames = [...]string{
	"T_OBJ_BEGIN", "T_OBJ_END", "T_ARR_BEGIN", "T_ARR_END", "T_STRING",
	"T_NUMBER", "T_BOOLEAN", "T_NULL", "T_COLON", "T_COMMA", "T_END",
	"T_WHITESPACE", "T_ERROR", "T_UNKNOWN",
}

type token struct {
	typ   tokenType
	index int // 0-based position; errors print it 1-based
	str   []byte
	num   float64
	bool  bool
	err   string // what went wrong, for tError
}

// decoder parses JSON text. The C parser reads a NUL-terminated string, so
// the text ends at its first NUL byte; data is cut there.
type decoder struct {
	l     *lua.State
	cfg   *config
	b     luautil.Budget
	data  []byte
	pos   int
	depth int

	// slots mirrors the stack slots the C decoder holds above its base,
	// so that its lua_checkstack failures happen at the same depth.
	slots int

	// tmp accumulates the current string's unescaped bytes.
	tmp []byte
}

func decode(l *lua.State, cfg *config, lim *luautil.Limits) int {
	if l.Top() != 1 {
		luautil.ArgError(l, 1, "expected 1 argument")
	}
	s := luautil.CheckString(l, 1)
	if len(s) >= 2 && (s[0] == 0 || s[1] == 0) {
		luautil.Errorf(l, "JSON parser does not support UTF-16 or UTF-32")
	}
	data := []byte(s)
	if i := bytes.IndexByte(data, 0); i >= 0 {
		data = data[:i]
	}
	d := &decoder{l: l, cfg: cfg, b: luautil.Budget{L: l, Lim: lim}, data: data, slots: 1}
	d.b.Charge(len(data))
	var t token
	d.next(&t)
	d.value(&t)
	d.next(&t)
	if t.typ != tEnd {
		d.fail("the end", &t)
	}
	return 1
}

// at returns the byte at i, or NUL past the end.
func (d *decoder) at(i int) byte {
	if i < len(d.data) {
		return d.data[i]
	}
	return 0
}

// fail is json_throw_parse_error.
func (d *decoder) fail(expected string, t *token) {
	found := t.err
	if t.typ != tError {
		found = tokenNames[t.typ]
	}
	luautil.Errorf(d.l, "Expected %s but found %s at character %d", expected, found, t.index+1)
}

func (d *decoder) setError(t *token, msg string) {
	t.typ = tError
	t.index = d.pos
	t.err = msg
}

// next is json_next_token.
func (d *decoder) next(t *token) {
	d.b.Tick()
	var c byte
	for {
		c = d.at(d.pos)
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			break
		}
		d.pos++
	}
	t.index = d.pos
	if d.pos >= len(d.data) {
		t.typ = tEnd
		return
	}
	single := tError
	switch c {
	case '{':
		single = tObjBegin
	case '}':
		single = tObjEnd
	case '[':
		single = tArrBegin
	case ']':
		single = tArrEnd
	case ',':
		single = tComma
	case ':':
		single = tColon
	case 'f', 'i', 'I', 'n', 'N', 't', '"', '+', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		single = tUnknown
	}
	switch single {
	case tError:
		d.setError(t, "invalid token")
		return
	case tUnknown:
	default:
		t.typ = single
		d.pos++
		return
	}
	rest := d.data[d.pos:]
	switch {
	case c == '"':
		d.stringToken(t)
	case c == '-' || ('0' <= c && c <= '9'):
		if !d.cfg.decodeInvalid && isInvalidNumber(rest) {
			d.setError(t, "invalid number")
			return
		}
		d.numberToken(t)
	case bytes.HasPrefix(rest, []byte("true")):
		t.typ, t.bool = tBoolean, true
		d.pos += 4
	case bytes.HasPrefix(rest, []byte("false")):
		t.typ, t.bool = tBoolean, false
		d.pos += 5
	case bytes.HasPrefix(rest, []byte("null")):
		t.typ = tNull
		d.pos += 4
	case d.cfg.decodeInvalid && isInvalidNumber(rest):
		d.numberToken(t)
	default:
		d.setError(t, "invalid token")
	}
}

// isInvalidNumber is json_is_invalid_number: whether strtod might accept
// what strict JSON does not (a leading +, hex, leading zeros, inf, nan).
func isInvalidNumber(s []byte) bool {
	at := func(i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	i := 0
	switch at(0) {
	case '+':
		return true
	case '-':
		i++
	}
	switch c := at(i); {
	case c == '0':
		c2 := at(i + 1)
		return c2|0x20 == 'x' || ('0' <= c2 && c2 <= '9')
	case c <= '9' || c >= 0x80: // a C char: bytes from 0x80 are negative
		return false
	}
	return hasPrefixFold(s[i:], "inf") || hasPrefixFold(s[i:], "nan")
}

func (d *decoder) numberToken(t *token) {
	n, size := strtod(d.data[d.pos:])
	if size == 0 {
		d.setError(t, "invalid number")
		return
	}
	t.typ, t.num = tNumber, n
	d.pos += size
}

// stringToken is json_next_string_token: d.pos is at the opening quote.
func (d *decoder) stringToken(t *token) {
	d.pos++
	tmp := d.tmp[:0]
	for {
		start := d.pos
		for d.pos < len(d.data) && d.data[d.pos] != '"' && d.data[d.pos] != '\\' {
			d.pos++
		}
		tmp = append(tmp, d.data[start:d.pos]...)
		if d.pos >= len(d.data) {
			d.setError(t, "unexpected end of string")
			d.tmp = tmp
			return
		}
		if d.data[d.pos] == '"' {
			break
		}
		var c byte
		switch d.at(d.pos + 1) {
		case '"':
			c = '"'
		case '\\':
			c = '\\'
		case '/':
			c = '/'
		case 'b':
			c = '\b'
		case 't':
			c = '\t'
		case 'n':
			c = '\n'
		case 'f':
			c = '\f'
		case 'r':
			c = '\r'
		case 'u':
			var ok bool
			if tmp, ok = d.unicodeEscape(tmp); !ok {
				d.setError(t, "invalid unicode escape code")
				d.tmp = tmp
				return
			}
			continue
		default:
			d.setError(t, "invalid escape code")
			d.tmp = tmp
			return
		}
		tmp = append(tmp, c)
		d.pos += 2
	}
	d.pos++
	d.tmp = tmp
	t.typ, t.str = tString, tmp
}

func hexDigit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c|0x20 && c|0x20 <= 'f':
		return int(c|0x20-'a') + 10
	}
	return -1
}

// hex4 decodes the four hex digits at i, or returns -1.
func (d *decoder) hex4(i int) int {
	v := 0
	for j := range 4 {
		h := hexDigit(d.at(i + j))
		if h < 0 {
			return -1
		}
		v = v<<4 | h
	}
	return v
}

// unicodeEscape is json_append_unicode_escape: d.pos is at the backslash
// of \uXXXX. A high surrogate must be followed by an escaped low one.
func (d *decoder) unicodeEscape(tmp []byte) ([]byte, bool) {
	cp := d.hex4(d.pos + 2)
	if cp < 0 {
		return tmp, false
	}
	size := 6
	if cp&0xF800 == 0xD800 {
		if cp&0x400 != 0 {
			return tmp, false
		}
		if d.at(d.pos+6) != '\\' || d.at(d.pos+7) != 'u' {
			return tmp, false
		}
		low := d.hex4(d.pos + 8)
		if low < 0 || low&0xFC00 != 0xDC00 {
			return tmp, false
		}
		cp = ((cp&0x3FF)<<10 | low&0x3FF) + 0x10000
		size = 12
	}
	switch {
	case cp <= 0x7F:
		tmp = append(tmp, byte(cp))
	case cp <= 0x7FF:
		tmp = append(tmp, byte(cp>>6|0xC0), byte(cp&0x3F|0x80))
	case cp <= 0xFFFF:
		tmp = append(tmp, byte(cp>>12|0xE0), byte(cp>>6&0x3F|0x80), byte(cp&0x3F|0x80))
	default:
		tmp = append(tmp, byte(cp>>18|0xF0), byte(cp>>12&0x3F|0x80), byte(cp>>6&0x3F|0x80), byte(cp&0x3F|0x80))
	}
	d.pos += size
	return tmp, true
}

// descend is json_decode_descend: one more level of nesting, which needs
// `slots` free stack slots in the C decoder.
func (d *decoder) descend(slots int) {
	d.depth++
	if int64(d.depth) <= int64(d.cfg.decodeMaxDepth) && d.slots+slots <= cStackMax && d.l.CheckStack(slots+1) {
		return
	}
	luautil.Errorf(d.l, "Found too many nested data structures (%d) at character %d", d.depth, d.pos)
}

// value is json_process_value: it pushes the value that t starts.
func (d *decoder) value(t *token) {
	l := d.l
	switch t.typ {
	case tString:
		d.b.Charge(len(t.str) + slotCost)
		l.PushString(string(t.str))
	case tNumber:
		l.PushNumber(t.num)
	case tBoolean:
		l.PushBoolean(t.bool)
	case tObjBegin:
		d.object()
	case tArrBegin:
		d.array()
	case tNull:
		l.PushValue(lua.UpValueIndex(2))
	default:
		d.fail("value", t)
	}
}

func (d *decoder) object() {
	l := d.l
	d.descend(3)
	d.b.Charge(tableCost)
	l.NewTable()
	d.slots += 2
	var t token
	d.next(&t)
	if t.typ == tObjEnd {
		d.slots -= 2
		d.depth--
		return
	}
	for {
		if t.typ != tString {
			d.fail("object key string", &t)
		}
		d.b.Charge(len(t.str) + slotCost)
		l.PushString(string(t.str))
		d.next(&t)
		if t.typ != tColon {
			d.fail("colon", &t)
		}
		d.next(&t)
		d.value(&t)
		l.RawSet(-3)
		d.next(&t)
		if t.typ == tObjEnd {
			d.slots -= 2
			d.depth--
			return
		}
		if t.typ != tComma {
			d.fail("comma or object end", &t)
		}
		d.next(&t)
	}
}

func (d *decoder) array() {
	l := d.l
	d.descend(2)
	d.b.Charge(tableCost)
	l.NewTable()
	d.slots++
	var t token
	d.next(&t)
	if t.typ == tArrEnd {
		d.slots--
		d.depth--
		return
	}
	for i := 1; ; i++ {
		d.value(&t)
		d.b.Charge(slotCost)
		l.RawSetInt(-2, i)
		d.next(&t)
		if t.typ == tArrEnd {
			d.slots--
			d.depth--
			return
		}
		if t.typ != tComma {
			d.fail("comma or array end", &t)
		}
		d.next(&t)
	}
}

// hasPrefixFold is strncasecmp(s, prefix, len(prefix)) == 0 for an ASCII
// lower-case prefix.
func hasPrefixFold(s []byte, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := range len(prefix) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
