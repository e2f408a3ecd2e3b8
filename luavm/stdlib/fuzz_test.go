package stdlib

import (
	"strings"
	"testing"
	"time"
)

// FuzzPattern feeds arbitrary patterns and subjects to find, match, gmatch
// and gsub. Each call must end with a result or a Lua error: never a Go
// panic, never unbounded work (an interrupt stops runaway backtracking,
// the memory limit stops runaway output).
func FuzzPattern(f *testing.F) {
	seeds := [][2]string{
		{"(%a+):(%d+)", "key:123"},
		{"^%s*(.-)%s*$", "  x  "},
		{"%b()", "f(a(b)c)"},
		{"%f[%w]%w+", "THE (quick) fox"},
		{"[^%]]-", "a]b"},
		{"(a)%1", "aa"},
		{"()", "abc"},
		{"[%a-z]", "-"},
		{"%", "x"},
		{"[", "x"},
		{"(()", "x"},
		{"a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaa"},
		{"\x00", "a\x00b"},
		{"%z+", "\x00\x00"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	l, _, lim := newState()
	const script = `
		local s, p = ...
		local n = 0
		string.find(s, p)
		string.find(s, p, 2)
		string.match(s, p)
		string.gsub(s, p, '%0-')
		string.gsub(s, p, function(...) return select('#', ...) end)
		for a in string.gmatch(s, p) do
			n = n + 1
			if n > #s + 1 then error('gmatch did not advance') end
		end
		return n`
	f.Fuzz(func(t *testing.T, pattern, subject string) {
		if len(pattern) > 256 || len(subject) > 256 {
			return
		}
		lim.Reset(1 << 20)
		timer := time.AfterFunc(200*time.Millisecond, func() { lim.Interrupt("interrupted") })
		defer timer.Stop()
		l.SetTop(0)
		if err := l.Load(strings.NewReader(script), "=fuzz", "t"); err != nil {
			t.Fatal(err)
		}
		l.PushString(subject)
		l.PushString(pattern)
		if err := l.ProtectedCall(2, 1, 0); err != nil {
			// go-lua turns Go runtime panics into Lua errors with
			// whatever is on the stack as message, so only the
			// matcher's own messages are acceptable.
			msg, _ := l.ToString(-1)
			if !knownPatternError(msg) {
				t.Fatalf("pattern %q subject %q: %q (%v)", pattern, subject, msg, err)
			}
		}
	})
}

var patternErrors = []string{
	"malformed pattern", "invalid capture index", "invalid pattern capture", "unfinished capture",
	"missing '[' after '%f' in pattern", "too many captures", "unbalanced pattern", "pattern too complex",
	"interrupted", "not enough memory",
}

func knownPatternError(msg string) bool {
	if !strings.HasPrefix(msg, "fuzz:") {
		return msg == "interrupted" || msg == "not enough memory"
	}
	for _, e := range patternErrors {
		if strings.Contains(msg, e) {
			return true
		}
	}
	return false
}
