package benchkit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ClockTicks is sysconf(_SC_CLK_TCK), the unit of the times in
// /proc/PID/stat, as getconf reports it; 100 on every Linux this runs on,
// and so the answer when getconf cannot be asked.
func ClockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}

// USPerCall converts CPU ticks spent on calls requests into microseconds
// per request.
func USPerCall(ticks int64, calls int) float64 {
	return float64(ticks) * 1e6 / ClockTicks() / float64(calls)
}

// CPUTicks returns the CPU time (utime+stime, in clock ticks) process pid
// has used so far.
func CPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("CPU time of %d: %w", pid, err)
	}
	n, err := ParseStat(b)
	if err != nil {
		return 0, fmt.Errorf("CPU time of %d: %w", pid, err)
	}
	return n, nil
}

// ParseStat returns utime+stime from the contents of /proc/PID/stat.
func ParseStat(b []byte) (int64, error) {
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

// ModuleRoot finds the directory of go.mod from the working directory up:
// the benchmarks build ./cmd/proxy and write results relative to it.
func ModuleRoot() (string, error) {
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

// StartChild starts bin with args, discarding its standard output and
// passing its standard error through, so that its failures are seen.
func StartChild(bin string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	return cmd, nil
}

// StopChild interrupts cmd, so that it can shut down cleanly, and kills it
// if it has not exited in 15 s.
func StopChild(cmd *exec.Cmd) {
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

// Measure runs redis-benchmark through run, which returns its --csv
// output, and charges the CPU time each process of pids used meanwhile to
// the calls it made: cpu[i] is pids[i]'s microseconds per call. An error
// from run is returned as it is.
func Measure(calls int, pids []int, run func() ([]byte, error)) (r Result, cpu []float64, err error) {
	before, err := cpuTicksOf(pids)
	if err != nil {
		return r, nil, err
	}
	out, err := run()
	if err != nil {
		return r, nil, err
	}
	after, err := cpuTicksOf(pids)
	if err != nil {
		return r, nil, err
	}
	if r, err = ParseCSV(out); err != nil {
		return r, nil, fmt.Errorf("redis-benchmark output %q: %w", out, err)
	}
	cpu = make([]float64, len(pids))
	for i := range pids {
		cpu[i] = USPerCall(after[i]-before[i], calls)
	}
	return r, cpu, nil
}

func cpuTicksOf(pids []int) ([]int64, error) {
	ticks := make([]int64, len(pids))
	for i, pid := range pids {
		var err error
		if ticks[i], err = CPUTicks(pid); err != nil {
			return nil, err
		}
	}
	return ticks, nil
}

// LookBenchmark returns the path of redis-benchmark, or an error that says
// how to install it.
func LookBenchmark() (string, error) {
	bin, err := exec.LookPath("redis-benchmark")
	if err != nil {
		return "", errors.New("redis-benchmark not found in PATH: install it with `apt-get install -y redis-tools`")
	}
	return bin, nil
}

// Build runs `go build -o out pkg` in the module at root, its output
// passed through.
func Build(root, out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

// Workspace is what every benchmark run starts from.
type Workspace struct {
	Benchmark string // path of redis-benchmark
	Root      string // the luaproxy module, from ModuleRoot
	Tmp       string // a new scratch directory for binaries and servers
}

// NewWorkspace finds redis-benchmark and the module root and makes a
// scratch directory named after prefix. Close removes it.
func NewWorkspace(prefix string) (*Workspace, error) {
	bin, err := LookBenchmark()
	if err != nil {
		return nil, err
	}
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	return &Workspace{Benchmark: bin, Root: root, Tmp: tmp}, nil
}

// Close removes the scratch directory.
func (w *Workspace) Close() error { return os.RemoveAll(w.Tmp) }
