package stdlib

import (
	"math"
	"strconv"
	"strings"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// string.format as lstrlib.c's str_format, with C printf (glibc) output
// for every conversion it allows.

const formatFlags = "-+ #0"

// spec is one parsed conversion: %[flags][width][.precision]conv.
type spec struct {
	minus, plus, space, alt, zero bool
	width                         int
	prec                          int // -1: none
	conv                          byte
}

func (e *Env) strFormat(l *lua.State) int {
	top := l.Top()
	arg := 1
	f := luautil.CheckString(l, arg)
	var b []byte
	add := func(s string) {
		e.lim.Charge(l, len(s))
		b = append(b, s...)
	}
	for i := 0; i < len(f); {
		if f[i] != '%' {
			j := strings.IndexByte(f[i:], '%')
			if j < 0 {
				j = len(f) - i
			}
			add(f[i : i+j])
			i += j
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			add("%")
			i++
			continue
		}
		arg++
		if arg > top {
			luautil.ArgError(l, arg, "no value")
		}
		var sp spec
		i = scanFormat(l, f, i, &sp)
		var out string
		switch sp.conv {
		case 'c':
			out = sp.pad(string([]byte{byte(toInt32(luautil.CheckNumber(l, arg)))}), false)
		case 'd', 'i':
			out = sp.formatInt(luautil.CInt64(luautil.CheckNumber(l, arg)))
		case 'o', 'u', 'x', 'X':
			out = sp.formatUint(toUint64(luautil.CheckNumber(l, arg)))
		case 'e', 'E', 'f', 'g', 'G':
			out = sp.formatFloat(luautil.CheckNumber(l, arg))
		case 'q':
			add(quoted(luautil.CheckString(l, arg)))
			continue
		case 's':
			s := luautil.CheckString(l, arg)
			if sp.prec < 0 && len(s) >= 100 {
				// C keeps long strings whole when there is no precision.
				add(s)
				continue
			}
			s = cString(s)
			if sp.prec >= 0 && len(s) > sp.prec {
				s = s[:sp.prec]
			}
			out = sp.pad(s, false)
		default:
			luautil.Errorf(l, "invalid option '%%%s' to 'format'", cString(string([]byte{sp.conv})))
		}
		// C copies the item with strlen: output stops at a NUL byte.
		add(cString(out))
	}
	l.PushString(string(b))
	return 1
}

// scanFormat parses flags, width and precision after a '%' at f[i] and
// returns the index just past the conversion character.
func scanFormat(l *lua.State, f string, i int, sp *spec) int {
	at := func(j int) byte {
		if j < len(f) {
			return f[j]
		}
		return 0
	}
	start := i
	for at(i) != 0 && strings.IndexByte(formatFlags, at(i)) >= 0 {
		switch f[i] {
		case '-':
			sp.minus = true
		case '+':
			sp.plus = true
		case ' ':
			sp.space = true
		case '#':
			sp.alt = true
		case '0':
			sp.zero = true
		}
		i++
	}
	if i-start >= len(formatFlags)+1 {
		luautil.Errorf(l, "invalid format (repeated flags)")
	}
	digits := func() int {
		n := -1
		for k := 0; k < 2 && isDigit(at(i)); k++ {
			if n < 0 {
				n = 0
			}
			n = n*10 + int(f[i]-'0')
			i++
		}
		return n
	}
	if w := digits(); w > 0 {
		sp.width = w
	}
	sp.prec = -1
	if at(i) == '.' {
		i++
		sp.prec = digits()
		if sp.prec < 0 {
			sp.prec = 0
		}
	}
	if isDigit(at(i)) {
		luautil.Errorf(l, "invalid format (width or precision too long)")
	}
	sp.conv = at(i)
	return i + 1
}

// cString cuts s at its first NUL, as C's strlen sees it.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// toInt32 is C's (int) cast of a double on x86-64.
func toInt32(f float64) int32 {
	if f > -2147483649.0 && f < 2147483648.0 {
		return int32(f)
	}
	return math.MinInt32
}

// toUint64 is gcc's x86-64 (unsigned long long) cast of a double.
func toUint64(f float64) uint64 {
	const two63 = 9223372036854775808.0
	if !(f >= two63) {
		return uint64(luautil.CInt64(f))
	}
	return uint64(luautil.CInt64(f-two63)) ^ 1<<63
}

// pad applies the field width; zeros (after any sign or prefix of length
// signLen... handled by callers) only when numeric is set.
func (sp *spec) pad(s string, numeric bool) string {
	if len(s) >= sp.width {
		return s
	}
	fill := sp.width - len(s)
	if sp.minus {
		return s + strings.Repeat(" ", fill)
	}
	return strings.Repeat(" ", fill) + s
}

// padNumber joins prefix (sign, 0x) and digits, padding to the width with
// spaces, or with zeros between them when zeroOK.
func (sp *spec) padNumber(prefix, digits string, zeroOK bool) string {
	n := len(prefix) + len(digits)
	if n >= sp.width {
		return prefix + digits
	}
	fill := sp.width - n
	switch {
	case sp.minus:
		return prefix + digits + strings.Repeat(" ", fill)
	case sp.zero && zeroOK:
		return prefix + strings.Repeat("0", fill) + digits
	}
	return strings.Repeat(" ", fill) + prefix + digits
}

func (sp *spec) signPrefix(neg bool) string {
	switch {
	case neg:
		return "-"
	case sp.plus:
		return "+"
	case sp.space:
		return " "
	}
	return ""
}

// intDigits applies an integer precision: at least prec digits, and none
// for a zero value with precision 0.
func (sp *spec) intDigits(d string) string {
	if sp.prec == 0 && d == "0" {
		return ""
	}
	if sp.prec > len(d) {
		d = strings.Repeat("0", sp.prec-len(d)) + d
	}
	return d
}

func (sp *spec) formatInt(v int64) string {
	neg := v < 0
	u := uint64(v)
	if neg {
		u = -u
	}
	d := sp.intDigits(strconv.FormatUint(u, 10))
	return sp.padNumber(sp.signPrefix(neg), d, sp.prec < 0)
}

func (sp *spec) formatUint(v uint64) string {
	var d, prefix string
	switch sp.conv {
	case 'o':
		d = sp.intDigits(strconv.FormatUint(v, 8))
		if sp.alt && !strings.HasPrefix(d, "0") {
			d = "0" + d
		}
	case 'u':
		d = sp.intDigits(strconv.FormatUint(v, 10))
	case 'x', 'X':
		d = sp.intDigits(strconv.FormatUint(v, 16))
		if sp.alt && v != 0 {
			prefix = "0x"
		}
		if sp.conv == 'X' {
			d = strings.ToUpper(d)
			prefix = strings.ToUpper(prefix)
		}
	}
	return sp.padNumber(prefix, d, sp.prec < 0)
}

func (sp *spec) formatFloat(f float64) string {
	upper := sp.conv == 'E' || sp.conv == 'G'
	neg := math.Signbit(f)
	if math.IsInf(f, 0) || math.IsNaN(f) {
		s := "inf"
		if math.IsNaN(f) {
			s = "nan"
		}
		if upper {
			s = strings.ToUpper(s)
		}
		return sp.padNumber(sp.signPrefix(neg), s, false)
	}
	if neg {
		f = -f
	}
	prec := sp.prec
	if prec < 0 {
		prec = 6
	}
	var d string
	switch sp.conv {
	case 'f':
		d = strconv.FormatFloat(f, 'f', prec, 64)
		if sp.alt && prec == 0 {
			d += "."
		}
	case 'e', 'E':
		d = formatE(f, prec, sp.alt)
	case 'g', 'G':
		d = formatG(f, prec, sp.alt)
	}
	if upper {
		d = strings.ToUpper(d)
	}
	return sp.padNumber(sp.signPrefix(neg), d, true)
}

// formatE is %.<prec>e of a non-negative finite f.
func formatE(f float64, prec int, alt bool) string {
	d := strconv.FormatFloat(f, 'e', prec, 64)
	if alt && prec == 0 {
		i := strings.IndexByte(d, 'e')
		d = d[:i] + "." + d[i:]
	}
	return d
}

// formatG is C's %g: %e or %f depending on the decimal exponent, without
// trailing zeros unless alt ('#').
func formatG(f float64, prec int, alt bool) string {
	if prec == 0 {
		prec = 1
	}
	if !alt {
		return luautil.FormatG(f, prec)
	}
	e := strconv.FormatFloat(f, 'e', prec-1, 64)
	x, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	var d string
	if x < -4 || x >= prec {
		d = formatE(f, prec-1, true)
	} else {
		d = strconv.FormatFloat(f, 'f', prec-1-x, 64)
		if !strings.Contains(d, ".") {
			d += "."
		}
	}
	return d
}

// quoted is %q: Lua 5.1's addquoted.
func quoted(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\n':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteString("\\r")
		case 0:
			b.WriteString("\\000")
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
