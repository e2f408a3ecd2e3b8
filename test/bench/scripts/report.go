package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/luaproxy/luaproxy/test/bench/internal/benchkit"
)

// Target names. Native is the reference every ratio divides by.
const (
	native    = "native"
	luaproxy  = "luaproxy"
	forwarder = "forwarder"
)

// sample is one redis-benchmark run of one workload against one target.
type sample struct {
	Workload string  `json:"workload"`
	Target   string  `json:"target"`
	Round    int     `json:"round"`
	Calls    int     `json:"calls"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	FrontCPU float64 `json:"front_cpu_us_per_call"` // luaproxy or forwarder; 0 for native
	RedisCPU float64 `json:"redis_cpu_us_per_call"` // the redis-server that served the calls
	// RedisCmds is how many times the redis-server ran each command per
	// call (INFO commandstats; for native, the script's redis.calls count
	// too).
	RedisCmds map[string]float64 `json:"redis_commands_per_call"`
}

// row is the median over rounds of one workload on one target.
type row struct {
	Workload string  `json:"workload"`
	Target   string  `json:"target"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	FrontCPU float64 `json:"front_cpu_us_per_call"`
	RedisCPU float64 `json:"redis_cpu_us_per_call"`
	// Ratios to native Redis running the script itself.
	RPSRatio      float64 `json:"rps_ratio_to_native"`
	RedisCPURatio float64 `json:"redis_cpu_ratio_to_native"`
	// TotalCPURatio compares all CPU spent per call (front process plus
	// Redis) with native Redis's.
	TotalCPURatio float64 `json:"total_cpu_ratio_to_native"`
	// RedisCmds is the median of each command's count per call.
	RedisCmds map[string]float64 `json:"redis_commands_per_call"`
}

// summarize takes the median of every workload and target over rounds, in
// the order of names and targets, and relates each to native.
func summarize(samples []sample, names []string) []row {
	var rows []row
	for _, w := range names {
		var ref row
		for _, t := range []string{native, luaproxy, forwarder} {
			var rps, p50, p99, fc, rc []float64
			for _, s := range samples {
				if s.Workload == w && s.Target == t {
					rps, p50, p99 = append(rps, s.RPS), append(p50, s.P50ms), append(p99, s.P99ms)
					fc, rc = append(fc, s.FrontCPU), append(rc, s.RedisCPU)
				}
			}
			if len(rps) == 0 {
				continue
			}
			r := row{Workload: w, Target: t, RPS: benchkit.Median(rps), P50ms: benchkit.Median(p50), P99ms: benchkit.Median(p99),
				FrontCPU: benchkit.Median(fc), RedisCPU: benchkit.Median(rc), RedisCmds: map[string]float64{}}
			for _, s := range samples {
				if s.Workload == w && s.Target == t {
					for name := range s.RedisCmds {
						r.RedisCmds[name] = 0
					}
				}
			}
			for name := range r.RedisCmds {
				var v []float64
				for _, s := range samples {
					if s.Workload == w && s.Target == t {
						v = append(v, s.RedisCmds[name])
					}
				}
				r.RedisCmds[name] = benchkit.Median(v)
			}
			if t == native {
				ref = r
			}
			r.RPSRatio = benchkit.Ratio(r.RPS, ref.RPS)
			r.RedisCPURatio = benchkit.Ratio(r.RedisCPU, ref.RedisCPU)
			r.TotalCPURatio = benchkit.Ratio(r.FrontCPU+r.RedisCPU, ref.RedisCPU)
			rows = append(rows, r)
		}
	}
	return rows
}

func find(rows []row, workload, target string) (row, bool) {
	for _, r := range rows {
		if r.Workload == workload && r.Target == target {
			return r, true
		}
	}
	return row{}, false
}

// goal is one of issue 6's targets for luaproxy, checked on a workload.
type goal struct {
	script string // script name; checked under EVALSHA and FCALL
	what   string // "throughput" or "redis CPU"
	limit  float64
}

var goals = []goal{
	{"get", "throughput", 0.5},
	{"bucket", "throughput", 0.6},
	{"get", "redis CPU", 0.5},
	{"cjson", "redis CPU", 0.25},
}

// header describes a run for the table's first line.
type header struct {
	Rounds  int `json:"rounds"`
	Calls   int `json:"n"`
	Clients int `json:"clients"`
}

