package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// dashboardFile is the Grafana dashboard shipped for luaproxy; readmeFile
// lists every metric in its "Metrics reference".
const (
	dashboardFile = "../../deploy/grafana/luaproxy.json"
	readmeFile    = "../../README.md"
)

// TestServedMetrics runs luaproxy against a real Redis with a workload
// that gives every labelled metric a series, then checks /metrics against
// the Grafana dashboard (every query names a served series) and against
// the README's metrics reference (every luaproxy_ metric listed, with its
// type and labels, and nothing listed that is not served).
//
// A second luaproxy in active/standby mode adds the lease's series.
func TestServedMetrics(t *testing.T) {
	up := redistest.Start(t, redistest.ScriptingDisabledArgs()...)
	body := scrapeAfterWorkload(t, up)
	standby := scrapeStandby(t, up)

	names := sampleNames(t, body)
	for n := range sampleNames(t, standby) {
		names[n] = true
	}
	fams := metricFamilies(t, body)
	for n, f := range metricFamilies(t, standby) {
		if _, ok := fams[n]; !ok {
			fams[n] = f
		}
	}
	t.Run("dashboard", func(t *testing.T) { checkDashboard(t, names) })
	t.Run("values", func(t *testing.T) { checkWorkloadValues(t, body) })
	t.Run("readme", func(t *testing.T) { checkReadmeMetrics(t, fams) })
}

// checkDashboard checks that every query of the Grafana dashboard names
// only series in served.
func checkDashboard(t *testing.T, served map[string]bool) {
	exprs := dashboardQueries(t, dashboardFile)
	if len(exprs) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	used := map[string]bool{}
	for _, e := range exprs {
		names := promqlMetricNames(e)
		if len(names) == 0 {
			t.Errorf("query names no metric: %s", e)
		}
		for _, n := range names {
			used[n] = true
			if !served[n] {
				t.Errorf("query uses %s, which /metrics does not serve: %s", n, e)
			}
		}
	}
	var unused []string
	for n := range served {
		if strings.HasPrefix(n, "luaproxy_") && !used[n] {
			unused = append(unused, n)
		}
	}
	sort.Strings(unused)
	t.Logf("%d queries, %d series names; luaproxy series not on the dashboard: %v", len(exprs), len(used), unused)
}

