package registry

import (
	"math/rand"
	"strconv"
	"testing"
)

// BenchmarkSnapshotLookup is the FCALL hot path: find a library's code.
func BenchmarkSnapshotLookup(b *testing.B) {
	libs := map[string]string{}
	for i := 0; i < 100; i++ {
		libs["lib"+strconv.Itoa(i)] = libCode("lib" + strconv.Itoa(i))
	}
	s := &Store{}
	s.snap.Store(&Snapshot{version: 1, libs: libs})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := s.Snapshot().Library("lib42"); !ok {
				b.Fatal("missing")
			}
		}
	})
}

func benchLibrary() string {
	return testLibrary("bench", randomFiller(rand.New(rand.NewSource(5)), 2000, 26))
}

func BenchmarkEncodeDump(b *testing.B) {
	codes := []string{benchLibrary()}
	b.ReportAllocs()
	for b.Loop() {
		EncodeDump(codes)
	}
}

func BenchmarkDecodeDump(b *testing.B) {
	payload := EncodeDump([]string{benchLibrary()})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeDump(payload); err != nil {
			b.Fatal(err)
		}
	}
}
