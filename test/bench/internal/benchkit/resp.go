package benchkit

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// FreeAddr returns a 127.0.0.1 address with a port the kernel says is free.
func FreeAddr() (string, error) {
	port, err := redistest.FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// Do sends one command on a fresh connection and returns the raw reply; an
// error reply is returned as an error too.
func Do(addr string, args ...string) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(AppendCommand(nil, args)); err != nil {
		return nil, err
	}
	reply, err := redistest.ReadReply(bufio.NewReader(c))
	if err == nil && len(reply) > 0 && reply[0] == '-' {
		err = fmt.Errorf("%s: %s", args[0], bytes.TrimSpace(reply[1:]))
	}
	return reply, err
}

// Pipeline sends every command on one connection, then reads every reply,
// failing on the first error reply.
func Pipeline(addr string, cmds [][]string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	errc := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(c)
		for _, args := range cmds {
			if _, err := w.Write(AppendCommand(nil, args)); err != nil {
				errc <- err
				return
			}
		}
		errc <- w.Flush()
	}()
	r := bufio.NewReader(c)
	for _, args := range cmds {
		reply, err := redistest.ReadReply(r)
		if err != nil {
			return err
		}
		if len(reply) > 0 && reply[0] == '-' {
			return fmt.Errorf("%s: %s", args[0], bytes.TrimSpace(reply[1:]))
		}
	}
	return <-errc
}

// AppendCommand appends args as a RESP array of bulk strings.
func AppendCommand(b []byte, args []string) []byte {
	b = fmt.Appendf(b, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

// WaitPing waits until addr answers PING with PONG, polling every 50 ms:
// the processes under test give no other sign that they are ready.
func WaitPing(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		reply, err := Do(addr, "PING")
		if err == nil && string(reply) == "+PONG\r\n" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %v (last: %q, %v)", timeout, reply, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ServerPID asks the redis-server at addr for its process id.
func ServerPID(addr string) (int, error) {
	reply, err := Do(addr, "INFO", "server")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(reply), "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("no process_id in INFO server of %s", addr)
}

// CommandStats returns the calls of every command from INFO commandstats,
// by lower-case command name ("get", "evalsha", "config|get").
func CommandStats(addr string) (map[string]int64, error) {
	reply, err := Do(addr, "INFO", "commandstats")
	if err != nil {
		return nil, err
	}
	return ParseCommandStats(string(reply))
}

// ParseCommandStats reads lines "cmdstat_NAME:calls=N,usec=..." of INFO
// commandstats and passes over the others.
func ParseCommandStats(info string) (map[string]int64, error) {
	stats := map[string]int64{}
	for _, line := range strings.Split(info, "\r\n") {
		rest, ok := strings.CutPrefix(line, "cmdstat_")
		if !ok {
			continue
		}
		name, fields, ok := strings.Cut(rest, ":")
		if !ok {
			return nil, fmt.Errorf("bad commandstats line %q", line)
		}
		calls, _, _ := strings.Cut(fields, ",")
		v, ok := strings.CutPrefix(calls, "calls=")
		if !ok {
			return nil, fmt.Errorf("bad commandstats line %q", line)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad commandstats line %q: %w", line, err)
		}
		stats[name] = n
	}
	return stats, nil
}

// PerCall returns how many times each command ran per call between two
// CommandStats snapshots, leaving out the INFO that took the second one.
func PerCall(before, after map[string]int64, calls int) map[string]float64 {
	out := map[string]float64{}
	for name, n := range after {
		d := n - before[name]
		if name == "info" {
			d--
		}
		if d > 0 {
			out[name] = float64(d) / float64(calls)
		}
	}
	return out
}

// StartRedis starts a redis-server with extra arguments in the new
// directory dir/name and returns it with its process id. The caller stops
// it.
func StartRedis(dir, name string, extra ...string) (*redistest.Server, int, error) {
	d := filepath.Join(dir, name)
	if err := os.Mkdir(d, 0o700); err != nil {
		return nil, 0, err
	}
	s, err := redistest.StartProcess(d, extra...)
	if err != nil {
		return nil, 0, err
	}
	pid, err := ServerPID(s.Addr)
	if err != nil {
		s.Stop()
		return nil, 0, err
	}
	return s, pid, nil
}