// grafanaDashboard is the part of Grafana's dashboard JSON with queries.
type grafanaDashboard struct {
	Title      string         `json:"title"`
	UID        string         `json:"uid"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	Title   string         `json:"title"`
	Type    string         `json:"type"`
	Panels  []grafanaPanel `json:"panels"` // of a collapsed row
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// dashboardQueries parses the dashboard and returns the PromQL of every
// panel target and query variable.
func dashboardQueries(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("dashboard lacks a title or uid")
	}
	var exprs []string
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		// label_values(metric, label): the metric must exist.
		if m := regexp.MustCompile(`^label_values\((\w+),\s*\w+\)$`).FindStringSubmatch(q.Query); m != nil {
			exprs = append(exprs, m[1])
		} else {
			exprs = append(exprs, q.Query)
		}
	}
	return exprs
}

var (
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promqlNumbers  = regexp.MustCompile(`\b\d[\w.]*`) // numbers and durations (5m)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
)

// promqlKeywords are the PromQL words that are not metric names when no
// parenthesis follows them.
var promqlKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}

// promqlMetricNames returns the metric names a PromQL expression selects:
// the identifiers left once strings, label matchers, range selectors and
// grouping clauses and numbers are removed, other than function calls and keywords.
func promqlMetricNames(expr string) []string {
	s := promqlStrings.ReplaceAllString(expr, `""`)
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlRanges.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllString(s, " ")
	s = promqlNumbers.ReplaceAllString(s, " ")
	var names []string
	for _, m := range promqlIdent.FindAllStringSubmatch(s, -1) {
		if m[1] != "" || promqlKeywords[strings.ToLower(m[0])] {
			continue // a function call or a keyword
		}
		names = append(names, m[0])
	}
	return names
}

func TestPromqlMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{`up`, "up"},
		{`sum by (route) (rate(luaproxy_commands_total{instance=~"$instance", route="x{y}"}[$__rate_interval]))`, "luaproxy_commands_total"},
		{`histogram_quantile(0.99, sum by (le, function) (rate(a_bucket[5m])))`, "a_bucket"},
		{`sum(rate(a[1m])) / sum(rate(b[1m])) and on (instance) c offset 5m`, "a b c"},
		{`topk(10, x)`, "x"},
		{`1 + 2`, ""},
	}
	for _, tt := range tests {
		if got := strings.Join(promqlMetricNames(tt.expr), " "); got != tt.want {
			t.Errorf("promqlMetricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// scrapeAfterWorkload runs luaproxy against a real Redis, runs a workload
// that gives every labelled metric a series, and returns its /metrics.
func scrapeAfterWorkload(t *testing.T, up *redistest.Server) string {
	t.Helper()
	args := []string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream", "redis://" + up.Addr}
	at, errw, stop, done := startRun(t, args)
	defer func() {
		stop <- syscall.SIGTERM
		if code := <-done; code != 0 {
			t.Errorf("exit %d: %s", code, errw.String())
		}
	}()

	c := redistest.Dial(t, at.Listen.String())
	lib := "#!lua name=dash\n" +
		"redis.register_function('ok', function() return redis.call('SET', 'k', 'v') end)\n" +
		"redis.register_function('fail', function() return redis.error_reply('ERR no') end)\n"
	for _, cmd := range [][]string{
		{"SET", "a", "1"},
		{"EVAL", "return redis.call('GET', KEYS[1])", "1", "a"},
		{"EVAL", "return redis.error_reply('ERR boom')", "0"},
		{"SCRIPT", "LOAD", "return 1"},
		{"EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"},
		{"EVALSHA", "0000000000000000000000000000000000000000", "0"},
		{"FUNCTION", "LOAD", lib},
		{"FCALL", "ok", "0"},
		{"FCALL", "fail", "0"},
		{"FCALL", "missing", "0"},
	} {
		if _, err := c.Do(cmd...); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}

	return scrape(t, at.Admin.String())
}

// checkWorkloadValues checks samples that scrapeAfterWorkload's commands
// set, among them those only the binary serves (the registry version).
func checkWorkloadValues(t *testing.T, body string) {
	for _, want := range []string{
		`luaproxy_script_runs_total{name="ok",type="function"} 1`,
		`luaproxy_script_run_errors_total{error="err",name="fail",type="function"} 1`,
		`luaproxy_script_run_errors_total{error="noscript",name="other",type="script"} 1`,
		`luaproxy_script_run_calls_sum{name="ok",type="function"} 1`,
		`luaproxy_function_not_found_total 1`,
		`luaproxy_script_cache_scripts{kind="load"} 1`,
		`luaproxy_upstream_rtt_seconds_count{path="script"} 2`,
	} {
		if !strings.Contains(body, "\n"+want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// FUNCTION LOAD changed the registry: its version is past 0.
	m := regexp.MustCompile(`(?m)^luaproxy_registry_version (\d+)$`).FindStringSubmatch(body)
	if m == nil || m[1] == "0" {
		t.Errorf("luaproxy_registry_version = %v, want > 0", m)
	}
}

// scrapeStandby runs luaproxy in active/standby mode and returns its
// /metrics as soon as it has started (holding the lease or not: the lease
// series exist either way).
func scrapeStandby(t *testing.T, up *redistest.Server) string {
	t.Helper()
	args := []string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream", "redis://" + up.Addr,
		"--lease-key", "luaproxy:metrics-test", "--lease-ttl", "1s"}
	at, errw, stop, done := startRun(t, args)
	defer func() {
		stop <- syscall.SIGTERM
		if code := <-done; code != 0 {
			t.Errorf("exit %d: %s", code, errw.String())
		}
	}()
	return scrape(t, at.Admin.String())
}

// scrape returns the /metrics page of the admin server at addr.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// sampleNames returns the sample names of a /metrics page (histograms as
// their _bucket, _sum and _count series).
func sampleNames(t *testing.T, body string) map[string]bool {
	t.Helper()
	served := map[string]bool{}
	sample := regexp.MustCompile(`^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]`)
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if m := sample.FindStringSubmatch(sc.Text()); m != nil {
			served[m[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return served
}
