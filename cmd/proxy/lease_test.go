package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// leaseWait bounds every wait of the active/standby tests.
const leaseWait = 15 * time.Second

// leaseRun is one luaproxy of an active/standby pair.
type leaseRun struct {
	name   string
	listen string
	admin  string
	errw   *syncBuffer
	stop   chan os.Signal
	done   chan int
}

func startLeaseRun(t *testing.T, name, upstream string) *leaseRun {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	at, errw, stop, done := startRun(t, []string{
		"--listen", listen, "--admin-listen", "127.0.0.1:0",
		"--upstream", "redis://" + upstream, "--drain-timeout", "5s",
		"--lease-key", "luaproxy:lease", "--lease-ttl", "1s",
	})
	if at.Listen != nil {
		t.Errorf("%s: client address reported before the lease was acquired", name)
	}
	r := &leaseRun{name: name, listen: listen, admin: at.Admin.String(), errw: errw, stop: stop, done: done}
	t.Cleanup(func() {
		select {
		case r.stop <- syscall.SIGTERM:
		default:
		}
		select {
		case <-r.done:
		case <-time.After(leaseWait):
			t.Errorf("%s did not stop", name)
		}
	})
	return r
}

// get returns the status and body of an admin endpoint.
func (r *leaseRun) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + r.admin + path)
	if err != nil {
		t.Fatalf("%s: GET %s: %v", r.name, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitReadyz polls /readyz until it answers code with a body containing
// want, and returns how long that took.
func (r *leaseRun) waitReadyz(t *testing.T, code int, want string) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		got, body := r.get(t, "/readyz")
		if got == code && strings.Contains(body, want) {
			return time.Since(start)
		}
		if time.Since(start) > leaseWait {
			t.Fatalf("%s: /readyz = %d %q, want %d %q\nlogs:\n%s", r.name, got, body, code, want, r.errw.String())
		}
		<-tick.C
	}
}

// stopAndWait sends SIGTERM and waits for a clean exit.
func (r *leaseRun) stopAndWait(t *testing.T) {
	t.Helper()
	r.stop <- syscall.SIGTERM
	select {
	case code := <-r.done:
		if code != 0 {
			t.Errorf("%s exited %d: %s", r.name, code, r.errw.String())
		}
		r.done <- code // for the cleanup
	case <-time.After(leaseWait):
		t.Fatalf("%s did not stop", r.name)
	}
}

func (r *leaseRun) refuses(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", r.listen, time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s accepted a client while standing by", r.name)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("%s: dial: %v, want connection refused", r.name, err)
	}
}

func (r *leaseRun) serves(t *testing.T) *redistest.Conn {
	t.Helper()
	c := redistest.Dial(t, r.listen)
	if got := c.MustDo(t, "EVAL", "return redis.call('INCR', KEYS[1])", "1", "served"); !strings.HasPrefix(string(got), ":") {
		t.Fatalf("%s: EVAL = %q", r.name, got)
	}
	return c
}

