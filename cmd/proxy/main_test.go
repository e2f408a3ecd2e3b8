package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func noEnv(string) string { return "" }

func TestVersion(t *testing.T) {
	var out, errw bytes.Buffer
	if code := run([]string{"--version"}, noEnv, &out, &errw); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errw.String())
	}
	re := regexp.MustCompile(`^luaproxy \S+ \(commit \S+, go1\.[0-9.]+\S*\)\n$`)
	if !re.MatchString(out.String()) {
		t.Errorf("--version printed %q", out.String())
	}
}

func TestHelp(t *testing.T) {
	var out, errw bytes.Buffer
	if code := run([]string{"--help"}, noEnv, &out, &errw); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), "--upstream") || !strings.Contains(out.String(), "LUAPROXY_UPSTREAM") ||
		!strings.Contains(out.String(), "lint-functions DIR") {
		t.Errorf("help lacks --upstream:\n%s", out.String())
	}
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"LUAPROXY_LOG_FORMAT": "xml"},
			"luaproxy: invalid setting log-format (from LUAPROXY_LOG_FORMAT): \"xml\" is not json or console\n"},
		{[]string{"--upstream", "http://x"}, nil,
			"luaproxy: invalid setting upstream (from --upstream): upstream \"http://x\": scheme must be redis:// or rediss://\n"},
		{[]string{"--bogus"}, nil, "luaproxy: command line: flag provided but not defined: -bogus\n"},
	}
	for _, tt := range tests {
		var out, errw bytes.Buffer
		getenv := func(k string) string { return tt.env[k] }
		if code := run(tt.args, getenv, &out, &errw); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tt.args, code, exitUsage)
		}
		if errw.String() != tt.want {
			t.Errorf("%v: stderr %q, want %q", tt.args, errw.String(), tt.want)
		}
	}
}

func TestListenFailure(t *testing.T) {
	var out, errw syncBuffer
	code := run([]string{"--listen", "256.0.0.1:1", "--admin-listen", ""}, noEnv, &out, &errw)
	if code != exitError {
		t.Fatalf("exit %d, want %d", code, exitError)
	}
	if !strings.Contains(errw.String(), "listen") {
		t.Errorf("stderr %q", errw.String())
	}
}

// startRun runs the binary's logic with args in the background, as main
// would, and waits until it listens. Send to stop to end it; done gets its
// exit code.
func startRun(t *testing.T, args []string) (at listening, errw *syncBuffer, stop chan os.Signal, done chan int) {
	t.Helper()
	errw = new(syncBuffer)
	stop, done = make(chan os.Signal, 1), make(chan int, 1)
	started := make(chan listening, 1)
	go func() { done <- runUntil(args, noEnv, io.Discard, errw, stop, started) }()
	select {
	case at = <-started:
	case code := <-done:
		t.Fatalf("exited with %d before starting: %s", code, errw.String())
	case <-time.After(30 * time.Second):
		t.Fatal("did not start")
	}
	return at, errw, stop, done
}

// TestStartStop runs the whole binary's logic against a real Redis: it
// serves a PING, the admin endpoints and pprof, and stops cleanly on a
// signal.
func TestStartStop(t *testing.T) {
	up := redistest.Start(t)
	args := []string{
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--upstream", "redis://" + up.Addr, "--pprof", "--drain-timeout", "5s",
	}
	at, errw, stop, done := startRun(t, args)

	c := redistest.Dial(t, at.Listen.String())
	if got := c.MustDo(t, "PING"); string(got) != "+PONG\r\n" {
		t.Errorf("PING through the proxy = %q", got)
	}
	for path, want := range map[string]int{"/healthz": 200, "/metrics": 200, "/debug/pprof/cmdline": 200} {
		resp, err := http.Get("http://" + at.Admin.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}

	stop <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, errw.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not stop")
	}
	logs := errw.String()
	for _, want := range []string{`"msg":"luaproxy started"`, `"upstream":"redis://` + up.Addr + `"`, `"msg":"luaproxy stopping"`, `"msg":"luaproxy stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

// TestNoPprofByDefault checks that profiles are only served when asked for.
func TestNoPprofByDefault(t *testing.T) {
	up := redistest.Start(t)
	args := []string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream", "redis://:secret@" + up.Addr, "--log-format", "console"}
	at, errw, stop, done := startRun(t, args)
	resp, err := http.Get("http://" + at.Admin.String() + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Error("pprof served without --pprof")
	}
	stop <- syscall.SIGINT
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, errw.String())
	}
	if strings.Contains(errw.String(), "secret") {
		t.Errorf("logs leak the upstream password:\n%s", errw.String())
	}
	if !strings.Contains(errw.String(), "INFO") {
		t.Errorf("console logs lack INFO:\n%s", errw.String())
	}
}

// TestSecondSignal checks that a second signal ends a drain that waits for
// a client blocked in BLPOP.
func TestSecondSignal(t *testing.T) {
	up := redistest.Start(t)
	args := []string{"--listen", "127.0.0.1:0", "--admin-listen", "", "--upstream", "redis://" + up.Addr, "--drain-timeout", "1m"}
	at, errw, stop, done := startRun(t, args)
	c := redistest.Dial(t, at.Listen.String())
	_ = c.Send("BLPOP", "nope", "0")
	_ = c.Flush()
	waitBlocked(t, up)

	stop <- syscall.SIGTERM
	select {
	case code := <-done:
		t.Fatalf("exited with %d while a request was in flight", code)
	case <-time.After(200 * time.Millisecond):
		// Still draining, as it should: now the second signal.
	}
	stop <- syscall.SIGINT
	select {
	case code := <-done:
		if code != exitError {
			t.Errorf("exit %d, want %d", code, exitError)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("second signal did not end the drain")
	}
	if !strings.Contains(errw.String(), "luaproxy stopping now") {
		t.Errorf("logs lack the second signal:\n%s", errw.String())
	}
}

func waitBlocked(t *testing.T, s *redistest.Server) {
	t.Helper()
	c := s.Dial(t)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(string(c.MustDo(t, "INFO", "clients")), "blocked_clients:1") {
		if time.Now().After(deadline) {
			t.Fatal("BLPOP did not block")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
