package registry

import (
	"bytes"
	"testing"
)

// FuzzDecodeDump checks that no payload makes DecodeDump panic or allocate
// beyond a small multiple of its size, and that what it accepts encodes
// back to a payload that decodes the same. Most inputs get a valid footer,
// or the checksum would stop nearly all of them at the door.
func FuzzDecodeDump(f *testing.F) {
	bodies := [][]byte{
		EncodeDump([]string{testLibrary("a", []byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))}),
		EncodeDump([]string{"#!lua name=b\nreturn 1", "12", ""}),
		{246, 1, 'o', 3, 'l', 'u', 'a', 1, 1, 'd', 0xc0, 7},
		{245, 0xc3, 0x81, 0, 0, 0, 0, 0, 0, 0, 1, 0x80, 0xff, 0xff, 0xff, 0xff},
		{245, 0xc3, 2, 0x41, 0x00, 0x20, 0},
		{245, 0xc1, 0x01},
		{},
	}
	for _, b := range bodies {
		f.Add(b, false) // b is a body: the fuzz function adds a valid footer
		f.Add(b, true)  // b is the whole payload
	}
	f.Fuzz(func(t *testing.T, payload []byte, whole bool) {
		if !whole {
			payload = withFooter(payload, rdbVersion)
		}
		codes, err := DecodeDump(payload)
		if err != nil {
			if _, ok := err.(*DumpError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		total := 0
		for _, c := range codes {
			total += len(c)
		}
		if total > 100*len(payload) {
			t.Fatalf("%d bytes of code from a %d-byte payload", total, len(payload))
		}
		again, err := DecodeDump(EncodeDump(codes))
		if err != nil || len(again) != len(codes) {
			t.Fatalf("re-encoded payload: %d codes, %v", len(again), err)
		}
		for i := range codes {
			if again[i] != codes[i] {
				t.Fatalf("code %d differs after re-encoding", i)
			}
		}
	})
}

// FuzzLZFDecompress checks that corrupt input never panics and that
// declared lengths are checked before allocating.
func FuzzLZFDecompress(f *testing.F) {
	f.Add(lzfCompress(bytes.Repeat([]byte("abc"), 100), 296, nil), 300)
	f.Add([]byte{0x00, 'a'}, 1)
	f.Add([]byte{0xe0, 0xff, 0x00}, 1<<30)
	f.Add([]byte{0x20, 0x00}, 3)
	f.Fuzz(func(t *testing.T, in []byte, n int) {
		out, err := lzfDecompress(in, n)
		if err == nil && len(out) != n {
			t.Fatalf("decompressed %d bytes, declared %d", len(out), n)
		}
		if err == nil && n > 88*len(in) {
			t.Fatalf("%d bytes from %d", n, len(in))
		}
	})
}

// FuzzLZFRoundTrip checks that whatever lzfCompress produces decompresses
// to its input, and that it respects the output bound.
func FuzzLZFRoundTrip(f *testing.F) {
	f.Add([]byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))
	f.Add(bytes.Repeat([]byte("0123456789abcdef"), 600))
	f.Add([]byte("#!lua name=x\nredis.register_function('x', function() return 1 end)"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) <= 4 {
			return
		}
		c := lzfCompress(in, len(in)-4, nil)
		if c == nil {
			return
		}
		if len(c) > len(in)-4 {
			t.Fatalf("compressed %d bytes into %d, bound %d", len(in), len(c), len(in)-4)
		}
		out, err := lzfDecompress(c, len(in))
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}