// TestActiveStandbyFailover runs two luaproxy processes in front of one
// Redis without scripting: only the lease holder serves; the standby takes
// over when the holder stops, and a holder whose key is taken closes its
// clients and stands by.
func TestActiveStandbyFailover(t *testing.T) {
	up := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	raw := up.Dial(t)
	raw.MustDo(t, "SELECT", "15")

	a := startLeaseRun(t, "a", up.Addr)
	// The first acquisition ever waits one TTL for a holder from before a
	// wipe; then a serves.
	a.waitReadyz(t, 200, "ok")
	a.serves(t)
	if code, body := a.get(t, "/metrics"); code != 200 ||
		!strings.Contains(body, "luaproxy_lease_active 1") || !strings.Contains(body, "luaproxy_lease_epoch 1") {
		t.Errorf("a's /metrics lack the lease series:\n%s", body)
	}

	b := startLeaseRun(t, "b", up.Addr)
	b.waitReadyz(t, 503, "standby: lease held by ")
	if code, _ := b.get(t, "/healthz"); code != 200 {
		t.Errorf("standby /healthz = %d", code)
	}
	b.refuses(t)

	// The holder stops: it drains, releases, and b takes over at once.
	a.stopAndWait(t)
	if logs := a.errw.String(); !strings.Contains(logs, `"msg":"lease released"`) {
		t.Errorf("a's logs lack the release:\n%s", logs)
	}
	b.waitReadyz(t, 200, "ok")
	held := b.serves(t)
	if code, body := b.get(t, "/metrics"); code != 200 || !strings.Contains(body, "luaproxy_lease_epoch 2") {
		t.Errorf("b's /metrics: want epoch 2:\n%s", body)
	}

	// Someone else takes the key: b must stop serving within the TTL.
	taken := time.Now()
	raw.MustDo(t, "SET", "luaproxy:lease", "intruder 99", "PX", "600000")
	b.waitReadyz(t, 503, "standby: lease held by intruder")
	if d := time.Since(taken); d > time.Second {
		t.Errorf("b reported not ready %v after losing the lease, more than the TTL", d)
	}
	_ = held.NetConn().SetReadDeadline(time.Now().Add(leaseWait))
	if _, err := held.Read(); err == nil {
		t.Error("b's client connection still open after the lease was lost")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("b's client connection not closed after the lease was lost")
	}
	b.refuses(t)
	if !hasLogLine(b.errw.String(), `"level":"error"`, "lease lost") {
		t.Errorf("b's logs lack the loss at error level:\n%s", b.errw.String())
	}

	// The key is free again: b takes it back with a higher epoch, and no
	// grace period since the epoch counter survived.
	raw.MustDo(t, "DEL", "luaproxy:lease")
	b.waitReadyz(t, 200, "ok")
	b.serves(t)
	if code, body := b.get(t, "/metrics"); code != 200 || !strings.Contains(body, "luaproxy_lease_epoch 100") {
		t.Errorf("b's /metrics: want epoch 100 (after the intruder's 99):\n%s", body)
	}

	// A FLUSHALL through the holder wipes the key: the holder puts it back
	// at its next renewal and goes on serving the same clients.
	c := b.serves(t)
	if got := c.MustDo(t, "FLUSHALL"); string(got) != "+OK\r\n" {
		t.Fatalf("FLUSHALL = %q", got)
	}
	deadline := time.Now().Add(leaseWait)
	for string(raw.MustDo(t, "EXISTS", "luaproxy:lease")) != ":1\r\n" {
		if time.Now().After(deadline) {
			t.Fatal("lease key not put back after FLUSHALL")
		}
		time.Sleep(10 * time.Millisecond) // polling the upstream
	}
	if got := c.MustDo(t, "PING"); string(got) != "+PONG\r\n" {
		t.Errorf("PING after FLUSHALL = %q", got)
	}
	if code, body := b.get(t, "/readyz"); code != 200 {
		t.Errorf("/readyz after FLUSHALL = %d %q", code, body)
	}

	b.stopAndWait(t)
	if got := string(raw.MustDo(t, "EXISTS", "luaproxy:lease")); got != ":0\r\n" {
		t.Errorf("lease key left after the last holder stopped: %q", got)
	}
}

// hasLogLine reports whether one line of logs contains every part.
func hasLogLine(logs string, parts ...string) bool {
	for line := range strings.Lines(logs) {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// TestActiveStandbyListenFailure: an active that cannot open the client
// port gives the lease back and exits with an error.
func TestActiveStandbyListenFailure(t *testing.T) {
	up := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, errw, _, done := startRun(t, []string{
		"--listen", busy.Addr().String(), "--admin-listen", "127.0.0.1:0",
		"--upstream", "redis://" + up.Addr, "--lease-key", "luaproxy:lease", "--lease-ttl", "1s",
	})
	select {
	case code := <-done:
		if code != exitError || !strings.Contains(errw.String(), "address already in use") {
			t.Errorf("exit %d: %s", code, errw.String())
		}
	case <-time.After(leaseWait):
		t.Fatal("did not exit")
	}
	raw := up.Dial(t)
	raw.MustDo(t, "SELECT", "15")
	if got := string(raw.MustDo(t, "EXISTS", "luaproxy:lease")); got != ":0\r\n" {
		t.Errorf("lease key left behind: %q", got)
	}
}
