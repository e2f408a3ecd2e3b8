package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/luaproxy/luaproxy/test/bench/internal/benchkit"
)

// header describes a run.
type header struct {
	Rounds     int    `json:"rounds"`
	N          int    `json:"n"`
	ScriptN    int    `json:"script_n"`
	Clients    int    `json:"clients"`
	BgClients  int    `json:"bg_clients"`
	Keyspace   int    `json:"keyspace"`
	FgKeys     int    `json:"fg_keys"`
	PtKeys     int    `json:"pt_keys"`
	Head       string `json:"head"`
	Baseline   string `json:"baseline"`
	LoadBefore string `json:"load_before"` // /proc/loadavg when the run started
	LoadAfter  string `json:"load_after"`
}

// sample is one redis-benchmark run of a part: a workload (e.g. "set P1",
// "disjoint") on a target (e.g. "baseline", "GOMAXPROCS=2", "bg same keys").
type sample struct {
	Part     string `json:"part"`
	Workload string `json:"workload"`
	Target   string `json:"target"`
	Round    int    `json:"round"`
	measurement
}

func (s sample) print() {
	fmt.Printf("  round %d  %-12s %-8s %-13s %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  proxy %6.2f µs/op  redis %5.2f µs/op",
		s.Round+1, s.Part, s.Workload, s.Target, s.RPS, s.P50ms, s.P99ms, s.ProxyCPU, s.RedisCPU)
	if s.BgRPS != 0 {
		fmt.Printf("  bg %.0f calls/s", s.BgRPS)
	}
	fmt.Println()
}

// row is the medians of a part's workload on a target over rounds.
type row struct {
	Part     string `json:"part"`
	Workload string `json:"workload"`
	Target   string `json:"target"`
	measurement
}

type results struct {
	Header  header   `json:"header"`
	Samples []sample `json:"samples"`
	Rows    []row    `json:"medians"`
}

// summarize computes the medians of every (part, workload, target), in the
// order the samples first name them.
func (r *results) summarize() {
	type key struct{ part, workload, target string }
	var order []key
	groups := map[key][]measurement{}
	for _, s := range r.Samples {
		k := key{s.Part, s.Workload, s.Target}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s.measurement)
	}
	r.Rows = nil
	for _, k := range order {
		ms := groups[k]
		med := func(f func(measurement) float64) float64 {
			v := make([]float64, len(ms))
			for i, m := range ms {
				v[i] = f(m)
			}
			return benchkit.Median(v)
		}
		r.Rows = append(r.Rows, row{Part: k.part, Workload: k.workload, Target: k.target, measurement: measurement{
			RPS:      med(func(m measurement) float64 { return m.RPS }),
			P50ms:    med(func(m measurement) float64 { return m.P50ms }),
			P99ms:    med(func(m measurement) float64 { return m.P99ms }),
			ProxyCPU: med(func(m measurement) float64 { return m.ProxyCPU }),
			RedisCPU: med(func(m measurement) float64 { return m.RedisCPU }),
			BgRPS:    med(func(m measurement) float64 { return m.BgRPS }),
		}})
	}
}

// find returns the medians of a workload on a target, and whether they
// were measured.
func (r *results) find(part, workload, target string) (measurement, bool) {
	for _, row := range r.Rows {
		if row.Part == part && row.Workload == workload && row.Target == target {
			return row.measurement, true
		}
	}
	return measurement{}, false
}

func (r *results) has(part string) bool {
	for _, row := range r.Rows {
		if row.Part == part {
			return true
		}
	}
	return false
}

// Targets of the issue.
const (
	maxLockCost = 0.05 // locking costs at most 5% of pass-through throughput
)

// render formats the medians of every part that ran, with the ratios each
// part is about, and checks the target.
func (r *results) render() string {
	var b strings.Builder
	h := r.Header
	fmt.Fprintf(&b, "medians of %d round(s); luaproxy: %s; baseline: %s\n", h.Rounds, h.Head, h.Baseline)
	fmt.Fprintf(&b, "load average (1, 5, 15 min): %s before, %s after\n", h.LoadBefore, h.LoadAfter)
	if r.has(partPassthrough) {
		r.renderPassthrough(&b)
	}
	if r.has(partScaling) {
		r.renderScaling(&b)
	}
	if r.has(partBackground) {
		r.renderBackground(&b)
	}
	return b.String()
}

