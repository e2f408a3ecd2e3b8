package stdlib

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// Randomised differential tests: generated format specifications and
// patterns, from a fixed seed so that failures reproduce.

// luaQuote is a Lua string literal for s.
func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 32 || c >= 127:
			b.WriteString("\\" + strconv.Itoa(int(c)))
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

func TestRedisRandomFormat(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	numbers := []string{"0", "-0.0", "1", "-1", "3.7", "-3.7", "255", "1e10", "1e-5", "123456.789", "2^53", "-2^63",
		"1e300", "0.5", "2.5", "1/0", "-1/0", "0/0", "65", "0.1", "99.995", "-123456789", "4294967296", "'12'"}
	stringsArg := []string{"''", "'x'", "'hello world'", "'a\\0b'", "12", "1.5", "string.rep('y', 120)"}
	var scripts []string
	for i := 0; i < 400; i++ {
		var spec strings.Builder
		spec.WriteByte('%')
		for n := rng.Intn(3); n > 0; n-- {
			spec.WriteByte("-+ #0"[rng.Intn(5)])
		}
		if rng.Intn(2) == 0 {
			spec.WriteString(strconv.Itoa(rng.Intn(26)))
		}
		if rng.Intn(2) == 0 {
			spec.WriteString("." + strconv.Itoa(rng.Intn(21)))
		}
		conv := "dioxXucfeEgGsq"[rng.Intn(14)]
		spec.WriteByte(conv)
		arg := numbers[rng.Intn(len(numbers))]
		if conv == 's' || conv == 'q' {
			arg = stringsArg[rng.Intn(len(stringsArg))]
		}
		scripts = append(scripts, fmt.Sprintf("return string.format('[%s]', %s)", spec.String(), arg))
	}
	compare(t, newDiffer(t), scripts)
}

// randomPattern builds a short pattern from Lua's pattern items; short
// enough that backtracking stays cheap on both sides.
func randomPattern(rng *rand.Rand) string {
	singles := []string{"a", "b", ".", "%a", "%d", "%s", "%p", "[ab]", "[^a]", "[a-c]", "[%d.]", "%%", "%.", "x", "%w", "%A"}
	var b strings.Builder
	if rng.Intn(4) == 0 {
		b.WriteByte('^')
	}
	open := 0
	for n := 1 + rng.Intn(4); n > 0; n-- {
		switch r := rng.Intn(12); {
		case r == 0:
			b.WriteString("(")
			open++
		case r == 1 && open > 0:
			b.WriteString(")")
			open--
		case r == 2:
			b.WriteString("()")
		case r == 3:
			b.WriteString("%b()")
		case r == 4:
			b.WriteString("%f[%a]")
		case r == 5 && open == 0 && strings.Contains(b.String(), "("):
			b.WriteString("%1")
		default:
			b.WriteString(singles[rng.Intn(len(singles))])
			b.WriteString([]string{"", "", "*", "+", "-", "?"}[rng.Intn(6)])
		}
	}
	for ; open > 0 && rng.Intn(3) > 0; open-- {
		b.WriteString(")")
	}
	if rng.Intn(5) == 0 {
		b.WriteByte('$')
	}
	return b.String()
}

func randomSubject(rng *rand.Rand) string {
	const chars = "aabbc( )1.2x"
	n := rng.Intn(9)
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rng.Intn(len(chars))]
	}
	return string(b)
}

func TestRedisRandomPatterns(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	var scripts []string
	for i := 0; i < 400; i++ {
		p, s := luaQuote(randomPattern(rng)), luaQuote(randomSubject(rng))
		switch i % 4 {
		case 0:
			scripts = append(scripts, fmt.Sprintf("return {string.find(%s, %s)}", s, p))
		case 1:
			scripts = append(scripts, fmt.Sprintf("return {string.match(%s, %s, %d)}", s, p, rng.Intn(5)-1))
		case 2:
			scripts = append(scripts, fmt.Sprintf("return {string.gsub(%s, %s, '<%%0>')}", s, p))
		case 3:
			scripts = append(scripts, fmt.Sprintf("local n = {} for a, b in string.gmatch(%s, %s) do n[#n+1] = tostring(a) .. '/' .. tostring(b) end return n", s, p))
		}
	}
	compare(t, newDiffer(t), scripts)
}

