package luaresp

import (
	"testing"

	"github.com/Shopify/go-lua"
)

// FuzzPush feeds arbitrary bytes to Push: it must either fail cleanly with
// the stack untouched or push exactly one value that Append can encode.
func FuzzPush(f *testing.F) {
	for _, s := range []string{
		":1\r\n", "$3\r\nabc\r\n", "*2\r\n+OK\r\n-ERR x\r\n", "%1\r\n$1\r\nk\r\n,1.5\r\n",
		"~2\r\n:1\r\n:2\r\n", "=7\r\ntxt:abc\r\n", "(123\r\n", "|1\r\n+a\r\n+b\r\n#t\r\n", "_\r\n", "*-1\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		l := lua.NewState()
		if _, err := Push(l, in); err != nil {
			if l.Top() != 0 {
				t.Fatalf("failed Push left %d values", l.Top())
			}
			return
		}
		if l.Top() != 1 {
			t.Fatalf("Push left %d values", l.Top())
		}
		for sr := 2; sr <= 3; sr++ {
			for cp := 2; cp <= 3; cp++ {
				if out := Append(nil, l, -1, sr, cp); len(out) == 0 {
					t.Fatal("empty Append output")
				}
			}
		}
	})
}