// render formats the medians and checks the targets.
func render(rows []row, h header) string {
	var b strings.Builder
	fmt.Fprintf(&b, "medians of %d round(s), redis-benchmark -c %d -n %d -r %d (cjson workloads: -n %d)\n", h.Rounds, h.Clients, h.Calls, keyspace, cjsonCalls(h.Calls))
	b.WriteString("native = redis-server runs the script; luaproxy = luaproxy runs it in front of a redis-server without scripting;\n")
	b.WriteString("forwarder = no-op TCP forwarder in front of native. CPU is utime+stime from /proc per call.\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\ttarget\tcalls/s\tx native\tp50 ms\tp99 ms\tproxy µs/call\tredis µs/call\tredis x native\ttotal x native\tredis cmds/call\t")
	for _, r := range rows {
		front := "-"
		if r.Target != native {
			front = fmt.Sprintf("%.1f", r.FrontCPU)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%.3f\t%.3f\t%s\t%.1f\t%.2f\t%.2f\t%.2f\t\n",
			r.Workload, r.Target, r.RPS, r.RPSRatio, r.P50ms, r.P99ms, front, r.RedisCPU, r.RedisCPURatio, r.TotalCPURatio, total(r.RedisCmds))
	}
	tw.Flush()

	b.WriteString("\ncommands per call seen by the redis-server (INFO commandstats; native counts the script's redis.calls):\n")
	for _, r := range rows {
		if r.Target != forwarder {
			fmt.Fprintf(&b, "  %-15s %-9s %s\n", r.Workload, r.Target, formatCmds(r.RedisCmds))
		}
	}

	b.WriteString("\nissue 6 targets (luaproxy vs native):\n")
	for _, g := range goals {
		for _, call := range []string{"evalsha", "fcall"} {
			w := call + "-" + g.script
			r, ok := find(rows, w, luaproxy)
			if !ok {
				continue
			}
			mark, v, cmp := "FAIL", r.RPSRatio, ">="
			pass := v >= g.limit
			if g.what == "redis CPU" {
				v, cmp = r.RedisCPURatio, "<="
				pass = v <= g.limit
			}
			if pass {
				mark = "ok  "
			}
			fmt.Fprintf(&b, "  %s %-15s %-10s %.2f x native %s %.2f\n", mark, w, g.what, v, cmp, g.limit)
		}
	}
	var refs []string
	for _, w := range []string{"evalsha-get", "evalsha-bucket"} {
		if r, ok := find(rows, w, forwarder); ok {
			refs = append(refs, fmt.Sprintf("%s %.2f x native", w, r.RPSRatio))
		}
	}
	if len(refs) > 0 {
		fmt.Fprintf(&b, "forwarder throughput: %s (issue's reference: 0.41 and 0.65)\n", strings.Join(refs, ", "))
	}
	return b.String()
}

// writeResults stores the run as dir/scripts-<time>.json and .md.
func writeResults(dir string, h header, samples []sample, rows []row, table, profile string) error {
	data := map[string]any{
		"rounds": h.Rounds, "n": h.Calls, "clients": h.Clients, "keyspace": keyspace,
		"medians": rows, "samples": samples, "profile_top": profile,
	}
	return benchkit.WriteResults(dir, "scripts", data, func(stamp string) string {
		md := "# luaproxy scripting benchmark " + stamp + "\n\n" + benchkit.CodeBlock(table)
		if profile != "" {
			md += "\n## luaproxy CPU profile\n\n" + benchkit.CodeBlock(profile)
		}
		return md
	})
}

// cjsonCalls is the number of calls per run of a cjson workload: a quarter
// of the others', since each call costs several times as much.
func cjsonCalls(n int) int {
	return max(n/4, 1)
}

func total(cmds map[string]float64) float64 {
	var t float64
	for _, v := range cmds {
		t += v
	}
	return t
}

// formatCmds lists commands by decreasing count: "get 1.00, evalsha 1.00".
func formatCmds(cmds map[string]float64) string {
	names := make([]string, 0, len(cmds))
	for name, v := range cmds {
		if v >= 0.005 {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if cmds[names[i]] != cmds[names[j]] {
			return cmds[names[i]] > cmds[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s %.2f", name, cmds[name])
	}
	return strings.Join(parts, ", ")
}
