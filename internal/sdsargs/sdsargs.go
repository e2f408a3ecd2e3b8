// Package sdsargs splits a line into arguments by the rules of Redis's
// sdssplitargs, which Redis uses for inline commands and for the shebang
// line of scripts and function libraries. The proxy and luavm both need
// those rules byte for byte, so they share this one implementation.
package sdsargs

// Split appends the arguments of line to buf, one after the other, and the
// end offset in buf of each argument to ends, so that callers reusing buf
// and ends split without allocating. ok is false where sdssplitargs fails:
// an unterminated quote, or a closing quote followed by something other
// than a blank.
//
// Blanks (C's isspace) separate arguments. Inside "double quotes" the
// escapes \n \r \t \b \a and \xHH are understood and any other backslash
// keeps the byte after it; inside 'single quotes' only \' is an escape.
// Quotes may start inside an argument (name="lib" is name=lib). An unquoted
// argument ends only at a space, \n, \r or \t, so \v and \f belong to it.
// As in C, the line ends at its first NUL byte.
func Split(line, buf []byte, ends []int) (_ []byte, _ []int, ok bool) {
	for i, c := range line {
		if c == 0 {
			line = line[:i]
			break
		}
	}
	at := func(i int) byte {
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	i := 0
	for {
		for i < len(line) && IsSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			return buf, ends, true
		}
		inq, insq, done := false, false, false
		for !done {
			c := at(i)
			switch {
			case inq:
				switch {
				case c == '\\' && at(i+1) == 'x' && isHex(at(i+2)) && isHex(at(i+3)):
					buf = append(buf, unhex(at(i+2))<<4|unhex(at(i+3)))
					i += 3
				case c == '\\' && at(i+1) != 0:
					i++
					buf = append(buf, unescape(line[i]))
				case c == '"':
					if n := at(i + 1); n != 0 && !IsSpace(n) {
						return buf, ends, false
					}
					done = true
				case c == 0:
					return buf, ends, false
				default:
					buf = append(buf, c)
				}
			case insq:
				switch {
				case c == '\\' && at(i+1) == '\'':
					i++
					buf = append(buf, '\'')
				case c == '\'':
					if n := at(i + 1); n != 0 && !IsSpace(n) {
						return buf, ends, false
					}
					done = true
				case c == 0:
					return buf, ends, false
				default:
					buf = append(buf, c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					buf = append(buf, c)
				}
			}
			if i < len(line) {
				i++
			}
		}
		ends = append(ends, len(buf))
	}
}

// IsSpace is C's isspace in the C locale.
func IsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// unescape is the byte a backslash escape inside double quotes stands for.
func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	}
	return c
}
