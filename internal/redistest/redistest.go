// Package redistest starts real redis-server processes for tests and talks
// to them with a deliberately naive raw RESP client, so that tests never
// judge luaproxy's own protocol code with itself.
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ScriptingDisabled are redis-server arguments that switch off every
// scripting command, as a Lua-restricted managed Redis does. Upstreams used
// behind luaproxy in end-to-end tests start with them, which proves that
// luaproxy runs every script itself.
var scriptingCommands = []string{"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "SCRIPT", "FUNCTION", "FCALL", "FCALL_RO"}

// ScriptingDisabledArgs returns the --rename-command arguments that remove
// every scripting command from a redis-server.
func ScriptingDisabledArgs() []string {
	var args []string
	for _, c := range scriptingCommands {
		args = append(args, "--rename-command", c, "")
	}
	return args
}

// Server is a redis-server child process listening on 127.0.0.1.
type Server struct {
	Addr string
	Port int
	Dir  string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// Start launches redis-server on a free port with persistence off and the
// DEBUG command on, plus any extra arguments, and stops it when the test ends.
// It fails the test with a clear message if redis-server is not installed.
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	s, err := StartProcess(tb.TempDir(), extra...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// StartProcess is Start without a testing.TB, for benchmarks driven from
// main packages. The caller must call Stop.
func StartProcess(dir string, extra ...string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found in PATH: install it with `apt-get install -y redis-server` (tests need a real Redis)")
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		args := []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--daemonize", "no",
			"--dir", dir, "--enable-debug-command", "yes",
			"--logfile", "",
		}
		args = append(args, extra...)
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, Dir: dir, log: &bytes.Buffer{}}
		s.cmd = exec.Command(bin, args...)
		s.cmd.Stdout = s.log
		s.cmd.Stderr = s.log
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start redis-server: %w", err)
		}
		if err := s.waitReady(10 * time.Second); err != nil {
			s.Stop()
			lastErr = fmt.Errorf("redis-server on port %d: %w\n%s", port, err, s.log.String())
			continue
		}
		return s, nil
	}
	return nil, lastErr
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			rc := &Conn{c: c, r: bufio.NewReader(c)}
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			reply, err := rc.Do("PING")
			c.Close()
			if err == nil && string(reply) == "+PONG\r\n" {
				return nil
			}
		}
		if s.cmd.ProcessState != nil || time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Dial opens a raw connection to the server.
func (s *Server) Dial(tb testing.TB) *Conn { return Dial(tb, s.Addr) }

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Conn is a raw RESP connection: it writes commands as RESP arrays and
// returns each reply as the exact bytes the server sent.
type Conn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// Dial connects to addr and closes the connection when the test ends.
func Dial(tb testing.TB, addr string) *Conn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return &Conn{c: c, r: bufio.NewReader(c)}
}

// NetConn exposes the underlying connection (for deadlines, half-closes).
func (c *Conn) NetConn() net.Conn { return c.c }

// Send writes one command without reading its reply (for pipelines).
func (c *Conn) Send(args ...string) error {
	if c.w == nil {
		c.w = bufio.NewWriter(c.c)
	}
	fmt.Fprintf(c.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.w, "$%d\r\n%s\r\n", len(a), a)
	}
	return nil
}

// Flush sends what Send buffered.
func (c *Conn) Flush() error {
	if c.w == nil {
		return nil
	}
	return c.w.Flush()
}

// Read returns the next complete reply, raw.
func (c *Conn) Read() ([]byte, error) { return ReadReply(c.r) }

// Do sends one command and returns its raw reply.
func (c *Conn) Do(args ...string) ([]byte, error) {
	if err := c.Send(args...); err != nil {
		return nil, err
	}
	if err := c.Flush(); err != nil {
		return nil, err
	}
	return c.Read()
}

// MustDo is Do that fails the test on a transport error.
func (c *Conn) MustDo(tb testing.TB, args ...string) []byte {
	tb.Helper()
	_ = c.c.SetDeadline(time.Now().Add(30 * time.Second))
	b, err := c.Do(args...)
	if err != nil {
		tb.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return b
}

// WaitReply sends args until the reply is want, for a state that has no
// event to wait on (another instance catching up, a script turning busy);
// it fails the test after 10 seconds.
func (c *Conn) WaitReply(tb testing.TB, want string, args ...string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := string(c.MustDo(tb, args...))
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%q: still %q, want %q", args, got, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ReadReply reads one RESP2 or RESP3 reply and returns its exact bytes.
func ReadReply(r *bufio.Reader) ([]byte, error) {
	var out []byte
	if err := readInto(r, &out); err != nil {
		return out, err
	}
	return out, nil
}

func readInto(r *bufio.Reader, out *[]byte) error {
	line, err := r.ReadBytes('\n')
	*out = append(*out, line...)
	if err != nil {
		return err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return fmt.Errorf("bad reply line %q", line)
	}
	head := string(line[1 : len(line)-2])
	switch line[0] {
	case '+', '-', ':', ',', '#', '_', '(':
		return nil
	case '$', '!', '=':
		n, err := strconv.Atoi(head)
		if err != nil {
			return fmt.Errorf("bad length %q", line)
		}
		if n < 0 {
			return nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		*out = append(*out, buf...)
		return nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(head)
		if err != nil {
			return fmt.Errorf("bad length %q", line)
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for i := 0; i < n; i++ {
			if err := readInto(r, out); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown reply type %q", line)
}

// Binary returns the path of a redis tool (redis-cli, redis-benchmark) or
// fails the test with an install hint.
func Binary(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Fatalf("%s not found in PATH: install it with `apt-get install -y redis-tools`", name)
	}
	return p
}

// WriteFile writes a file under the server's directory (for configs, ACL files).
func (s *Server) WriteFile(name, content string) (string, error) {
	p := filepath.Join(s.Dir, name)
	return p, os.WriteFile(p, []byte(content), 0o600)
}
