package proxy

// globMatch reports whether s matches the glob pattern as Redis's
// stringmatchlen does (FUNCTION LIST LIBRARYNAME matches case-insensitively):
// *, ?, [set], [^set], [a-z], backslash escapes, and the same give-up rule
// after a failed star, which also keeps the work polynomial.
func globMatch(pattern, s string, nocase bool) bool {
	skip := false
	return globMatchFrom(pattern, s, nocase, &skip)
}

func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func globMatchFrom(p, s string, nocase bool, skip *bool) bool {
	eq := func(a, b byte) bool {
		if nocase {
			return lowerByte(a) == lowerByte(b)
		}
		return a == b
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if globMatchFrom(p[1:], s, nocase, skip) {
					return true
				}
				if *skip {
					return false
				}
				s = s[1:]
			}
			*skip = true
			return false
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			match := false
		class:
			for {
				switch {
				case len(p) >= 2 && p[0] == '\\':
					p = p[1:]
					if p[0] == s[0] {
						match = true
					}
				case len(p) == 0:
					break class
				case p[0] == ']':
					break class
				case len(p) >= 3 && p[1] == '-':
					start, end, c := p[0], p[2], s[0]
					if start > end {
						start, end = end, start
					}
					if nocase {
						start, end, c = lowerByte(start), lowerByte(end), lowerByte(c)
					}
					p = p[2:]
					if c >= start && c <= end {
						match = true
					}
				default:
					if eq(p[0], s[0]) {
						match = true
					}
				}
				p = p[1:]
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if !eq(p[0], s[0]) {
				return false
			}
			s = s[1:]
		}
		if len(p) > 0 {
			p = p[1:]
		}
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}
