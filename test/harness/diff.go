package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// Step is one action of a scenario, run on one of the scenario's
// connections: send a command, a pipelined batch or raw bytes, then read
// replies; or just read (pushed messages); or wait until a command blocks.
type Step struct {
	// Conn picks the connection (0, 1, ...); each is dialled on first use.
	Conn int
	// Cmd is one command, sent as a RESP array.
	Cmd []string
	// Batch is several commands written in one flush (a pipeline).
	Batch [][]string
	// Raw is written as is: inline commands, malformed protocol.
	Raw string
	// Chunk, if positive, writes Raw in writes of at most Chunk bytes, so
	// that requests arrive split at every possible point.
	Chunk int
	// Read overrides how many replies to read: by default one per
	// command (Cmd and Raw count as one, Batch as its length), and a step
	// without anything to send must set Read.
	Read int
	// NoReply sends without reading; a later step reads (BLPOP, then an
	// LPUSH on another connection, then Read: 1 here).
	NoReply bool
	// ExpectClose reads once more after the replies and records whether
	// the server closed the connection.
	ExpectClose bool
	// Hangup closes the connection after sending, leaving replies
	// unread.
	Hangup bool
	// WaitBlocked waits until the Redis that serves this side (the
	// direct server, or luaproxy's upstream) has at least this many
	// clients blocked in a blocking command.
	WaitBlocked int
	// Norm rewrites every reply of the step on both sides before they are
	// compared, for values that legitimately differ (client ids, times).
	Norm Normalizer
	// Timeout bounds each read; 10 s if zero.
	Timeout time.Duration
	// Note is printed with a mismatch.
	Note string
}

// Cmd is a step that sends one command on connection 0.
func Cmd(args ...string) Step { return Step{Cmd: args} }

// On is a step that sends one command on connection conn.
func On(conn int, args ...string) Step { return Step{Conn: conn, Cmd: args} }

// Normalizer rewrites a raw reply before comparison.
type Normalizer func([]byte) []byte

// Replace returns a Normalizer that replaces every match of the regular
// expression pattern with repl (regexp.ReplaceAll syntax).
func Replace(pattern, repl string) Normalizer {
	re := regexp.MustCompile(pattern)
	return func(b []byte) []byte { return re.ReplaceAll(b, []byte(repl)) }
}

// Chain applies normalizers in order.
func Chain(ns ...Normalizer) Normalizer {
	return func(b []byte) []byte {
		for _, n := range ns {
			b = n(b)
		}
		return b
	}
}

// AnyInteger hides the value of integer replies (CLIENT ID).
func AnyInteger(b []byte) []byte { return Replace(`(?m)^:-?\d+\r$`, ":<int>\r")(b) }

// AnyBulk hides a whole bulk-string reply (INFO, CLIENT INFO).
func AnyBulk(b []byte) []byte {
	if len(b) > 0 && (b[0] == '$' || b[0] == '=') {
		return []byte("<bulk>")
	}
	return b
}

// HelloID hides the connection id in a HELLO reply, RESP2 or RESP3.
func HelloID(b []byte) []byte { return Replace(`(\$2\r\nid\r\n):\d+\r\n`, "${1}:<id>\r\n")(b) }

// MonitorLine hides the time and client address of MONITOR lines.
func MonitorLine(b []byte) []byte {
	return Replace(`\+\d+\.\d+ \[(\d+) [^\]]+\]`, "+<time> [$1 <client>]")(b)
}

// AnyTime hides the value of a TIME reply.
func AnyTime(b []byte) []byte {
	return Replace(`^\*2\r\n\$\d+\r\n\d+\r\n\$\d+\r\n\d+\r\n$`, "<time>")(b)
}

// Scenario is a named sequence of steps.
type Scenario struct {
	Name  string
	Steps []Step
}

// Run runs each scenario as a subtest with Diff.
func (h *Harness) Run(t *testing.T, scenarios ...Scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) { h.Diff(t, sc.Steps) })
	}
}

// Diff empties both servers, runs steps against the direct Redis and then,
// on fresh connections, through luaproxy, and fails the test at the first
// reply whose bytes differ, printing both.
func (h *Harness) Diff(t testing.TB, steps []Step) {
	t.Helper()
	h.FlushAll(t)
	want := h.play(t, h.Direct.Addr, h.Direct, steps)
	got := h.play(t, h.ProxyAddr, h.Upstream, steps)
	for i := range steps {
		if i >= len(want) || i >= len(got) {
			break
		}
		w, g := want[i], got[i]
		for j := 0; j < len(w) || j < len(g); j++ {
			var wj, gj []byte
			if j < len(w) {
				wj = w[j]
			}
			if j < len(g) {
				gj = g[j]
			}
			if !bytes.Equal(wj, gj) {
				t.Fatalf("step %d reply %d differs (%s)\ndirect: %s\nproxy:  %s",
					i, j, describeStep(steps[i]), quote(wj, gj), quote(gj, wj))
			}
		}
	}
}

