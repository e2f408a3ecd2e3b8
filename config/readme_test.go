package config

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

// readmePath is the README whose configuration table documents settings().
const readmePath = "../README.md"

// readmeSetting is one row of the README's configuration table.
type readmeSetting struct {
	name, def string
	line      int
}

// readmeSettings returns the rows of the table under "## Configuration":
// | `--name` | `default` | meaning |, the default cell empty for none.
func readmeSettings(t *testing.T) []readmeSetting {
	t.Helper()
	f, err := os.Open(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `--([a-z0-9-]+)` \\| (?:`([^`]*)`)? *\\|")
	var rows []readmeSetting
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Configuration"
			continue
		}
		if !in || !strings.HasPrefix(line, "| `--") {
			continue
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("README.md:%d: a configuration row not of the form | `--name` | `default` | meaning |: %s", n, line)
			continue
		}
		rows = append(rows, readmeSetting{name: m[1], def: m[2], line: n})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestReadmeConfiguration keeps the README's configuration reference and
// the settings table in step: the same settings in the same order, each
// with its real default (written as a user would type it: 512mb, 10s).
func TestReadmeConfiguration(t *testing.T) {
	rows := readmeSettings(t)
	if len(rows) == 0 {
		t.Fatal("README.md has no configuration table under \"## Configuration\"")
	}
	documented := map[string]readmeSetting{}
	for _, r := range rows {
		if _, dup := documented[r.name]; dup {
			t.Errorf("README.md:%d: --%s documented twice", r.line, r.name)
		}
		documented[r.name] = r
	}
	table := settings()
	known := map[string]bool{}
	def := Default()
	for _, s := range table {
		known[s.name] = true
		r, ok := documented[s.name]
		if !ok {
			t.Errorf("--%s (default %q) is missing from README.md's configuration table", s.name, s.get(&def))
			continue
		}
		want := s.get(&def)
		if r.def == "" {
			if want != "" {
				t.Errorf("README.md:%d: --%s shows no default, the code's is %q", r.line, s.name, want)
			}
			continue
		}
		// Parse the README's default as a user's value would be parsed,
		// so that 512mb and 536870912 agree.
		c := Default()
		if err := s.set(&c, r.def); err != nil {
			t.Errorf("README.md:%d: --%s default %q does not parse: %v", r.line, s.name, r.def, err)
			continue
		}
		if got := s.get(&c); got != want {
			t.Errorf("README.md:%d: --%s default %q is %q, the code's is %q", r.line, s.name, r.def, got, want)
		}
	}
	for _, r := range rows {
		if !known[r.name] {
			t.Errorf("README.md:%d: --%s is not a setting", r.line, r.name)
		}
	}
	// The same order as --help, so that readers find a setting in both.
	var order []string
	for _, r := range rows {
		if known[r.name] {
			order = append(order, r.name)
		}
	}
	var want []string
	for _, s := range table {
		if _, ok := documented[s.name]; ok {
			want = append(want, s.name)
		}
	}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("README.md lists the settings in another order than settings():\n got %v\nwant %v", order, want)
	}
}
