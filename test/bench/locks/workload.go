package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"

	"github.com/luaproxy/luaproxy/test/bench/internal/benchkit"
)

// script reads a counter, does some Lua work, so that a script holds its
// lock for a while and luaproxy's cores matter, and writes the counter
// back: a read-modify-write that is only correct if the script is atomic.
// A value that is not a number (the pass-through SET's "xxx") counts as 0.
const script = `local v = tonumber(redis.call('GET', KEYS[1])) or 0
local x = 0
for i = 1, 3000 do x = x + i end
redis.call('SET', KEYS[1], v + 1)
return v`

// scriptSHA is the SHA1 SCRIPT LOAD answers for script.
func scriptSHA() string {
	sum := sha1.Sum([]byte(script))
	return hex.EncodeToString(sum[:])
}

// loadScript loads script at addr and checks the SHA1 it answers.
func loadScript(addr string) error {
	reply, err := benchkit.Do(addr, "SCRIPT", "LOAD", script)
	if err != nil {
		return fmt.Errorf("SCRIPT LOAD at %s: %w", addr, err)
	}
	if want := fmt.Sprintf("$40\r\n%s\r\n", scriptSHA()); string(reply) != want {
		return fmt.Errorf("SCRIPT LOAD at %s: reply %q, want %q", addr, reply, want)
	}
	return nil
}

// evalsha is the redis-benchmark command calling script on key, in which
// redis-benchmark replaces __rand_int__ with a number below -r.
func evalsha(key string) []string { return []string{"EVALSHA", scriptSHA(), "1", key} }

// load is one redis-benchmark run: its connections, requests, pipeline
// depth, keyspace (-r, 0 for none) and either a -t test or a command.
type load struct {
	clients  int
	n        int
	pipeline int
	keyspace int
	test     string   // "set", "get"; empty when command is given
	command  []string // a custom command
}

// args returns redis-benchmark's arguments for l against addr, with the
// options in flags (e.g. "--csv"), which must come before a command.
func (l load) args(addr string, flags ...string) []string {
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"-h", host, "-p", port, "-c", strconv.Itoa(l.clients), "-n", strconv.Itoa(l.n)}
	args = append(args, flags...)
	if l.pipeline > 1 {
		args = append(args, "-P", strconv.Itoa(l.pipeline))
	}
	if l.keyspace > 0 {
		args = append(args, "-r", strconv.Itoa(l.keyspace))
	}
	if l.test != "" {
		return append(args, "-t", l.test)
	}
	return append(args, l.command...)
}

// measurement is the figures of one redis-benchmark run.
type measurement struct {
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	ProxyCPU float64 `json:"proxy_cpu_us_per_op"` // 0 without a proxy
	RedisCPU float64 `json:"redis_cpu_us_per_op"`
	BgRPS    float64 `json:"bg_calls_per_s,omitempty"` // background script calls meanwhile
}

// measure runs l against addr and charges the CPU time that redisPID and,
// unless 0, proxyPID used meanwhile to its requests.
func measure(bin, addr string, l load, redisPID, proxyPID int) (measurement, error) {
	args := l.args(addr, "--csv")
	pids := []int{redisPID}
	if proxyPID != 0 {
		pids = append(pids, proxyPID)
	}
	r, cpu, err := benchkit.Measure(l.n, pids, func() ([]byte, error) {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("redis-benchmark %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
		}
		return out, nil
	})
	if err != nil {
		return measurement{}, err
	}
	m := measurement{RPS: r.RPS, P50ms: r.P50ms, P99ms: r.P99ms, RedisCPU: cpu[0]}
	if proxyPID != 0 {
		m.ProxyCPU = cpu[1]
	}
	return m, nil
}

// warm runs l once, unmeasured, so that connections, pools and caches
// are warm before the rounds.
func warm(bin, addr string, l load) error {
	args := l.args(addr, "-q")
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("warm-up redis-benchmark %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