// play runs steps on one side and returns the normalized replies of each.
func (h *Harness) play(t testing.TB, addr string, backing *redistest.Server, steps []Step) [][][]byte {
	t.Helper()
	conns := map[int]*redistest.Conn{}
	defer func() {
		for _, c := range conns {
			c.NetConn().Close()
		}
	}()
	conn := func(i int) *redistest.Conn {
		if c, ok := conns[i]; ok {
			return c
		}
		c := redistest.Dial(t, addr)
		conns[i] = c
		return c
	}
	out := make([][][]byte, len(steps))
	for i, st := range steps {
		if st.WaitBlocked > 0 {
			h.WaitBlocked(t, backing, st.WaitBlocked)
			continue
		}
		c := conn(st.Conn)
		n := st.Read
		switch {
		case st.Cmd != nil:
			_ = c.Send(st.Cmd...)
			if n == 0 {
				n = 1
			}
		case st.Batch != nil:
			for _, cmd := range st.Batch {
				_ = c.Send(cmd...)
			}
			if n == 0 {
				n = len(st.Batch)
			}
		case st.Raw != "":
			if err := c.Flush(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if err := writeChunked(c.NetConn(), st.Raw, st.Chunk); err != nil {
				out[i] = append(out[i], []byte(closedMark(err)))
				continue
			}
			if n == 0 {
				n = 1
			}
		case n == 0 && !st.ExpectClose:
			t.Fatalf("step %d sends nothing and reads nothing", i)
		}
		if err := c.Flush(); err != nil {
			out[i] = append(out[i], []byte(closedMark(err)))
			continue
		}
		if st.Hangup {
			c.NetConn().Close()
			delete(conns, st.Conn)
			continue
		}
		if st.NoReply {
			continue
		}
		timeout := st.Timeout
		if timeout == 0 {
			timeout = 10 * time.Second
		}
		if st.ExpectClose {
			n++
		}
		for j := 0; j < n; j++ {
			_ = c.NetConn().SetReadDeadline(time.Now().Add(timeout))
			b, err := c.Read()
			if err != nil {
				out[i] = append(out[i], append(b, closedMark(err)...))
				break
			}
			if st.Norm != nil {
				b = st.Norm(b)
			}
			out[i] = append(out[i], b)
		}
	}
	return out
}

// writeChunked writes s in pieces of at most chunk bytes (all at once if
// chunk is not positive).
func writeChunked(w io.Writer, s string, chunk int) error {
	if chunk <= 0 {
		chunk = len(s)
	}
	for len(s) > 0 {
		n := min(chunk, len(s))
		if _, err := io.WriteString(w, s[:n]); err != nil {
			return err
		}
		s = s[n:]
	}
	return nil
}

// closedMark records a transport error in a comparable way: a server that
// closed the connection reads as EOF or as a reset depending on timing.
func closedMark(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "<closed>"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "<timeout>"
	}
	return "<error: " + err.Error() + ">"
}

// WaitBlocked polls INFO clients on s until blocked_clients reaches n.
func (h *Harness) WaitBlocked(t testing.TB, s *redistest.Server, n int) {
	t.Helper()
	c := h.Control(t, s)
	defer c.NetConn().Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info := c.MustDo(t, "INFO", "clients")
		if m := regexp.MustCompile(`blocked_clients:(\d+)`).FindSubmatch(info); m != nil {
			if v, _ := strconv.Atoi(string(m[1])); v >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: fewer than %d blocked clients after 10s: %q", s.Addr, n, info)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func describeStep(st Step) string {
	var what string
	switch {
	case st.Cmd != nil:
		what = fmt.Sprintf("%q", st.Cmd)
	case st.Batch != nil:
		what = fmt.Sprintf("batch of %d, first %q", len(st.Batch), st.Batch[0])
	case st.Raw != "":
		what = "raw " + shorten(strconv.Quote(st.Raw))
	default:
		what = fmt.Sprintf("read %d", st.Read)
	}
	s := fmt.Sprintf("conn %d: %s", st.Conn, shorten(what))
	if st.Note != "" {
		s += ", " + st.Note
	}
	return s
}

// quote shows b, quoted; a long reply is cut around its first difference
// from other.
func quote(b, other []byte) string {
	const limit = 600
	if len(b) <= limit {
		return strconv.Quote(string(b))
	}
	i := 0
	for i < len(b) && i < len(other) && b[i] == other[i] {
		i++
	}
	start := max(0, i-limit/2)
	end := min(len(b), start+limit)
	return fmt.Sprintf("%d bytes, first difference at %d: ...%s...", len(b), i, strconv.Quote(string(b[start:end])))
}

func shorten(s string) string {
	if len(s) > 200 {
		return s[:200] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}
