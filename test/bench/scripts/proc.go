package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// clockTicks is sysconf(_SC_CLK_TCK), the unit of /proc/PID/stat times, as
// getconf reports it; 100 on every Linux this runs on.
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}

func usPerCall(ticks int64, calls int) float64 {
	return float64(ticks) * 1e6 / clockTicks() / float64(calls)
}

// cpuTicksOf returns the CPU ticks of each process.
func cpuTicksOf(pids []int) ([]int64, error) {
	ticks := make([]int64, len(pids))
	for i, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil, fmt.Errorf("CPU time of %d: %w", pid, err)
		}
		if ticks[i], err = parseStat(b); err != nil {
			return nil, fmt.Errorf("CPU time of %d: %w", pid, err)
		}
	}
	return ticks, nil
}

// parseStat returns utime+stime from the contents of /proc/PID/stat.
func parseStat(b []byte) (int64, error) {
	// The command name (field 2) may contain spaces and parentheses: fields
	// are counted from the last closing parenthesis, after which field 3
	// (state) starts.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad stat %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short stat %q", b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad stat %q", b)
	}
	return utime + stime, nil
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the luaproxy module")
		}
		dir = parent
	}
}

func freeAddr() (string, error) {
	port, err := redistest.FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

func startChild(bin string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	return cmd, nil
}

// stopChild interrupts cmd and kills it if it has not exited in 15 s.
func stopChild(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// waitPing waits until addr answers PING.
func waitPing(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		reply, err := do(addr, "PING")
		if err == nil && string(reply) == "+PONG\r\n" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %v (last: %q, %v)", timeout, reply, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serverPID asks redis-server for its process id.
func serverPID(addr string) (int, error) {
	reply, err := do(addr, "INFO", "server")
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

// do sends one command on a fresh connection and returns the raw reply; an
// error reply is returned as an error.
func do(addr string, args ...string) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(appendCommand(nil, args)); err != nil {
		return nil, err
	}
	reply, err := redistest.ReadReply(bufio.NewReader(c))
	if err == nil && len(reply) > 0 && reply[0] == '-' {
		err = fmt.Errorf("%s: %s", args[0], bytes.TrimSpace(reply[1:]))
	}
	return reply, err
}

// pipeline sends every command on one connection, then reads every reply,
// failing on the first error reply.
func pipeline(addr string, cmds [][]string) error {
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
			if _, err := w.Write(appendCommand(nil, args)); err != nil {
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

// appendCommand appends args as a RESP array of bulk strings.
func appendCommand(b []byte, args []string) []byte {
	b = fmt.Appendf(b, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

// commandStats returns the calls of every command from INFO commandstats,
// by lower-case command name ("get", "evalsha", "config|get").
func commandStats(addr string) (map[string]int64, error) {
	reply, err := do(addr, "INFO", "commandstats")
	if err != nil {
		return nil, err
	}
	return parseCommandStats(string(reply))
}

// parseCommandStats reads lines "cmdstat_NAME:calls=N,usec=...".
func parseCommandStats(info string) (map[string]int64, error) {
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

// perCall returns how many times each command ran per call between two
// commandstats snapshots, leaving out the INFO that took the second one.
func perCall(before, after map[string]int64, calls int) map[string]float64 {
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
