package cmdinfo

import (
	"reflect"
	"strings"
	"testing"
)

func argv(line string) [][]byte {
	var out [][]byte
	for _, f := range strings.Fields(line) {
		if f == `""` {
			f = ""
		}
		out = append(out, []byte(f))
	}
	return out
}

func TestLookup(t *testing.T) {
	tb := Builtin()
	tests := []struct {
		line           string
		want           string // "" for nil
		knownContainer bool
	}{
		{"get k", "get", false},
		{"GET k", "get", false},
		{"gEt", "get", false},
		{"CLIENT KILL ID 1", "client|kill", false},
		{"client", "client", false},
		{"Client NoSuch", "", true},
		{"config get x", "config|get", false},
		{"NOSUCH a", "", false},
		{"", "", false},
		{strings.Repeat("X", 100), "", false},
	}
	for _, tc := range tests {
		c, kc := tb.LookupName(argv(tc.line))
		got := ""
		if c != nil {
			got = c.Name
		}
		if got != tc.want || kc != tc.knownContainer {
			t.Errorf("LookupName(%q) = %q, %v; want %q, %v", tc.line, got, kc, tc.want, tc.knownContainer)
		}
		if c2 := tb.Lookup(argv(tc.line)); c2 != c {
			t.Errorf("Lookup(%q) = %v, LookupName %v", tc.line, c2, c)
		}
	}
}

func TestKeys(t *testing.T) {
	tb := Builtin()
	tests := []struct {
		line string
		acc  Access
		keys string
	}{
		{"GET k", Keys, "k"},
		{"get k", Keys, "k"},
		{"MSET a 1 b 2", Keys, "a b"},
		{"HSET h f v", Keys, "h"},
		{"SET k v GET", Keys, "k"},
		{"PING", NoKeys, ""},
		{"CLIENT LIST", NoKeys, ""},
		{"PUBLISH ch m", NoKeys, ""},
		{"FLUSHALL", AllKeys, ""},
		{"KEYS *", AllKeys, ""},
		{"DEBUG SLEEP 0", AllKeys, ""},
		{"GET", AllKeys, ""},
		{"NOSUCH k", AllKeys, ""},
		{"CLIENT NOSUCH", AllKeys, ""},
		{"SORT k BY w_* STORE d", AllKeys, ""},
		{"SORT k BY nosort STORE d", Keys, "k d"},
		{"SORT k GET # STORE d1 STORE d2", Keys, "k d2"},
		{"SORT_RO k GET #", Keys, "k"},
		{"XREAD COUNT 1 STREAMS a b 0 0", Keys, "a b"},
		{"XREAD STREAMS a b 0", Keys, "a"}, // as Redis: the spec halves the rest
		{"XREAD STREAMS a", AllKeys, ""},
		{"XREADGROUP GROUP g c STREAMS s >", Keys, "s"},
		{`MIGRATE h 1 "" 0 10 AUTH2 u p KEYS a b`, Keys, "a b"},
		{"MIGRATE h 1 k 0 10", Keys, "k"},
		{"GEORADIUS g 0 0 1 km STORE d STOREDIST e", Keys, "g d e"}, // as Redis: both specs
		{"GEORADIUS g 0 0 1 km STORE d", Keys, "g d"},
		{"ZUNIONSTORE d 2 a b", Keys, "d a b"},
		{"ZUNIONSTORE d 3 a b", AllKeys, ""},
		{"ZUNION 0 a", AllKeys, ""},
		{"LMPOP 2 a b LEFT", Keys, "a b"},
		{"BLMPOP 0 1 a LEFT", Keys, "a"},
		{"EVAL s 0", Keys, ""},
		{"EVAL s 2 a b c", Keys, "a b"},
		{"EVAL s -1", AllKeys, ""},
		{"EVAL s 01 a", AllKeys, ""},
		{"FCALL f 1 a x", Keys, "a"},
		{"BITFIELD k GET u8 0", Keys, "k"},
		{"OBJECT ENCODING k", Keys, "k"},
		{"MEMORY USAGE k", Keys, "k"},
		{"COPY a b DB 1", Keys, "a b"},
		{"MOVE a 1", Keys, "a"},
	}
	for _, tc := range tests {
		keys, acc := tb.Keys(argv(tc.line), nil)
		var got []string
		for _, k := range keys {
			got = append(got, string(k))
		}
		if acc != tc.acc || strings.Join(got, " ") != tc.keys {
			t.Errorf("Keys(%q) = %v %q; want %v %q", tc.line, acc, got, tc.acc, tc.keys)
		}
	}
}

