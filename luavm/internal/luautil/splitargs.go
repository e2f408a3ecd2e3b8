package luautil

// SplitArgs splits line as Redis's sdssplitargs does, which is how Redis
// reads a script shebang ("#!lua flags=no-writes") and a library's metadata
// line ("#!lua name=mylib"). Blanks separate arguments; inside "double
// quotes" the escapes \n \r \t \b \a and \xHH are understood and any other
// backslash keeps the byte after it; inside 'single quotes' only \' is an
// escape. Quotes may start in the middle of an argument (name="lib" is
// name=lib), but a closing quote must be followed by a blank or the end of
// the line. ok is false for an unterminated quote or a closing quote
// followed by something else, where sdssplitargs returns NULL.
//
// As in C, the line ends at its first NUL byte. Like sdssplitargs, the
// blanks skipped between arguments are C's isspace set, while an unquoted
// argument ends only at a space, \n, \r or \t: \v and \f belong to it.
func SplitArgs(line string) (args []string, ok bool) {
	for i := 0; i < len(line); i++ {
		if line[i] == 0 {
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
	args = []string{}
	i := 0
	for {
		for i < len(line) && isCSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			return args, true
		}
		var cur []byte
		inq, insq, done := false, false, false
		for !done {
			c := at(i)
			switch {
			case inq:
				switch {
				case c == '\\' && at(i+1) == 'x' && isHex(at(i+2)) && isHex(at(i+3)):
					cur = append(cur, unhex(at(i+2))<<4|unhex(at(i+3)))
					i += 3
				case c == '\\' && at(i+1) != 0:
					i++
					cur = append(cur, unescape(line[i]))
				case c == '"':
					if n := at(i + 1); n != 0 && !isCSpace(n) {
						return nil, false
					}
					done = true
				case c == 0:
					return nil, false
				default:
					cur = append(cur, c)
				}
			case insq:
				switch {
				case c == '\\' && at(i+1) == '\'':
					i++
					cur = append(cur, '\'')
				case c == '\'':
					if n := at(i + 1); n != 0 && !isCSpace(n) {
						return nil, false
					}
					done = true
				case c == 0:
					return nil, false
				default:
					cur = append(cur, c)
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
					cur = append(cur, c)
				}
			}
			if i < len(line) {
				i++
			}
		}
		args = append(args, string(cur))
	}
}

// isCSpace is C's isspace in the C locale.
func isCSpace(c byte) bool {
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
