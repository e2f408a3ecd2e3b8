package luaresp

import (
	"strconv"
	"testing"

	"github.com/Shopify/go-lua"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// conns returns a RESP2 and a RESP3 connection to one scripting-enabled
// redis-server.
func conns(t *testing.T) (*redistest.Server, [2]*redistest.Conn) {
	t.Helper()
	srv := redistest.Start(t)
	c2, c3 := srv.Dial(t), srv.Dial(t)
	if r := c3.MustDo(t, "HELLO", "3"); len(r) == 0 || r[0] != '%' {
		t.Fatalf("HELLO 3: %q", r)
	}
	return srv, [2]*redistest.Conn{c2, c3}
}

// TestAppendMatchesRedis returns the same value from a script on Redis and
// from go-lua through Append, for both script protocols and both client
// protocols.
func TestAppendMatchesRedis(t *testing.T) {
	_, cs := conns(t)
	scripts := []string{
		"return 'abc'", "return ''", "return 'a\\0b\\r\\n'",
		"return 0", "return 1", "return -1", "return 3.99", "return -3.99", "return -0.5",
		"return 2^53", "return 2^63", "return -2^63", "return 1e30", "return 1/0", "return -1/0",
		"return nil", "return true", "return false",
		"return {}", "return {1, 2, 3}", "return {1, nil, 3}", "return {nil, 2}",
		"return {true, false, true}", "return {'a', {'b', {'c'}}, 'd'}",
		"return {ok='OK'}", "return {ok=''}", "return {ok='a\\r\\nb'}", "return {ok='a\\0b'}", "return {ok=5}",
		"return {err='ERR x'}", "return {err='x'}", "return {err=''}", "return {err='a\\nb\\r\\n'}",
		"return {err='\\n\\nx\\n'}", "return {err='a\\0b'}", "return {err='-ERR x'}",
		"return {err='E', ok='O'}", "return {ok='O', 1, 2}", "return {err='E', 1, 2}", "return {1, 2, err=3}",
		"return {1, {err='inner'}, {ok='fine'}, 4}",
		"return {double=1.5}", "return {double=0.1}", "return {double=-0.0}", "return {double=1e300}",
		"return {double=1/0}", "return {double=-1/0}", "return {double=3}", "return {double=1e-7}",
		"return {double=123456789012345678}", "return {double='1'}", "return {double=1.5, ok='x'}",
		"return {big_number='123'}", "return {big_number='1\\r\\n2'}", "return {big_number=123}",
		"return {verbatim_string={format='txt', string='hello'}}",
		"return {verbatim_string={format='markdown', string='x'}}",
		"return {verbatim_string={format='', string='x'}}",
		"return {verbatim_string={format='t', string=''}}",
		"return {verbatim_string={string='x'}}", "return {verbatim_string='x'}",
		"return {map={}}", "return {map={a=1}}", "return {map={[1]={2, 3}}}", "return {map={x={ok='y'}}}",
		"return {map={k=true}}", "return {map={k=false}}", "return {map={k={double=2.5}}}",
		"return {set={}}", "return {set={a=true}}", "return {set={[5]=true}}", "return {set={x=false}}",
		"return {map='x', 1}", "return {set=1, 2}",
		"return {{map={a={set={b=true}}}}}",
		"local t = {} for i=1,10000 do t = {t} end return t",
		"local t = {} for i=1,10000 do t = {map={a=t}} end return t",
		"local t = {} for i=1,10000 do t = {set={[t]=true}} end return t",
		"local t = {} for i=1,9000 do t = {t} end return {1, t, {ok='x'}}",
		"return tostring", "return {1, tostring, 2}", "return {map={a=tostring}}",
	}
	for _, body := range scripts {
		for sr := 2; sr <= 3; sr++ {
			src := body
			if sr == 3 {
				src = "redis.setresp(3) " + body
			}
			for cp := 2; cp <= 3; cp++ {
				want := cs[cp-2].MustDo(t, "EVAL", src, "0")
				l := lua.NewState()
				lua.OpenLibraries(l)
				run(t, l, body)
				got := Append(nil, l, -1, sr, cp)
				if string(got) != string(want) {
					t.Errorf("%s (setresp %d, client RESP%d):\n got %s\nwant %s", body, sr, cp, clip(got), clip(want))
				}
			}
		}
	}
}

// TestRoundTripMatchesRedis pushes what Redis replies to a command and
// appends it back, which must give what Redis sends for
// `return redis.pcall(command)`.
func TestRoundTripMatchesRedis(t *testing.T) {
	_, cs := conns(t)
	setup := [][]string{
		{"SET", "s", "hello"}, {"SET", "n", "10"}, {"RPUSH", "l", "a", "b", "c"},
		{"HSET", "h", "f", "v"}, {"SADD", "set", "m"}, {"ZADD", "z", "1.5", "a", "2", "b", "-inf", "c"},
		{"SET", "bin", "a\x00b\r\n"},
	}
	for _, cmd := range setup {
		cs[0].MustDo(t, cmd...)
	}
	commands := [][]string{
		{"GET", "s"}, {"GET", "missing"}, {"GET", "bin"}, {"INCR", "n"}, {"SET", "k", "v"},
		{"SET", "k", "v", "NX"}, {"LRANGE", "l", "0", "-1"}, {"LRANGE", "missing", "0", "-1"},
		{"HGETALL", "h"}, {"HGET", "h", "f"}, {"HMGET", "h", "f", "nope"}, {"SMEMBERS", "set"},
		{"ZSCORE", "z", "a"}, {"ZSCORE", "z", "c"}, {"ZSCORE", "z", "nope"},
		{"ZRANGE", "z", "0", "-1", "WITHSCORES"}, {"ZINCRBY", "z", "0.1", "b"},
		{"ZPOPMIN", "missing"}, {"LPOS", "l", "x"},
		{"INCR", "s"}, {"LPUSH", "s", "x"}, {"TYPE", "s"}, {"PING"}, {"ECHO", "x\r\ny"},
		{"SMISMEMBER", "set", "m", "x"}, {"EXISTS", "s", "l"}, {"OBJECT", "ENCODING", "l"},
		{"XADD", "st", "1-1", "f", "v"}, {"XRANGE", "st", "-", "+"}, {"XREAD", "STREAMS", "st", "0"},
		{"HRANDFIELD", "h", "1", "WITHVALUES"}, {"LMPOP", "1", "l", "LEFT"},
	}
	for _, cmd := range commands {
		for sr := 2; sr <= 3; sr++ {
			src := "return redis.pcall(unpack(ARGV))"
			if sr == 3 {
				src = "redis.setresp(3) " + src
			}
			for cp := 2; cp <= 3; cp++ {
				// Run the command first, then the script, so that both see the
				// same data (INCR and friends change it).
				reply := cs[sr-2].MustDo(t, cmd...)
				want := cs[cp-2].MustDo(t, append([]string{"EVAL", src, "0"}, cmd...)...)
				l := lua.NewState()
				isErr, err := Push(l, reply)
				if err != nil {
					t.Fatalf("Push(%q): %v", reply, err)
				}
				if isErr != (reply[0] == '-') {
					t.Errorf("%v: isErr %v for %q", cmd, isErr, reply)
				}
				got := Append(nil, l, -1, sr, cp)
				if string(got) != string(want) && !sameAfterMutation(cmd) {
					t.Errorf("%v (setresp %d, client RESP%d): reply %s\n got %s\nwant %s", cmd, sr, cp, clip(reply), clip(got), clip(want))
				}
			}
		}
	}
}

// sameAfterMutation lists commands whose second run differs from the first
// by design (counters).
func sameAfterMutation(cmd []string) bool {
	switch cmd[0] {
	case "INCR", "ZINCRBY", "SET", "LMPOP", "XADD":
		return true
	}
	return false
}

func clip(b []byte) string {
	if len(b) > 300 {
		return strconv.Quote(string(b[:150])) + "..." + strconv.Quote(string(b[len(b)-150:]))
	}
	return strconv.Quote(string(b))
}
