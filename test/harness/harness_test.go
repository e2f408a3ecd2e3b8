package harness

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB whose Fatalf ends only the goroutine that
// called it, so that a test can check what Diff reports.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) {
	r.failed = fmt.Sprint(args...)
	runtime.Goexit()
}

// diff runs h.Diff with a recorder and returns its failure, if any.
func diff(t *testing.T, h *Harness, steps []Step) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Diff(r, steps)
	}()
	<-done
	return r.failed
}

func TestDiff(t *testing.T) {
	h := Start(t)
	if msg := diff(t, h, []Step{Cmd("SET", "a", "1"), Cmd("GET", "a"), {Batch: [][]string{{"PING"}, {"ECHO", "x"}}}}); msg != "" {
		t.Errorf("identical replies reported: %s", msg)
	}
	// INFO differs by nature (run_id, port, pid): caught, and quoted.
	msg := diff(t, h, []Step{Cmd("PING"), Cmd("INFO", "server")})
	if !strings.Contains(msg, "step 1 reply 0 differs (conn 0: [\"INFO\" \"server\"])") || !strings.Contains(msg, `direct: "$`) ||
		!strings.Contains(msg, `proxy:  "$`) {
		t.Errorf("mismatch report:\n%s", msg)
	}
	// A normalizer hides it.
	if msg := diff(t, h, []Step{{Cmd: []string{"INFO", "server"}, Norm: AnyBulk}}); msg != "" {
		t.Errorf("normalized replies reported: %s", msg)
	}
	// Connections are separate per side and per index.
	steps := []Step{Cmd("CLIENT", "SETNAME", "zero"), On(1, "CLIENT", "GETNAME"), Cmd("CLIENT", "GETNAME")}
	if msg := diff(t, h, steps); msg != "" {
		t.Errorf("per-connection state: %s", msg)
	}
	// A closed connection compares as such.
	if msg := diff(t, h, []Step{{Cmd: []string{"QUIT"}, ExpectClose: true}}); msg != "" {
		t.Errorf("QUIT: %s", msg)
	}
}

func TestNormalizers(t *testing.T) {
	tests := []struct {
		name string
		n    Normalizer
		in   string
		want string
	}{
		{"integer", AnyInteger, ":12345\r\n", ":<int>\r\n"},
		{"negative integer", AnyInteger, ":-3\r\n", ":<int>\r\n"},
		{"bulk", AnyBulk, "$3\r\nabc\r\n", "<bulk>"},
		{"not bulk", AnyBulk, "+OK\r\n", "+OK\r\n"},
		{"hello id", HelloID, "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$2\r\nid\r\n:42\r\n", "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$2\r\nid\r\n:<id>\r\n"},
		{"monitor", MonitorLine, "+1700000000.123456 [3 127.0.0.1:5000] \"GET\" \"a\"\r\n", "+<time> [3 <client>] \"GET\" \"a\"\r\n"},
		{"time", AnyTime, "*2\r\n$10\r\n1700000000\r\n$6\r\n123456\r\n", "<time>"},
		{"chain", Chain(AnyInteger, AnyBulk), ":1\r\n", ":<int>\r\n"},
	}
	for _, tt := range tests {
		if got := string(tt.n([]byte(tt.in))); got != tt.want {
			t.Errorf("%s: %q -> %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestGate(t *testing.T) {
	h := Start(t, WithGate())
	c := h.DialProxy(t)
	if got := c.MustDo(t, "PING"); string(got) != "+PONG\r\n" {
		t.Fatalf("PING through the gate = %q", got)
	}
	h.Gate.Cut()
	h.Gate.Open("")
	c2 := h.DialProxy(t)
	if got := c2.MustDo(t, "PING"); string(got) != "+PONG\r\n" {
		t.Fatalf("PING after reopening = %q", got)
	}
}
