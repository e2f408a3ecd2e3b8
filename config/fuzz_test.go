package config

import (
	"net"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseUpstream checks ParseUpstream's promises on any input: a parsed
// address always has a host and a port, an error never shows the
// password, and String masks it.
func FuzzParseUpstream(f *testing.F) {
	for _, s := range []string{
		"redis://127.0.0.1:6379", "redis://u:p@h:1/2", "rediss://:pw@[::1]", "redis://pw@h", "redis://h:1/x",
		"redis://u:p@h:x", "http://h", "redis://h:1?db=1", "redis://u%3A:p%40@h", "redis://:@h:1/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		up, err := ParseUpstream(s)
		secret := ""
		if u, perr := url.Parse(s); perr == nil && u.User != nil {
			var ok bool
			if secret, ok = u.User.Password(); !ok {
				secret = u.User.Username() // redis://secret@host
			}
		}
		if err != nil {
			// A secret that also occurs elsewhere in the input (as the
			// host, say) may rightly appear in the message.
			if len(secret) >= 4 && !strings.Contains("xxxxx", secret) && strings.Count(s, secret) == 1 && strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows the password %q", err, secret)
			}
			return
		}
		host, port, serr := net.SplitHostPort(up.Addr)
		if serr != nil || host == "" || port == "" {
			t.Errorf("%q: Addr %q is not host:port", s, up.Addr)
		}
		if up.DB < 0 {
			t.Errorf("%q: DB %d", s, up.DB)
		}
		shown := up.String()
		if up.Password != "" && strings.Contains(shown, ":"+url.UserPassword("", up.Password).String()[1:]+"@") {
			t.Errorf("String() %q shows the password", shown)
		}
		back, err := ParseUpstream(shown)
		if err != nil {
			t.Fatalf("String() %q does not parse: %v", shown, err)
		}
		if back.Addr != up.Addr || back.DB != up.DB || back.TLS != up.TLS || back.Username != up.Username {
			t.Errorf("%q -> %+v -> %q -> %+v", s, up, shown, back)
		}
	})
}
