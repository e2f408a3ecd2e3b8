package main

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// metricFamily is one metric of a /metrics page: its type and the label
// names its series carry (le and quantile left out).
type metricFamily struct {
	typ    string
	labels []string
}

// metricFamilies parses a Prometheus text page into its families.
func metricFamilies(t *testing.T, body string) map[string]metricFamily {
	t.Helper()
	fams := map[string]metricFamily{}
	labelName := regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)="(?:[^"\\]|\\.)*"`)
	current := ""
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) != 2 {
				t.Fatalf("bad TYPE line %q", line)
			}
			current = f[0]
			fams[current] = metricFamily{typ: f[1]}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") || current == "" {
			continue
		}
		name, labels, _ := strings.Cut(line, "{")
		if !strings.HasPrefix(name, current) {
			continue
		}
		fam := fams[current]
		if i := strings.LastIndexByte(labels, '}'); i >= 0 {
			for _, m := range labelName.FindAllStringSubmatch(labels[:i], -1) {
				if m[1] != "le" && m[1] != "quantile" && !slices.Contains(fam.labels, m[1]) {
					fam.labels = append(fam.labels, m[1])
				}
			}
		}
		slices.Sort(fam.labels)
		fams[current] = fam
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return fams
}

// readmeMetric is one row of the README's metrics reference:
// | `name` | type | `label`, `label` | meaning |.
type readmeMetric struct {
	name, typ string
	labels    []string
	line      int
}

func readmeMetrics(t *testing.T, path string) []readmeMetric {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `(luaproxy_[a-z0-9_]+)` \\| ([a-z]+) \\| ([^|]*)\\|")
	label := regexp.MustCompile("`([a-z_]+)`")
	var rows []readmeMetric
	in := false
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "## ") {
			in = line == "## Metrics reference"
			continue
		}
		if !in || !strings.HasPrefix(line, "| `luaproxy_") {
			continue
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("%s:%d: a metrics row not of the form | `name` | type | `label`, ... | meaning |", path, i+1)
			continue
		}
		r := readmeMetric{name: m[1], typ: m[2], line: i + 1}
		for _, l := range label.FindAllStringSubmatch(m[3], -1) {
			r.labels = append(r.labels, l[1])
		}
		slices.Sort(r.labels)
		rows = append(rows, r)
	}
	return rows
}

// checkReadmeMetrics compares the README's metrics reference with the
// luaproxy_ families served.
func checkReadmeMetrics(t *testing.T, served map[string]metricFamily) {
	rows := readmeMetrics(t, readmeFile)
	if len(rows) == 0 {
		t.Fatal("README.md has no metrics table under \"## Metrics reference\"")
	}
	listed := map[string]bool{}
	for _, r := range rows {
		if listed[r.name] {
			t.Errorf("README.md:%d: %s listed twice", r.line, r.name)
		}
		listed[r.name] = true
		f, ok := served[r.name]
		if !ok && len(r.labels) > 0 && inSource(t, r.name) {
			// A labelled family has no series until its first event,
			// which the workload may not cause (a lock wait needs a race).
			t.Logf("README.md:%d: %s is not served after the workload, but the code defines it", r.line, r.name)
			continue
		}
		if !ok {
			t.Errorf("README.md:%d: %s is not served by /metrics (after the test's workload)", r.line, r.name)
			continue
		}
		if f.typ != r.typ {
			t.Errorf("README.md:%d: %s is a %s, README says %s", r.line, r.name, f.typ, r.typ)
		}
		if !slices.Equal(f.labels, r.labels) {
			t.Errorf("README.md:%d: %s has labels %v, README says %v", r.line, r.name, f.labels, r.labels)
		}
	}
	for name, f := range served {
		if strings.HasPrefix(name, "luaproxy_") && !listed[name] {
			t.Errorf("%s (%s, labels %v) is served but missing from README.md's \"Metrics reference\"", name, f.typ, f.labels)
		}
	}
}

func TestMetricFamilies(t *testing.T) {
	body := `# HELP a_seconds x
# TYPE a_seconds histogram
a_seconds_bucket{fn="x",le="0.1"} 1
a_seconds_bucket{fn="x",le="+Inf"} 1
a_seconds_sum{fn="x"} 0.05
a_seconds_count{fn="x"} 1
# TYPE b_total counter
b_total 3
# TYPE c gauge
c{state="idle",x="a\"}b"} 1
`
	got := metricFamilies(t, body)
	want := map[string]metricFamily{
		"a_seconds": {typ: "histogram", labels: []string{"fn"}},
		"b_total":   {typ: "counter"},
		"c":         {typ: "gauge", labels: []string{"state", "x"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d families %v, want %d", len(got), got, len(want))
	}
	for name, w := range want {
		if g := got[name]; g.typ != w.typ || !slices.Equal(g.labels, w.labels) {
			t.Errorf("%s = %+v, want %+v", name, g, w)
		}
	}
}

// inSource reports whether a non-test Go file of luaproxy names the metric
// as a string literal.
func inSource(t *testing.T, name string) bool {
	t.Helper()
	lit := []byte(`"` + name + `"`)
	found := false
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found = strings.Contains(string(src), string(lit))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
