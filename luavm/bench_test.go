package luavm

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// fixedCaller answers every command with the same reply, so that a
// benchmark measures luavm alone.
type fixedCaller []byte

func (f fixedCaller) Call([][]byte, int) ([]byte, error) { return f, nil }

// BenchmarkEvalSHA measures the EVALSHA path of luavm alone: borrow a
// state, set KEYS and ARGV, run a cached script that calls redis.call
// once, convert the reply and return it.
func BenchmarkEvalSHA(b *testing.B) {
	vm, err := New(Config{PoolSize: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer vm.Close()
	s := NewScript([]byte("return redis.call('GET', KEYS[1])"))
	req := Request{Keys: [][]byte{[]byte("key")}, Proto: 2, Caller: fixedCaller("$5\r\nvalue\r\n")}
	ctx := context.Background()
	if got := string(vm.Run(ctx, s, req)); got != "$5\r\nvalue\r\n" {
		b.Fatalf("reply %q", got)
	}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = vm.AppendRun(buf[:0], ctx, s, req)
	}
}

// BenchmarkEvalSHAParallel is BenchmarkEvalSHA from several goroutines.
func BenchmarkEvalSHAParallel(b *testing.B) {
	vm, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer vm.Close()
	s := NewScript([]byte("return redis.call('GET', KEYS[1])"))
	req := Request{Keys: [][]byte{[]byte("key")}, Proto: 2, Caller: fixedCaller("$5\r\nvalue\r\n")}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 64)
		for pb.Next() {
			buf = vm.AppendRun(buf[:0], context.Background(), s, req)
		}
	})
}

// BenchmarkRedisEvalSHA is native Redis for comparison: EVALSHA round
// trips of the same script. Besides the round trip it reports Redis's own
// time per EVALSHA from INFO commandstats (usec_per_call, the script and
// its GET inside the server), the figure comparable with BenchmarkEvalSHA.
func BenchmarkRedisEvalSHA(b *testing.B) {
	srv := redistest.Start(b)
	c := srv.Dial(b)
	sha := string(c.MustDo(b, "SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"))
	sha = sha[len("$40\r\n") : len(sha)-2]
	c.MustDo(b, "SET", "key", "value")
	c.MustDo(b, "CONFIG", "RESETSTAT")
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := c.Do("EVALSHA", sha, "1", "key"); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stats := string(c.MustDo(b, "INFO", "commandstats"))
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "rtt-ns/op")
	if i := strings.Index(stats, "cmdstat_evalsha:"); i >= 0 {
		line := stats[i:]
		if j := strings.Index(line, "usec_per_call="); j >= 0 {
			v := line[j+len("usec_per_call="):]
			if k := strings.IndexByte(v, ','); k >= 0 {
				if us, err := strconv.ParseFloat(v[:k], 64); err == nil {
					b.ReportMetric(us*1000, "server-ns/op")
				}
			}
		}
	}
}
