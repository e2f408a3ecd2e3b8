package luaresp

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/Shopify/go-lua"
)

// run executes a Lua chunk on a bare go-lua state and leaves its single
// result on the stack.
func run(t testing.TB, l *lua.State, src string) {
	t.Helper()
	if err := lua.LoadString(l, src); err != nil {
		t.Fatalf("load %q: %v", src, err)
	}
	if err := l.ProtectedCall(0, 1, 0); err != nil {
		t.Fatalf("run %q: %v", src, err)
	}
}

func TestAppend(t *testing.T) {
	// want is indexed by [scriptResp==3][clientProto==3]; an empty entry
	// means "same as want[0][0]".
	tests := []struct {
		src  string
		want [2][2]string
	}{
		{"return 'abc'", [2][2]string{{"$3\r\nabc\r\n"}}},
		{"return 'a\\0b'", [2][2]string{{"$3\r\na\x00b\r\n"}}},
		{"return 3.99", [2][2]string{{":3\r\n"}}},
		{"return -3.99", [2][2]string{{":-3\r\n"}}},
		{"return 2^63", [2][2]string{{":-9223372036854775808\r\n"}}},
		{"return 2^62", [2][2]string{{":4611686018427387904\r\n"}}},
		{"return 1/0", [2][2]string{{":-9223372036854775808\r\n"}}},
		{"return nil", [2][2]string{{"$-1\r\n", "_\r\n"}, {"$-1\r\n", "_\r\n"}}},
		{"return true", [2][2]string{{":1\r\n", ":1\r\n"}, {":1\r\n", "#t\r\n"}}},
		{"return false", [2][2]string{{"$-1\r\n", "_\r\n"}, {":0\r\n", "#f\r\n"}}},
		{"return {1, 2, nil, 4}", [2][2]string{{"*2\r\n:1\r\n:2\r\n"}}},
		{"return {}", [2][2]string{{"*0\r\n"}}},
		{"return {ok='a\\r\\nb\\0c'}", [2][2]string{{"+a  b\r\n"}}},
		{"return {err='a\\r\\nb\\nc\\r\\n'}", [2][2]string{{"-a  b c\r\n"}}},
		{"return {err='\\r\\nx'}", [2][2]string{{"-  x\r\n"}}},
		{"return {err='a\\0b'}", [2][2]string{{"-a\r\n"}}},
		{"return {err='', ok='x'}", [2][2]string{{"-\r\n"}}},
		{"return {err=3, ok='x'}", [2][2]string{{"+x\r\n"}}},
		{"return {err=3, 7}", [2][2]string{{"*1\r\n:7\r\n"}}},
		{"return {1, {err='E x'}, {ok='OK'}}", [2][2]string{{"*3\r\n:1\r\n-E x\r\n+OK\r\n"}}},
		{"return {double=0.1}", [2][2]string{{"$19\r\n0.10000000000000001\r\n", ",0.10000000000000001\r\n"}, {"$19\r\n0.10000000000000001\r\n", ",0.10000000000000001\r\n"}}},
		{"return {double=1/0}", [2][2]string{{"$3\r\ninf\r\n", ",inf\r\n"}, {"$3\r\ninf\r\n", ",inf\r\n"}}},
		{"return {double=-1/0}", [2][2]string{{"$4\r\n-inf\r\n", ",-inf\r\n"}, {"$4\r\n-inf\r\n", ",-inf\r\n"}}},
		{"return {double=3}", [2][2]string{{"$1\r\n3\r\n", ",3\r\n"}, {"$1\r\n3\r\n", ",3\r\n"}}},
		{"return {double=1e21}", [2][2]string{{"$5\r\n1e+21\r\n", ",1e+21\r\n"}, {"$5\r\n1e+21\r\n", ",1e+21\r\n"}}},
		{"return {double='1.5'}", [2][2]string{{"*0\r\n"}}},
		{"return {big_number='12\\r\\n3\\0x'}", [2][2]string{{"$7\r\n12  3\x00x\r\n", "(12  3\x00x\r\n"}, {"$7\r\n12  3\x00x\r\n", "(12  3\x00x\r\n"}}},
		{"return {verbatim_string={format='mdxx', string='a\\0b'}}", [2][2]string{{"$3\r\na\x00b\r\n", "=7\r\nmdx:a\x00b\r\n"}, {"$3\r\na\x00b\r\n", "=7\r\nmdx:a\x00b\r\n"}}},
		{"return {verbatim_string={format='m\\0d', string='ab'}}", [2][2]string{{"$2\r\nab\r\n", "=6\r\nm  :ab\r\n"}, {"$2\r\nab\r\n", "=6\r\nm  :ab\r\n"}}},
		{"return {verbatim_string={format='txt'}}", [2][2]string{{"*0\r\n"}}},
		{"return {map={a=1}}", [2][2]string{{"*2\r\n$1\r\na\r\n:1\r\n", "%1\r\n$1\r\na\r\n:1\r\n"}, {"*2\r\n$1\r\na\r\n:1\r\n", "%1\r\n$1\r\na\r\n:1\r\n"}}},
		{"return {set={x=true}}", [2][2]string{{"*1\r\n$1\r\nx\r\n", "~1\r\n$1\r\nx\r\n"}, {"*1\r\n$1\r\nx\r\n", "~1\r\n$1\r\nx\r\n"}}},
		{"return {map={[1]=false}}", [2][2]string{{"*2\r\n:1\r\n$-1\r\n", "%1\r\n:1\r\n_\r\n"}, {"*2\r\n:1\r\n:0\r\n", "%1\r\n:1\r\n#f\r\n"}}},
		{"return print", [2][2]string{{"$-1\r\n", "_\r\n"}, {"$-1\r\n", "_\r\n"}}},
		{"return {{{}}}", [2][2]string{{"*1\r\n*1\r\n*0\r\n"}}},
	}
	for _, tt := range tests {
		for sr := 0; sr < 2; sr++ {
			for cp := 0; cp < 2; cp++ {
				want := tt.want[sr][cp]
				if want == "" {
					want = tt.want[0][0]
				}
				l := lua.NewState()
				run(t, l, tt.src)
				top := l.Top()
				got := string(Append([]byte("x"), l, -1, sr+2, cp+2))
				if got != "x"+want {
					t.Errorf("%s setresp(%d) client RESP%d: got %q, want %q", tt.src, sr+2, cp+2, got[1:], want)
				}
				if l.Top() != top {
					t.Errorf("%s: stack top %d, want %d", tt.src, l.Top(), top)
				}
			}
		}
	}
}

