package cjson

import (
	"math"
	"strconv"
)

// IEEE 754 quiet NaNs as glibc's strtod returns them.
const (
	nanBits     = 0x7FF8000000000000
	payloadMask = 1<<51 - 1
)

// strtod parses the longest prefix of s that glibc's strtod accepts (in
// the C locale) and returns its value and length; length 0 means none.
// Besides decimal numbers that is hex numbers ("0x1.8p3"), "inf",
// "infinity" and "nan" in any case, and "nan(chars)".
func strtod(s []byte) (float64, int) {
	at := func(i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	i := 0
	neg := false
	if c := at(0); c == '+' || c == '-' {
		neg = c == '-'
		i++
	}
	sign := func(f float64) float64 {
		if neg {
			return -f
		}
		return f
	}
	switch {
	case hasPrefixFold(s[i:], "infinity"):
		return sign(math.Inf(1)), i + 8
	case hasPrefixFold(s[i:], "inf"):
		return sign(math.Inf(1)), i + 3
	case hasPrefixFold(s[i:], "nan"):
		n, size := nan(s[i+3:])
		return sign(n), i + 3 + size
	case at(i) == '0' && at(i+1)|0x20 == 'x':
		if f, size := hexFloat(s[i+2:]); size > 0 {
			return sign(f), i + 2 + size
		}
		return sign(0), i + 1
	}
	j := i
	digits := 0
	for isDigit(at(j)) {
		j++
		digits++
	}
	if at(j) == '.' {
		j++
		for isDigit(at(j)) {
			j++
			digits++
		}
	}
	if digits == 0 {
		return 0, 0
	}
	j = exponent(s, j, 'e')
	f, err := strconv.ParseFloat(string(s[i:j]), 64)
	if err != nil && !isRangeError(err) {
		return 0, 0
	}
	return sign(f), j
}

// exponent returns the end of an exponent part ("e-12") starting at j, or
// j if there is none.
func exponent(s []byte, j int, mark byte) int {
	if j >= len(s) || s[j]|0x20 != mark {
		return j
	}
	k := j + 1
	if k < len(s) && (s[k] == '+' || s[k] == '-') {
		k++
	}
	if k >= len(s) || !isDigit(s[k]) {
		return j
	}
	for k < len(s) && isDigit(s[k]) {
		k++
	}
	return k
}

// hexFloat parses the digits of a hex number after its "0x" prefix.
func hexFloat(s []byte) (float64, int) {
	j, digits := 0, 0
	for j < len(s) && hexDigit(s[j]) >= 0 {
		j++
		digits++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && hexDigit(s[j]) >= 0 {
			j++
			digits++
		}
	}
	if digits == 0 {
		return 0, 0
	}
	mant := j
	j = exponent(s, j, 'p')
	text := "0x" + string(s[:mant])
	if j > mant {
		text += "p" + string(s[mant+1:j])
	} else {
		text += "p0"
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !isRangeError(err) {
		return 0, 0
	}
	return f, j
}

// nan parses what may follow "nan": "(chars)" with chars from
// [0-9A-Za-z_]. glibc reads chars as an unsigned number (base 0) and, if
// all of them make one, puts its low bits in the NaN's payload.
func nan(s []byte) (float64, int) {
	f := math.Float64frombits(nanBits)
	if len(s) == 0 || s[0] != '(' {
		return f, 0
	}
	j := 1
	for j < len(s) && (isDigit(s[j]) || ('a' <= s[j]|0x20 && s[j]|0x20 <= 'z') || s[j] == '_') {
		j++
	}
	if j >= len(s) || s[j] != ')' {
		return f, 0
	}
	if m, ok := parseCUint(string(s[1:j])); ok {
		f = math.Float64frombits(nanBits | m&payloadMask)
	}
	return f, j + 1
}

// parseCUint is strtoull(s, &end, 0) consuming all of s: decimal, 0x hex
// or 0 octal. Values too large saturate, as strtoull does.
func parseCUint(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(s) > 2 && s[0] == '0' && s[1]|0x20 == 'x':
		base, s = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	}
	if s == "" || s[0] == '_' || s[0] == '+' || s[0] == '-' {
		return 0, false
	}
	for i := range len(s) {
		if s[i] == '_' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return math.MaxUint64, true
		}
		return 0, false
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