func (r *results) renderPassthrough(b *strings.Builder) {
	h := r.Header
	keys := "one key"
	if h.PtKeys > 0 {
		keys = fmt.Sprintf("-r %d", h.PtKeys)
	}
	fmt.Fprintf(b, "\n## pass-through: lock cost with no script running (redis-benchmark -c %d -n %d, x10 at P16, %s)\n\n", h.Clients, h.N, keys)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\ttarget\treq/s\tx baseline\tx direct\tp50 ms\tp99 ms\tx baseline\tproxy µs CPU/op\tx baseline\t")
	type check struct {
		workload   string
		rps, cpu   float64
		measured   bool
		directRate float64
	}
	var checks []check
	for _, p := range passthroughPipelines {
		for _, test := range passthroughTests {
			w := passthroughWorkload(test, p)
			direct, _ := r.find(partPassthrough, w, targetDirect)
			base, okBase := r.find(partPassthrough, w, targetBaseline)
			head, okHead := r.find(partPassthrough, w, targetHead)
			for _, t := range []struct {
				name string
				m    measurement
			}{{targetDirect, direct}, {targetBaseline, base}, {targetHead, head}} {
				cpu, cpuRatio := "-", "-"
				if t.name != targetDirect {
					cpu = fmt.Sprintf("%.2f", t.m.ProxyCPU)
					cpuRatio = fmt.Sprintf("%.3f", benchkit.Ratio(t.m.ProxyCPU, base.ProxyCPU))
				}
				fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.3f\t%.2f\t%.3f\t%.3f\t%.2f\t%s\t%s\t\n", w, t.name, t.m.RPS,
					benchkit.Ratio(t.m.RPS, base.RPS), benchkit.Ratio(t.m.RPS, direct.RPS), t.m.P50ms, t.m.P99ms,
					benchkit.Ratio(t.m.P99ms, base.P99ms), cpu, cpuRatio)
			}
			checks = append(checks, check{w, benchkit.Ratio(head.RPS, base.RPS), benchkit.Ratio(head.ProxyCPU, base.ProxyCPU),
				okBase && okHead, benchkit.Ratio(head.RPS, direct.RPS)})
		}
	}
	tw.Flush()
	fmt.Fprintf(b, "\ntarget: locking costs <= %.0f%% of pass-through throughput (luaproxy/baseline >= %.2f)\n", maxLockCost*100, 1-maxLockCost)
	fmt.Fprintf(b, "(where load generator, Redis and proxies share a few cores, throughput moves by tens of percent\n from run to run; the proxy's CPU per request is the steady figure)\n")
	for _, c := range checks {
		mark := "FAIL"
		if c.rps >= 1-maxLockCost {
			mark = "ok  "
		}
		if !c.measured {
			mark = "n/a "
		}
		fmt.Fprintf(b, "  %s %-7s throughput %.3f x baseline (%+.1f%%), proxy CPU %.3f x baseline (%+.1f%%); %.2f x direct\n",
			mark, c.workload, c.rps, (c.rps-1)*100, c.cpu, (c.cpu-1)*100, c.directRate)
	}
}

func (r *results) renderScaling(b *strings.Builder) {
	h := r.Header
	fmt.Fprintf(b, "\n## script scaling: EVALSHA, -c %d -n %d, disjoint keys (-r %d) vs one hot key\n\n", h.Clients, h.ScriptN, h.Keyspace)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\ttarget\tcalls/s\tp50 ms\tp99 ms\tproxy µs CPU/call\tredis µs CPU/call\t")
	works := []string{workDisjoint, workHot}
	for _, w := range works {
		for _, t := range []string{targetNative, targetProcs1, targetProcs2} {
			m, ok := r.find(partScaling, w, t)
			if !ok {
				continue
			}
			cpu := "-"
			if t != targetNative {
				cpu = fmt.Sprintf("%.1f", m.ProxyCPU)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.3f\t%.3f\t%s\t%.1f\t\n", w, t, m.RPS, m.P50ms, m.P99ms, cpu, m.RedisCPU)
		}
	}
	tw.Flush()
	fmt.Fprintf(b, "\nscaling GOMAXPROCS=2 / GOMAXPROCS=1 (throughput):\n")
	for _, w := range works {
		p1, _ := r.find(partScaling, w, targetProcs1)
		p2, _ := r.find(partScaling, w, targetProcs2)
		nat, _ := r.find(partScaling, w, targetNative)
		fmt.Fprintf(b, "  %-8s %.2f x   (GOMAXPROCS=2 is %.2f x native)\n", w, benchkit.Ratio(p2.RPS, p1.RPS), benchkit.Ratio(p2.RPS, nat.RPS))
	}
}

func (r *results) renderBackground(b *strings.Builder) {
	h := r.Header
	fmt.Fprintf(b, "\n## pass-through under a background script load: SET/GET -c %d -n %d -r %d; background EVALSHA -c %d on other keys or on the same keys\n\n",
		h.Clients, h.N, h.FgKeys, h.BgClients)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "test\tcondition\treq/s\tx alone\tp50 ms\tp99 ms\tx alone\tbg script calls/s\t")
	for _, test := range passthroughTests {
		alone, _ := r.find(partBackground, test, condAlone)
		for _, c := range conditions {
			m, ok := r.find(partBackground, test, c)
			if !ok {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.3f\t%.3f\t%.3f\t%.2f\t%.0f\t\n", test, c, m.RPS, benchkit.Ratio(m.RPS, alone.RPS),
				m.P50ms, m.P99ms, benchkit.Ratio(m.P99ms, alone.P99ms), m.BgRPS)
		}
	}
	tw.Flush()
	fmt.Fprintf(b, "\n(the background load shares the machine's cores: \"bg other keys\" shows that cost alone,\n \"bg same keys\" adds waiting for the scripts' exclusive locks)\n")
}

// write stores the run as dir/locks-<time>.json and .md.
func (r *results) write(dir, table string) error {
	data := map[string]any{"header": r.Header, "medians": r.Rows, "samples": r.Samples}
	return benchkit.WriteResults(dir, "locks", data, func(stamp string) string {
		return "# luaproxy lock benchmark " + stamp + "\n\n" + benchkit.CodeBlock(table)
	})
}
