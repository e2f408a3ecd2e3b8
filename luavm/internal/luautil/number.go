package luautil

import (
	"math"
	"strconv"
	"strings"
)

// ParseNumber converts s as Lua 5.1's luaO_str2d does with glibc's strtod:
// surrounding C whitespace, decimal and hexadecimal numbers (with optional
// binary exponent), "inf", "infinity" and "nan" in any case. Like C, it
// stops at the first NUL byte.
func ParseNumber(s string) (float64, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			s = s[:i]
			break
		}
	}
	f, n := ParseCNumber(s)
	if n == 0 {
		return 0, false
	}
	for ; n < len(s); n++ {
		if !IsSpace(s[n]) {
			return 0, false
		}
	}
	return f, true
}

// IsSpace is C's isspace in the C locale.
func IsSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// ParseCNumber is strtod: it parses the longest number prefix of s and
// returns it with the count of bytes used, 0 if there is none.
func ParseCNumber(s string) (float64, int) {
	i := 0
	for i < len(s) && IsSpace(s[i]) {
		i++
	}
	start := i
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	sign := func(f float64) float64 {
		if neg {
			return -f
		}
		return f
	}
	if hasFold(s[i:], "inf") {
		if hasFold(s[i:], "infinity") {
			return sign(math.Inf(1)), i + 8
		}
		return sign(math.Inf(1)), i + 3
	}
	if hasFold(s[i:], "nan") {
		n := i + 3
		if n < len(s) && s[n] == '(' {
			j := n + 1
			for j < len(s) && (isAlnum(s[j]) || s[j] == '_') {
				j++
			}
			if j < len(s) && s[j] == ')' {
				n = j + 1
			}
		}
		// glibc's strtod("nan") has the sign bit clear; "-nan" sets it.
		return math.Copysign(math.NaN(), sign(1)), n
	}
	if i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') {
		if f, n := parseHex(s[i+2:]); n > 0 {
			return sign(f), i + 2 + n
		}
	}
	j := i
	digits := 0
	for j < len(s) && isDigit(s[j]) {
		j++
		digits++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && isDigit(s[j]) {
			j++
			digits++
		}
	}
	if digits == 0 {
		return 0, 0
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && isDigit(s[k]) {
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			j = k
		}
	}
	f, err := strconv.ParseFloat(s[start:j], 64)
	if err != nil && !math.IsInf(f, 0) && f != 0 {
		return 0, 0
	}
	return f, j
}

// parseHex parses hexadecimal digits with an optional point and binary
// exponent (after "0x") and returns the value and the bytes used.
func parseHex(s string) (float64, int) {
	j, digits := 0, 0
	for j < len(s) && isXDigit(s[j]) {
		j++
		digits++
	}
	mant := s[:j]
	if j < len(s) && s[j] == '.' {
		k := j + 1
		for k < len(s) && isXDigit(s[k]) {
			k++
			digits++
		}
		if digits > 0 {
			mant = s[:k]
			j = k
		}
	}
	if digits == 0 {
		return 0, 0
	}
	exp := "p0"
	if j < len(s) && (s[j] == 'p' || s[j] == 'P') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && isDigit(s[k]) {
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			exp = s[j:k]
			j = k
		}
	}
	if mant[0] == '.' {
		mant = "0" + mant
	}
	f, err := strconv.ParseFloat("0x"+mant+exp, 64)
	if err != nil && !math.IsInf(f, 0) && f != 0 {
		return 0, 0
	}
	return f, j
}

func hasFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isXDigit(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }
func isAlnum(c byte) bool  { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') }

// SyntaxMessage rewrites a go-lua syntax error ("chunk:line: text" or
// "chunk:line: text near token") in Lua 5.1's words where the two differ
// only in spelling:
//
//   - 5.1 always quotes the token after "near" ("near '<eof>'") and shows
//     a number as written, not with go-lua's %f;
//   - 5.1 quotes the expected token ("'<name>' expected", "'<eof>'
//     expected", "'=' expected") and the opening one in "(to close '(' at
//     line N)", where go-lua leaves single characters and <eof> bare and
//     prints an empty name for <name>;
//   - go-lua says "syntax error" for an expression statement that is
//     neither a call nor followed by '=' or ',' ("x y"): 5.1 reads a
//     variable there as the start of an assignment and says "'='
//     expected". Before '=' or ',' go-lua's "syntax error" is a call used
//     as an assignment target ("f() = 1"), where 5.1 has ended the
//     statement after the call and finds an "unexpected symbol".
//
// Not told apart by the text, and so still worded as for the common case:
// a parenthesised expression as a statement ("(x) y", "(x) = 1"), which 5.1
// calls a "syntax error", and a call as a later target ("a, f() = 1").
func SyntaxMessage(msg string) string {
	head, text := splitPosition(msg)
	tok, hasTok := "", false
	if i := strings.Index(text, " near "); i >= 0 {
		text, tok, hasTok = text[:i], text[i+len(" near "):], true
		if !(len(tok) >= 2 && tok[0] == '\'' && tok[len(tok)-1] == '\'') {
			// go-lua prints number tokens with %f; Lua 5.1 prints the
			// token's text, which %.14g gives back in the usual cases.
			if f, err := strconv.ParseFloat(tok, 64); err == nil && strings.Contains(tok, ".") {
				tok = FormatNumber(f)
			}
			tok = "'" + tok + "'"
		}
	}
	switch {
	case text == "syntax error" && hasTok && (tok == "'='" || tok == "','"):
		text = "unexpected symbol"
	case text == "syntax error" && hasTok:
		text = "'=' expected"
	default:
		// Only a token is quoted: "function arguments expected" and
		// "<name> or '...' expected" are not, in 5.1 either.
		if what, rest, ok := strings.Cut(text, " expected"); ok && !strings.Contains(what, " ") {
			text = quoteToken(what) + " expected" + rest
			if i := strings.Index(text, "(to close "); i >= 0 {
				j := i + len("(to close ")
				if k := strings.Index(text[j:], " at line "); k >= 0 {
					text = text[:j] + quoteToken(text[j:j+k]) + text[j+k:]
				}
			}
		}
	}
	if hasTok {
		text += " near " + tok
	}
	return head + text
}

// quoteToken quotes a token name as 5.1's luaX_token2str and LUA_QS do.
func quoteToken(what string) string {
	switch {
	case what == "":
		return "'<name>'"
	case what[0] == '\'':
		return what
	}
	return "'" + what + "'"
}

// splitPosition splits "chunk:line: text" after its "line: ". A chunk
// shown as [string "..."] may hold anything, so the search starts after its
// closing "]; a message without a position is all text.
func splitPosition(msg string) (head, text string) {
	from := 0
	if strings.HasPrefix(msg, "[string \"") {
		if i := strings.Index(msg, "\"]:"); i >= 0 {
			from = i + 2
		}
	}
	for i := from; i < len(msg); i++ {
		if msg[i] != ':' {
			continue
		}
		j := i + 1
		for j < len(msg) && isDigit(msg[j]) {
			j++
		}
		if j > i+1 && j+1 < len(msg) && msg[j] == ':' && msg[j+1] == ' ' {
			return msg[:j+2], msg[j+2:]
		}
	}
	return "", msg
}

// Chunk-name widths of Lua 5.1: runtime errors render chunk names in
// LUA_IDSIZE bytes, syntax errors in the lexer's MAXSRC.
const (
	IDSize       = 60
	SyntaxIDSize = 80
)

// ChunkID is Lua 5.1's luaO_chunkid with the given width (IDSize or
// SyntaxIDSize): how a chunk name appears in messages. "=name" is name
// (at most size-1 bytes), "@file" is the file name (its last size-8 bytes
// after "..." when longer), and source text is [string "first line"], cut
// to size-17 bytes and marked "..." when cut or multi-line.
func ChunkID(source string, size int) string {
	if i := strings.IndexByte(source, 0); i >= 0 {
		source = source[:i] // C string
	}
	switch {
	case strings.HasPrefix(source, "="):
		s := source[1:]
		if len(s) > size-1 {
			s = s[:size-1]
		}
		return s
	case strings.HasPrefix(source, "@"):
		s := source[1:]
		max := size - len(" '...' ") - 1
		if len(s) > max {
			return "..." + s[len(s)-max:]
		}
		return s
	}
	max := size - len(" [string \"...\"] ") - 1
	n := strings.IndexAny(source, "\n\r")
	if n < 0 {
		n = len(source)
	}
	if n > max {
		n = max
	}
	if n < len(source) {
		return "[string \"" + source[:n] + "...\"]"
	}
	return "[string \"" + source + "\"]"
}
