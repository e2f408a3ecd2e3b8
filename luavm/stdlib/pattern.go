package stdlib

import (
	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// Lua 5.1 pattern matching, following lstrlib.c's backtracking matcher
// step for step so that every match, capture and error is the same.
// Patterns are C strings there: matching stops at the first NUL byte of the
// pattern, which callers reproduce by cutting the pattern (cPattern).

const (
	maxCaptures   = 32 // LUA_MAXCAPTURES
	capUnfinished = -1
	capPosition   = -2
	// maxMatchDepth bounds the matcher's recursion. Lua 5.1 has no such
	// limit (a deep enough pattern overflows Redis's C stack); this one is
	// far above what real patterns need and keeps the Go stack bounded.
	maxMatchDepth = 200000
	// tickEvery is how many matcher steps pass between interrupt checks.
	tickEvery = 1 << 12
	specials  = "^$*+?.([%-"
)

type capture struct {
	init, len int
}

// matcher is lstrlib.c's MatchState.
type matcher struct {
	l       *lua.State
	lim     *luautil.Limits
	src     string
	pat     string
	level   int
	capture [maxCaptures]capture
	depth   int
	steps   int
}

// cPattern cuts p at its first NUL, where C's matcher sees its end.
func cPattern(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] == 0 {
			return p[:i]
		}
	}
	return p
}

// pc returns the pattern byte at i, or 0 past the end like a C string.
func (m *matcher) pc(i int) byte {
	if i < len(m.pat) {
		return m.pat[i]
	}
	return 0
}

// sc returns the subject byte at i, or 0 at its end (Lua strings carry a
// terminating NUL that %f sees).
func (m *matcher) sc(i int) byte {
	if i < len(m.src) {
		return m.src[i]
	}
	return 0
}

func (m *matcher) tick() {
	m.steps++
	if m.steps&(tickEvery-1) == 0 {
		m.lim.Tick(m.l)
	}
}

func (m *matcher) error(msg string) { luautil.Errorf(m.l, "%s", msg) }

func (m *matcher) checkCapture(c byte) int {
	i := int(c) - '1'
	if i < 0 || i >= m.level || m.capture[i].len == capUnfinished {
		m.error("invalid capture index")
	}
	return i
}

func (m *matcher) captureToClose() int {
	for level := m.level - 1; level >= 0; level-- {
		if m.capture[level].len == capUnfinished {
			return level
		}
	}
	m.error("invalid pattern capture")
	return 0
}

// classEnd returns the index just past the single-character class at p.
func (m *matcher) classEnd(p int) int {
	c := m.pc(p)
	p++
	switch c {
	case '%':
		if m.pc(p) == 0 {
			m.error("malformed pattern (ends with '%')")
		}
		return p + 1
	case '[':
		if m.pc(p) == '^' {
			p++
		}
		for {
			if m.pc(p) == 0 {
				m.error("malformed pattern (missing ']')")
			}
			c := m.pc(p)
			p++
			if c == '%' && m.pc(p) != 0 {
				p++
			}
			if m.pc(p) == ']' {
				break
			}
		}
		return p + 1
	}
	return p
}

