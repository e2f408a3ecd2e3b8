package proxy

import "testing"

var slotSink uint16

// BenchmarkKeyHashSlot measures what every forwarded command with a key
// pays to find its shard.
func BenchmarkKeyHashSlot(b *testing.B) {
	for _, k := range []string{"a", "key:000000012345", "user:{1000}:following", "session:8f14e45fceea167a5a36dedd4bea2543"} {
		key := []byte(k)
		b.Run(k, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				slotSink = keyHashSlot(key)
			}
		})
	}
}