func TestBlocks(t *testing.T) {
	tb := Builtin()
	tests := []struct {
		line string
		want bool
	}{
		{"BLPOP a 0", true}, {"BRPOP a 1", true}, {"BLMOVE a b LEFT LEFT 0", true},
		{"BRPOPLPUSH a b 0", true}, {"BZPOPMIN a 0", true}, {"BZPOPMAX a 0", true},
		{"BLMPOP 0 1 a LEFT", true}, {"BZMPOP 0 1 a MIN", true}, {"WAIT 0 0", true},
		{"XREAD STREAMS a 0", false}, {"XREAD COUNT 1 STREAMS a 0", false},
		{"XREAD BLOCK 0 STREAMS a 0", true}, {"XREAD COUNT 1 block 10 STREAMS a 0", true},
		{"XREAD STREAMS block 0", false},
		{"XREADGROUP GROUP block c STREAMS a >", false},
		{"XREADGROUP GROUP g c BLOCK 0 STREAMS a >", true},
		{"GET k", false}, {"SUBSCRIBE a", false}, {"LPOP a", false}, {"LMPOP 1 a LEFT", false},
	}
	for _, tc := range tests {
		a := argv(tc.line)
		if got := tb.Lookup(a).Blocks(a); got != tc.want {
			t.Errorf("Blocks(%q) = %v", tc.line, got)
		}
	}
	if (*Command)(nil).Blocks(argv("BLPOP a 0")) {
		t.Error("nil command blocks")
	}
}