func isAlpha(c byte) bool  { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLower(c byte) bool  { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool  { return c >= 'A' && c <= 'Z' }
func isCntrl(c byte) bool  { return c < 32 || c == 127 }
func isAlnum(c byte) bool  { return isAlpha(c) || isDigit(c) }
func isPunct(c byte) bool  { return c > 32 && c < 127 && !isAlnum(c) }
func isXDigit(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }

func toLower(c byte) byte {
	if isUpper(c) {
		return c + 'a' - 'A'
	}
	return c
}

func toUpper(c byte) byte {
	if isLower(c) {
		return c - ('a' - 'A')
	}
	return c
}

// matchClass reports whether c is in the class %cl.
func matchClass(c, cl byte) bool {
	var res bool
	switch toLower(cl) {
	case 'a':
		res = isAlpha(c)
	case 'c':
		res = isCntrl(c)
	case 'd':
		res = isDigit(c)
	case 'l':
		res = isLower(c)
	case 'p':
		res = isPunct(c)
	case 's':
		res = luautil.IsSpace(c)
	case 'u':
		res = isUpper(c)
	case 'w':
		res = isAlnum(c)
	case 'x':
		res = isXDigit(c)
	case 'z':
		res = c == 0
	default:
		return cl == c
	}
	if isLower(cl) {
		return res
	}
	return !res
}

// matchBracketClass matches c against the set whose '[' is at p and whose
// closing ']' is at ec.
func (m *matcher) matchBracketClass(c byte, p, ec int) bool {
	sig := true
	if m.pc(p+1) == '^' {
		sig = false
		p++
	}
	for p++; p < ec; p++ {
		if m.pc(p) == '%' {
			p++
			if matchClass(c, m.pc(p)) {
				return sig
			}
		} else if m.pc(p+1) == '-' && p+2 < ec {
			p += 2
			if m.pc(p-2) <= c && c <= m.pc(p) {
				return sig
			}
		} else if m.pc(p) == c {
			return sig
		}
	}
	return !sig
}

func (m *matcher) singleMatch(c byte, p, ep int) bool {
	switch m.pc(p) {
	case '.':
		return true
	case '%':
		return matchClass(c, m.pc(p+1))
	case '[':
		return m.matchBracketClass(c, p, ep-1)
	}
	return m.pc(p) == c
}

func (m *matcher) matchBalance(s, p int) int {
	if m.pc(p) == 0 || m.pc(p+1) == 0 {
		m.error("unbalanced pattern")
	}
	if m.sc(s) != m.pc(p) || s >= len(m.src) {
		return -1
	}
	b, e := m.pc(p), m.pc(p+1)
	cont := 1
	for s++; s < len(m.src); s++ {
		m.tick()
		if m.src[s] == e {
			cont--
			if cont == 0 {
				return s + 1
			}
		} else if m.src[s] == b {
			cont++
		}
	}
	return -1
}

func (m *matcher) maxExpand(s, p, ep int) int {
	i := 0
	for s+i < len(m.src) && m.singleMatch(m.src[s+i], p, ep) {
		m.tick()
		i++
	}
	for ; i >= 0; i-- {
		if res := m.match(s+i, ep+1); res != -1 {
			return res
		}
	}
	return -1
}

func (m *matcher) minExpand(s, p, ep int) int {
	for {
		if res := m.match(s, ep+1); res != -1 {
			return res
		}
		if s < len(m.src) && m.singleMatch(m.src[s], p, ep) {
			s++
		} else {
			return -1
		}
	}
}

func (m *matcher) startCapture(s, p, what int) int {
	level := m.level
	if level >= maxCaptures {
		m.error("too many captures")
	}
	m.capture[level] = capture{init: s, len: what}
	m.level = level + 1
	res := m.match(s, p)
	if res == -1 {
		m.level--
	}
	return res
}

func (m *matcher) endCapture(s, p int) int {
	l := m.captureToClose()
	m.capture[l].len = s - m.capture[l].init
	res := m.match(s, p)
	if res == -1 {
		m.capture[l].len = capUnfinished
	}
	return res
}

func (m *matcher) matchCapture(s int, c byte) int {
	l := m.checkCapture(c)
	n := m.capture[l].len
	init := m.capture[l].init
	// A position capture's length is negative; C compares it as a huge
	// size_t, so it never matches.
	if n >= 0 && len(m.src)-s >= n && m.src[init:init+n] == m.src[s:s+n] {
		return s + n
	}
	return -1
}

// match tries pattern position p at subject position s and returns the end
// of the match, or -1.
func (m *matcher) match(s, p int) int {
	m.depth++
	if m.depth > maxMatchDepth {
		m.error("pattern too complex")
	}
	res := m.doMatch(s, p)
	m.depth--
	return res
}

func (m *matcher) doMatch(s, p int) int {
	for {
		m.tick()
		switch m.pc(p) {
		case '(':
			if m.pc(p+1) == ')' {
				return m.startCapture(s, p+2, capPosition)
			}
			return m.startCapture(s, p+1, capUnfinished)
		case ')':
			return m.endCapture(s, p+1)
		case 0:
			return s
		case '$':
			if p+1 == len(m.pat) {
				if s == len(m.src) {
					return s
				}
				return -1
			}
		case '%':
			switch m.pc(p + 1) {
			case 'b':
				s = m.matchBalance(s, p+2)
				if s == -1 {
					return -1
				}
				p += 4
				continue
			case 'f':
				p += 2
				if m.pc(p) != '[' {
					m.error("missing '[' after '%f' in pattern")
				}
				ep := m.classEnd(p)
				var prev byte
				if s > 0 {
					prev = m.src[s-1]
				}
				if m.matchBracketClass(prev, p, ep-1) || !m.matchBracketClass(m.sc(s), p, ep-1) {
					return -1
				}
				p = ep
				continue
			default:
				if d := m.pc(p + 1); isDigit(d) {
					s = m.matchCapture(s, d)
					if s == -1 {
						return -1
					}
					p += 2
					continue
				}
			}
		}
		// A single-character class, possibly with a quantifier.
		ep := m.classEnd(p)
		matched := s < len(m.src) && m.singleMatch(m.src[s], p, ep)
		switch m.pc(ep) {
		case '?':
			if matched {
				if res := m.match(s+1, ep+1); res != -1 {
					return res
				}
			}
			p = ep + 1
			continue
		case '*':
			return m.maxExpand(s, p, ep)
		case '+':
			if !matched {
				return -1
			}
			return m.maxExpand(s+1, p, ep)
		case '-':
			return m.minExpand(s, p, ep)
		}
		if !matched {
			return -1
		}
		s++
		p = ep
	}
}

// pushCapture pushes capture i (or the whole match s..e when the pattern
// has no captures).
func (m *matcher) pushCapture(i, s, e int) {
	if i >= m.level {
		if i != 0 {
			m.error("invalid capture index")
		}
		m.l.PushString(m.src[s:e])
		return
	}
	c := m.capture[i]
	switch c.len {
	case capUnfinished:
		m.error("unfinished capture")
	case capPosition:
		m.l.PushInteger(c.init + 1)
	default:
		m.l.PushString(m.src[c.init : c.init+c.len])
	}
}

// captureString returns capture i as a string, for gsub's replacement.
func (m *matcher) captureString(i, s, e int) string {
	if i >= m.level {
		if i != 0 {
			m.error("invalid capture index")
		}
		return m.src[s:e]
	}
	c := m.capture[i]
	switch c.len {
	case capUnfinished:
		m.error("unfinished capture")
	case capPosition:
		return luautil.FormatNumber(float64(c.init + 1))
	}
	return m.src[c.init : c.init+c.len]
}

// pushCaptures pushes all captures; wholeIfNone adds the whole match when
// there are none (s >= 0). It returns how many values it pushed.
func (m *matcher) pushCaptures(s, e int, wholeIfNone bool) int {
	n := m.level
	if n == 0 && wholeIfNone {
		n = 1
	}
	if !m.l.CheckStack(n) {
		luautil.Errorf(m.l, "stack overflow (too many captures)")
	}
	for i := 0; i < n; i++ {
		m.pushCapture(i, s, e)
	}
	return n
}