func TestAppendStackLimit(t *testing.T) {
	// Depths measured on redis-server 7.0.15 (see the differential test).
	tests := []struct {
		src    string
		levels int // aggregates emitted before the error
		hdr    string
		tail   string // what precedes the error at the last level
	}{
		{"local t = {} for i=1,10000 do t = {t} end return t", 7995, "*1\r\n", ""},
		// At the last level both the key and the value fail.
		{"local t = {} for i=1,10000 do t = {map={a=t}} end return t", 2664, "*2\r\n$1\r\na\r\n", "*2\r\n-ERR reached lua stack limit\r\n"},
		{"local t = {} for i=1,10000 do t = {set={[t]=true}} end return t", 2665, "*1\r\n", ""},
	}
	for _, tt := range tests {
		l := lua.NewState()
		run(t, l, tt.src)
		got := string(Append(nil, l, -1, 2, 2))
		want := strings.Repeat(tt.hdr, tt.levels) + tt.tail + "-ERR reached lua stack limit\r\n"
		if got != want {
			t.Errorf("%s: got %d bytes ending %q, want %d bytes", tt.src, len(got), got[max(0, len(got)-60):], len(want))
		}
	}
}

func TestPush(t *testing.T) {
	// Each reply is pushed, then described by a small Lua dumper.
	tests := []struct {
		reply string
		isErr bool
		want  string
	}{
		{":42\r\n", false, "42"},
		{":-7\r\n", false, "-7"},
		{"$3\r\na\x00b\r\n", false, "s'a\x00b'"},
		{"$0\r\n\r\n", false, "s''"},
		{"$-1\r\n", false, "false"},
		{"*-1\r\n", false, "false"},
		{"+OK\r\n", false, "{ok=s'OK'}"},
		{"-ERR wrong\r\n", true, "{err=s'ERR wrong',ignore_error_stats_update=true}"},
		{"-WRONGTYPE Operation against\r\n", true, "{err=s'WRONGTYPE Operation against',ignore_error_stats_update=true}"},
		{"-NOSCRIPT\r\n", true, "{err=s'ERR NOSCRIPT',ignore_error_stats_update=true}"},
		{"*3\r\n:1\r\n$1\r\nx\r\n*0\r\n", false, "{[1]=1,[2]=s'x',[3]={}}"},
		{"*2\r\n-ERR in array\r\n:1\r\n", false, "{[1]={err=s'ERR in array',ignore_error_stats_update=true},[2]=1}"},
		{"*3\r\n:1\r\n_\r\n:3\r\n", false, "{[1]=1,[3]=3}"},
		{"_\r\n", false, "nil"},
		{"#t\r\n", false, "true"},
		{"#f\r\n", false, "false"},
		{",1.5\r\n", false, "{double=1.5}"},
		{",inf\r\n", false, "{double=+Inf}"},
		{",-inf\r\n", false, "{double=-Inf}"},
		{"(12345678901234567890\r\n", false, "{big_number=s'12345678901234567890'}"},
		{"=7\r\ntxt:abc\r\n", false, "{verbatim_string={format=s'txt',string=s'abc'}}"},
		{"%1\r\n$1\r\nk\r\n:1\r\n", false, "{map={k=1}}"},
		{"~1\r\n$1\r\nm\r\n", false, "{set={m=true}}"},
		{"|1\r\n+key\r\n+val\r\n:5\r\n", false, "5"},
	}
	for _, tt := range tests {
		l := lua.NewState()
		isErr, err := Push(l, []byte(tt.reply))
		if err != nil {
			t.Errorf("Push(%q): %v", tt.reply, err)
			continue
		}
		if isErr != tt.isErr {
			t.Errorf("Push(%q): isErr %v, want %v", tt.reply, isErr, tt.isErr)
		}
		if l.Top() != 1 {
			t.Errorf("Push(%q): %d values pushed", tt.reply, l.Top())
			continue
		}
		if got := dump(l, 1); got != tt.want {
			t.Errorf("Push(%q) = %s, want %s", tt.reply, got, tt.want)
		}
	}
}