// TestRedisRandomNumbers compares number printing and parsing: tostring
// (%.14g), %.Ng formats, and tonumber of printed forms.
func TestRedisRandomNumbers(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var scripts []string
	for i := 0; i < 200; i++ {
		var x float64
		switch i % 4 {
		case 0:
			x = rng.NormFloat64() * 1e6
		case 1:
			x = float64(rng.Int63n(1<<53)) * []float64{1, 1e-10, 1e10, -1}[rng.Intn(4)]
		case 2:
			x = rng.Float64() * float64(rng.Intn(1000))
		case 3:
			x = rng.ExpFloat64() * 1e-300 * float64(rng.Intn(2))
		}
		lit := strconv.FormatFloat(x, 'g', -1, 64)
		prec := 1 + rng.Intn(17)
		scripts = append(scripts, fmt.Sprintf("return {tostring(%s), string.format('%%.%dg|%%.%de|%%.%df', %s, %s, %s), tostring(tonumber('%s'))}",
			lit, prec, prec, prec%8, lit, lit, lit, strconv.FormatFloat(x, 'e', prec, 64)))
	}
	for i := 0; i < 60; i++ {
		base := 2 + rng.Intn(35)
		digits := strconv.FormatUint(rng.Uint64()>>uint(rng.Intn(64)), base)
		if rng.Intn(3) == 0 {
			digits = strings.ToUpper(digits)
		}
		scripts = append(scripts, fmt.Sprintf("return tostring(tonumber('%s', %d))", digits, base))
	}
	compare(t, newDiffer(t), scripts)
}

// TestRedisRandomBytes runs patterns over binary subjects (NUL, high
// bytes) and replacement forms: strings with escapes, tables, functions.
func TestRedisRandomBytes(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	items := []string{"%z", "\x00", "\xff", "[\x00-\x1f]", "[^\x80-\xff]", "%c", "%Z", ".", "%w", "%x", "[%z%a]", "%p", "%S", "\x80-",
		"(%d)", "(.)%1", "[]]", "[^]]", "[a-]", "[%-]", "%]", "()", "%b\x00\xff", "%f[%z]", "%f[^%z]"}
	subjectChars := "\x00\xff\x80a1 ]-\x01Z"
	repls := []string{"'<%0>'", "'%1'", "'%%'", "'%'", "'x%2'", "{['\\0'] = 'NUL', a = 1}", "function(c) return c == 'a' and 'A' or nil end",
		"function(...) return select('#', ...) end", "'\\0%0\\0'", "false"}
	var scripts []string
	for i := 0; i < 300; i++ {
		var p strings.Builder
		for n := 1 + rng.Intn(3); n > 0; n-- {
			p.WriteString(items[rng.Intn(len(items))])
			p.WriteString([]string{"", "", "*", "+", "-", "?"}[rng.Intn(6)])
		}
		sb := make([]byte, rng.Intn(10))
		for j := range sb {
			sb[j] = subjectChars[rng.Intn(len(subjectChars))]
		}
		pat, subj := luaQuote(p.String()), luaQuote(string(sb))
		switch i % 3 {
		case 0:
			scripts = append(scripts, fmt.Sprintf("return {string.find(%s, %s, %d, %v)}", subj, pat, rng.Intn(6)-2, rng.Intn(3) == 0))
		case 1:
			scripts = append(scripts, fmt.Sprintf("return {string.gsub(%s, %s, %s, %d)}", subj, pat, repls[rng.Intn(len(repls))], rng.Intn(5)-1))
		case 2:
			scripts = append(scripts, fmt.Sprintf("return {string.match(%s, %s)}", subj, pat))
		}
	}
	compare(t, newDiffer(t), scripts)
}
