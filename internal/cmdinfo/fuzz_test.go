package cmdinfo

import (
	"bytes"
	"testing"
)

// FuzzParse feeds Parse arbitrary replies and runs every command it
// accepts through Lookup, Keys and Blocks: an upstream's key specs are
// data, and no spec may make Keys panic or loop.
func FuzzParse(f *testing.F) {
	f.Add([]byte("*0\r\n"))
	f.Add([]byte("*2\r\n*-1\r\n_\r\n"))
	f.Add([]byte("*1\r\n*7\r\n$3\r\nGET\r\n:-2\r\n*1\r\n+readonly\r\n:1\r\n:1\r\n:1\r\n*1\r\n+@read\r\n"))
	f.Add([]byte("*1\r\n*10\r\n$8\r\njson.set\r\n:-4\r\n*2\r\n+write\r\n+movablekeys\r\n:1\r\n:-1\r\n:2\r\n*0\r\n*0\r\n" +
		"*2\r\n*6\r\n$5\r\nflags\r\n*1\r\n+RW\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$7\r\nkeyword\r\n$4\r\nspec\r\n*4\r\n$7\r\nkeyword\r\n$4\r\nKEYS\r\n$9\r\nstartfrom\r\n:-2\r\n" +
		"$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$6\r\nkeynum\r\n$4\r\nspec\r\n*6\r\n$9\r\nkeynumidx\r\n:0\r\n$8\r\nfirstkey\r\n:1\r\n$7\r\nkeystep\r\n:2\r\n" +
		"*6\r\n$5\r\nflags\r\n*1\r\n+incomplete\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n" +
		"$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:2\r\n" +
		"*1\r\n*10\r\n$12\r\njson.set|sub\r\n:2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*0\r\n*0\r\n"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		tb, err := Parse(reply)
		if err != nil {
			return
		}
		args := [][]byte{nil, []byte("a"), []byte("1"), []byte("KEYS"), []byte("2"), []byte("b"), []byte("STREAMS"), []byte("-1"), []byte("c")}
		var dst [][]byte
		for _, c := range tb.Commands() {
			for n := 1; n <= len(args); n++ {
				argv := append([][]byte{[]byte(c.Name)}, args[1:n]...)
				dst, _ = tb.Keys(argv, dst)
				for _, k := range dst {
					if !inArgv(argv, k) {
						t.Fatalf("%s: key %q is not one of the arguments", c.Name, k)
					}
				}
				tb.Lookup(argv).Blocks(argv)
			}
		}
	})
}

// FuzzKeys runs arbitrary invocations (arguments separated by spaces)
// through Builtin's Keys, Lookup and Blocks.
func FuzzKeys(f *testing.F) {
	for _, line := range keysCorpus {
		f.Add([]byte(line))
	}
	tb := Builtin()
	f.Fuzz(func(t *testing.T, line []byte) {
		argv := bytes.Split(line, []byte(" "))
		keys, acc := tb.Keys(argv, nil)
		if acc != Keys && len(keys) > 0 {
			t.Fatalf("%q: %v with keys %q", line, acc, keys)
		}
		for _, k := range keys {
			if !inArgv(argv, k) {
				t.Fatalf("%q: key %q is not one of the arguments", line, k)
			}
		}
		c, _ := tb.LookupName(argv)
		c.Blocks(argv)
	})
}

// inArgv reports whether k is one of argv's elements (the same memory).
func inArgv(argv [][]byte, k []byte) bool {
	for _, a := range argv {
		if len(a) == len(k) && (len(a) == 0 || &a[0] == &k[0]) {
			return true
		}
	}
	return false
}