func TestPushMalformed(t *testing.T) {
	for _, in := range []string{"", "x", ":\r\n", ":12", "$5\r\nab\r\n", "*2\r\n:1\r\n", ":1\r\n:2\r\n", "=2\r\nab\r\n", "%1\r\n_\r\n:1\r\n", ">1\r\n:1\r\n", "$-2\r\n"} {
		l := lua.NewState()
		_, err := Push(l, []byte(in))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Push(%q): err %v, want ErrMalformed", in, err)
		}
		if l.Top() != 0 {
			t.Errorf("Push(%q) left %d values", in, l.Top())
		}
	}
}

// dump describes a Lua value with sorted table keys, for comparisons.
func dump(l *lua.State, idx int) string {
	idx = l.AbsIndex(idx)
	switch l.TypeOf(idx) {
	case lua.TypeNil:
		return "nil"
	case lua.TypeBoolean:
		return strconv.FormatBool(l.ToBoolean(idx))
	case lua.TypeNumber:
		f, _ := l.ToNumber(idx)
		return strconv.FormatFloat(f, 'g', -1, 64)
	case lua.TypeString:
		s, _ := l.ToString(idx)
		return "s'" + s + "'"
	case lua.TypeTable:
		var parts []string
		l.PushNil()
		for l.Next(idx) {
			var k string
			if l.TypeOf(-2) == lua.TypeString {
				k, _ = l.ToString(-2)
			} else {
				k = "[" + dump(l, -2) + "]"
			}
			parts = append(parts, k+"="+dump(l, -1))
			l.Pop(1)
		}
		sortStrings(parts)
		return "{" + strings.Join(parts, ",") + "}"
	}
	return l.TypeOf(idx).String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
