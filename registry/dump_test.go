package registry

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// bulk returns the payload of a raw RESP2 bulk-string reply.
func bulk(t *testing.T, reply []byte) []byte {
	t.Helper()
	if len(reply) == 0 || reply[0] != '$' {
		t.Fatalf("not a bulk string: %q", reply)
	}
	i := bytes.Index(reply, []byte("\r\n"))
	n, err := strconv.Atoi(string(reply[1:i]))
	if err != nil || n < 0 {
		t.Fatalf("bad bulk header: %q", reply)
	}
	return reply[i+2 : i+2+n]
}

// testLibrary returns a valid library whose trailing long comment holds
// filler, so that the code's size and compressibility vary with it.
func testLibrary(name string, filler []byte) string {
	return fmt.Sprintf("#!lua name=%s\nredis.register_function('%s_f', function() return 1 end)\n--[==[%s]==]",
		name, name, filler)
}

// randomFiller makes n bytes drawn from an alphabet of the given size (never
// ']'), mixed with copies of earlier stretches, so that LZF sees literals,
// short and long back references and every offset range.
func randomFiller(rng *rand.Rand, n, alphabet int) []byte {
	b := make([]byte, 0, n)
	for len(b) < n {
		if len(b) > 8 && rng.Intn(4) == 0 {
			start := rng.Intn(len(b))
			l := 3 + rng.Intn(300)
			for i := 0; i < l && len(b) < n; i++ {
				b = append(b, b[start+i%(len(b)-start)])
			}
			continue
		}
		c := byte(rng.Intn(alphabet))
		if alphabet < 64 {
			c += 'a'
		}
		if c == ']' {
			c = '.'
		}
		b = append(b, c)
	}
	return b
}

func TestEncodeDumpMatchesRedis(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Dial(t)
	rng := rand.New(rand.NewSource(1))
	sizes := []int{0, 1, 5, 20, 50, 63, 64, 200, 1000, 8191, 8192, 9000, 16383, 16384, 40000, 70000}
	compressed, verbatim := 0, 0
	for i := 0; i < 160; i++ {
		var size int
		if i < len(sizes) {
			size = sizes[i]
		} else {
			size = rng.Intn(5000)
		}
		alphabet := []int{1, 2, 4, 26, 256}[i%5]
		code := testLibrary("lib"+strconv.Itoa(i), randomFiller(rng, size, alphabet))
		c.MustDo(t, "FUNCTION", "FLUSH")
		if r := c.MustDo(t, "FUNCTION", "LOAD", code); !bytes.HasPrefix(r, []byte("$")) {
			t.Fatalf("FUNCTION LOAD %d: %q", i, r)
		}
		want := bulk(t, c.MustDo(t, "FUNCTION", "DUMP"))
		got := EncodeDump([]string{code})
		if !bytes.Equal(got, want) {
			t.Fatalf("library %d (%d bytes, alphabet %d): EncodeDump differs from Redis\n got %x\nwant %x", i, len(code), alphabet, got[:min(len(got), 64)], want[:min(len(want), 64)])
		}
		if want[1] == rdbEncVal<<6|rdbEncLZF {
			compressed++
		} else {
			verbatim++
		}
		codes, err := DecodeDump(want)
		if err != nil || len(codes) != 1 || codes[0] != code {
			t.Fatalf("library %d: DecodeDump(Redis's dump) = %d codes, %v", i, len(codes), err)
		}
	}
	if compressed == 0 || verbatim == 0 {
		t.Fatalf("cases cover %d compressed and %d verbatim libraries; want both", compressed, verbatim)
	}
	t.Logf("%d compressed, %d verbatim libraries identical", compressed, verbatim)
}

func TestMultiLibraryDumpRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Dial(t)
	rng := rand.New(rand.NewSource(2))
	var codes []string
	for i := 0; i < 6; i++ {
		code := testLibrary("m"+strconv.Itoa(i), randomFiller(rng, rng.Intn(3000), 26))
		codes = append(codes, code)
		c.MustDo(t, "FUNCTION", "LOAD", code)
	}
	dump := bulk(t, c.MustDo(t, "FUNCTION", "DUMP"))
	decoded, err := DecodeDump(dump)
	if err != nil {
		t.Fatal(err)
	}
	if !sameSet(decoded, codes) {
		t.Fatalf("DecodeDump returned a different set of %d libraries", len(decoded))
	}
	// In Redis's own order, our encoding is Redis's.
	if got := EncodeDump(decoded); !bytes.Equal(got, dump) {
		t.Fatal("EncodeDump(DecodeDump(dump)) != dump")
	}

	// Our dump restores into a fresh Redis with the same libraries.
	other := redistest.Start(t).Dial(t)
	if r := other.MustDo(t, "FUNCTION", "RESTORE", string(EncodeDump(codes))); string(r) != "+OK\r\n" {
		t.Fatalf("FUNCTION RESTORE of EncodeDump: %q", r)
	}
	back, err := DecodeDump(bulk(t, other.MustDo(t, "FUNCTION", "DUMP")))
	if err != nil || !sameSet(back, codes) {
		t.Fatalf("libraries after RESTORE differ (%v)", err)
	}
	list := string(other.MustDo(t, "FUNCTION", "LIST", "WITHCODE"))
	for _, code := range codes {
		if !strings.Contains(list, code) {
			t.Fatalf("FUNCTION LIST WITHCODE lacks a restored library")
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// withFooter appends an RDB version and a correct checksum to body.
func withFooter(body []byte, version uint16) []byte {
	b := binary.LittleEndian.AppendUint16(slices.Clone(body), version)
	return binary.LittleEndian.AppendUint64(b, crc64Jones(b))
}

func TestCRC64Jones(t *testing.T) {
	if got := crc64Jones([]byte("123456789")); got != 0xe9c6d914c4b8d9ca {
		t.Fatalf("crc64Jones(123456789) = %x", got)
	}
}

func TestAppendRDBString(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
	}{
		{"", []byte{0}},
		{"0", []byte{0xc0, 0}},
		{"-1", []byte{0xc0, 0xff}},
		{"127", []byte{0xc0, 127}},
		{"128", []byte{0xc1, 128, 0}},
		{"-32768", []byte{0xc1, 0, 0x80}},
		{"32768", []byte{0xc2, 0, 0x80, 0, 0}},
		{"2147483647", []byte{0xc2, 0xff, 0xff, 0xff, 0x7f}},
		{"2147483648", append([]byte{10}, "2147483648"...)},
		{"01", []byte{2, '0', '1'}},
		{"+1", []byte{2, '+', '1'}},
		{"-0", []byte{2, '-', '0'}},
		{"abc", []byte{3, 'a', 'b', 'c'}},
	}
	for _, tt := range tests {
		if got := appendRDBString(nil, []byte(tt.in), nil); !bytes.Equal(got, tt.want) {
			t.Errorf("appendRDBString(%q) = %x, want %x", tt.in, got, tt.want)
		}
	}
	for _, n := range []uint64{0, 63, 64, 16383, 16384, 1<<32 - 1, 1 << 32} {
		r := rdbReader{buf: appendRDBLen(nil, n)}
		got, enc, ok := r.length()
		if !ok || enc || got != n || r.remaining() != 0 {
			t.Errorf("length %d round trip: %d %v %v", n, got, enc, ok)
		}
	}
}

// TestDecodeDumpErrorsMatchRedis sends malformed payloads to Redis and checks
// that DecodeDump refuses exactly those Redis refuses before compiling, with
// the same text.
func TestDecodeDumpErrorsMatchRedis(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Dial(t)
	lib := testLibrary("e", []byte(strings.Repeat("xyz", 30)))
	good := EncodeDump([]string{lib})
	body := good[:len(good)-dumpFooterLen]
	payloads := map[string][]byte{
		"empty":            {},
		"short":            []byte("123456789"),
		"bad crc":          append(slices.Clone(good[:len(good)-1]), good[len(good)-1]^1),
		"version 11":       withFooter(body, 11),
		"version 9":        withFooter(body, 9),
		"footer only":      withFooter(nil, 10),
		"not a function":   withFooter([]byte{0}, 10),
		"truncated string": withFooter(body[:len(body)-3], 10),
		"bad lzf":          withFooter(append([]byte{245, 0xc3, 2, 10}, 0x40, 0), 10),
		"bad encoding":     withFooter([]byte{245, 0xc5}, 10),
		"old format":       withFooter(append([]byte{246, 1, 'o', 3, 'l', 'u', 'a', 1, 1, 'd'}, appendRDBString(nil, []byte("redis.register_function('o', function() return 1 end)"), nil)...), 10),
		"old truncated":    withFooter([]byte{246, 1, 'o'}, 10),
		"int payload":      withFooter([]byte{245, 0xc0, 5}, 10),
	}
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < 300; i++ {
		b := slices.Clone(body)
		for j := 0; j < 1+rng.Intn(3); j++ {
			switch rng.Intn(3) {
			case 0:
				b[rng.Intn(len(b))] = byte(rng.Intn(256))
			case 1:
				b = b[:rng.Intn(len(b))]
			case 2:
				b = append(b, byte(rng.Intn(256)))
			}
			if len(b) == 0 {
				break
			}
		}
		payloads[fmt.Sprintf("mutation %d", i)] = withFooter(b, 10)
	}
	for name, p := range payloads {
		c.MustDo(t, "FUNCTION", "FLUSH")
		reply := string(c.MustDo(t, "FUNCTION", "RESTORE", string(p)))
		codes, err := DecodeDump(p)
		if err != nil {
			want := "-ERR " + err.Error() + "\r\n"
			if reply != want && (len(codes) == 0 || isDumpErrorReply(reply)) {
				t.Errorf("%s: DecodeDump error %q after %d codes, Redis replied %q", name, err, len(codes), reply)
			}
			continue
		}
		if isDumpErrorReply(reply) {
			t.Errorf("%s: DecodeDump accepted %d codes, Redis replied %q", name, len(codes), reply)
		}
		if reply == "+OK\r\n" {
			back, err := DecodeDump(bulk(t, c.MustDo(t, "FUNCTION", "DUMP")))
			if err != nil || !sameSet(back, codes) {
				t.Errorf("%s: Redis restored other libraries than DecodeDump returned", name)
			}
		}
	}
}

// isDumpErrorReply reports whether reply is one of the payload errors that
// DecodeDump is responsible for (as opposed to a compile error).
func isDumpErrorReply(reply string) bool {
	for _, m := range []string{msgDumpChecksum, msgDumpReadType, msgDumpNotFunction, "Failed loading"} {
		if strings.Contains(reply, m) {
			return true
		}
	}
	return false
}

// TestAppendRDBStringMatchesDUMP compares the string encoding (integer
// forms, LZF, lengths) with Redis's DUMP of string keys, which writes
// strings the same way FUNCTION DUMP writes library code. This reaches short
// and odd inputs that no valid library has.
func TestAppendRDBStringMatchesDUMP(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Dial(t)
	rng := rand.New(rand.NewSource(4))
	values := []string{"", "0", "-1", "127", "-128", "128", "32767", "-32769", "2147483647", "-2147483648",
		"2147483648", "99999999999", "123456789012", "007", "+5", " 1", "1 ",
		strings.Repeat("a", 21), strings.Repeat("ab", 11), "abcdefghijabcdefghijab", strings.Repeat("x", 25)}
	for i := 0; i < 400; i++ {
		n := rng.Intn(120)
		if i%10 == 0 {
			n = rng.Intn(20000)
		}
		values = append(values, string(randomFiller(rng, n, []int{1, 2, 3, 8, 256}[i%5])))
	}
	for i, v := range values {
		c.MustDo(t, "SET", "k", v)
		dump := bulk(t, c.MustDo(t, "DUMP", "k"))
		want := dump[1 : len(dump)-dumpFooterLen]
		if got := appendRDBString(nil, []byte(v), nil); !bytes.Equal(got, want) {
			t.Fatalf("value %d (%d bytes): appendRDBString = %x, DUMP has %x", i, len(v), got[:min(len(got), 40)], want[:min(len(want), 40)])
		}
		r := rdbReader{buf: want}
		back, ok := r.string()
		if !ok || string(back) != v || r.remaining() != 0 {
			t.Fatalf("value %d: reading Redis's encoding back failed", i)
		}
	}
}