func TestMerge(t *testing.T) {
	base := Builtin()
	over, err := Parse([]byte("*2\r\n" +
		// GET as a module might redefine it, without key specs (pre-7.0 form).
		"*7\r\n$3\r\nGET\r\n:-2\r\n*1\r\n+readonly\r\n:1\r\n:1\r\n:1\r\n*1\r\n+@read\r\n" +
		// PUBLISH as 7.0 reports it: MAY_REPLICATE is hidden.
		"*10\r\n$7\r\npublish\r\n:3\r\n*3\r\n+pubsub\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@pubsub\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := base.Merge(over)
	if m.Len() != base.Len() {
		t.Errorf("merged %d commands, base %d", m.Len(), base.Len())
	}
	get := m.Lookup(argv("get"))
	if get.Arity != -2 || get.Flags != ReadOnly || !reflect.DeepEqual(get.KeySpecs, base.Lookup(argv("get")).KeySpecs) {
		t.Errorf("merged GET = %+v", *get)
	}
	if keys, acc := m.Keys(argv("GET k x"), nil); acc != Keys || len(keys) != 1 {
		t.Errorf("merged GET k x: %v %q", acc, keys)
	}
	if pub := m.Lookup(argv("publish")); pub.Flags&MayReplicate == 0 {
		t.Errorf("PUBLISH lost MAY_REPLICATE: %v", pub.Flags)
	}
	if c := base.Lookup(argv("get")); c.Arity != 2 {
		t.Errorf("Merge changed its receiver: GET arity %d", c.Arity)
	}
	// A module command only the upstream knows.
	mod, err := Parse([]byte("*1\r\n*10\r\n$8\r\njson.set\r\n:-4\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n" +
		"*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RW\r\n+update\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n" +
		"$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	m = base.Merge(mod)
	if keys, acc := m.Keys(argv("JSON.SET doc $ 1"), nil); acc != Keys || string(keys[0]) != "doc" {
		t.Errorf("JSON.SET doc $ 1: %v %q", acc, keys)
	}
	if c := m.Lookup(argv("json.set")); c.Flags != Write|DenyOOM {
		t.Errorf("json.set flags %v", c.Flags)
	}
	// Module commands whose keys only their getkeys callback knows, and
	// one from before key specs (legacy range only).
	mod, err = Parse([]byte("*2\r\n" +
		"*10\r\n$7\r\nmod.get\r\n:-2\r\n*2\r\n+readonly\r\n+movablekeys\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*0\r\n*0\r\n" +
		"*6\r\n$7\r\nmod.old\r\n:-2\r\n*1\r\n+write\r\n:2\r\n:-1\r\n:2\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	m = base.Merge(mod)
	if keys, acc := m.Keys(argv("MOD.GET a b"), nil); acc != AllKeys {
		t.Errorf("MOD.GET a b (movable keys): %v %q", acc, keys)
	}
	if keys, acc := m.Keys(argv("MOD.OLD x a 1 b 2"), nil); acc != Keys || len(keys) != 2 || string(keys[1]) != "b" {
		t.Errorf("MOD.OLD x a 1 b 2 (legacy range): %v %q", acc, keys)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"", "-ERR unknown command 'COMMAND'\r\n", "+OK\r\n", "*1\r\n", "*1\r\n*2\r\n$3\r\nget\r\n:2\r\n",
		"*1\r\n*6\r\n:1\r\n:2\r\n*0\r\n:1\r\n:1\r\n:1\r\n", "*1\r\n$3\r\nabc\r\n", "*1\r\n*-1\r\nextra",
		"*99999999\r\n", "$5\r\nab\r\n",
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q): no error", in)
		}
	}
	tb, err := Parse([]byte("*2\r\n*-1\r\n_\r\n"))
	if err != nil || tb.Len() != 0 {
		t.Errorf("COMMAND INFO of unknown commands: %v, %v", tb, err)
	}
}

func TestKeysDoesNotAllocate(t *testing.T) {
	tb := Builtin()
	dst := make([][]byte, 0, 8)
	for _, line := range []string{"GET k", "get k", "SET k v", "MGET a b c", "HSET h f v", "CLIENT KILL ID 1", "ZUNIONSTORE d 2 a b"} {
		a := argv(line)
		allocs := testing.AllocsPerRun(100, func() {
			c := tb.Lookup(a)
			dst, _ = c.Keys(a, dst)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations", line, allocs)
		}
	}
}

func BenchmarkKeys(b *testing.B) {
	tb := Builtin()
	for _, line := range []string{"GET k", "SET key value", "MGET a b c d", "HSET h f1 v1 f2 v2", "ZUNIONSTORE d 2 a b", "XREAD COUNT 1 STREAMS a b 0 0"} {
		a := argv(line)
		dst := make([][]byte, 0, 8)
		b.Run(strings.Fields(line)[0], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				dst, _ = tb.Keys(a, dst)
			}
		})
	}
}

// TestConcurrentUse reads a table from several goroutines while tables
// are merged from it: run under -race.
func TestConcurrentUse(t *testing.T) {
	base := Builtin()
	over, err := Parse([]byte("*1\r\n*10\r\n$6\r\nclient\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*0\r\n" +
		"*1\r\n*10\r\n$9\r\nclient|id\r\n:2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*0\r\n*0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			var dst [][]byte
			for i := 0; i < 200; i++ {
				a := argv("CLIENT KILL ID 1")
				dst, _ = base.Keys(a, dst)
				base.Lookup(a).Blocks(a)
				m := base.Merge(over)
				if m.Lookup(argv("client kill")) == nil || m.Lookup(argv("client id")) == nil {
					t.Error("merge lost a subcommand")
					return
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

func BenchmarkBuiltin(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Builtin()
	}
}
