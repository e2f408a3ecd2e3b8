// Package corpus reads the differential script corpus: files of Lua cases
// that luaproxy must answer with the same bytes as Redis 7.0.
//
// # Case files
//
// testdata/*.txt hold cases. A line
//
//	-- <name> --
//
// starts a case; the lines up to the next such line are the script body
// (trailing blank lines dropped, lines joined with "\n"). The header may
// carry attributes after a " | " separator:
//
//		-- <name> | keys=a,b args=x,y resp=3 setup=SET,k,v setup=RPUSH,l,1,2 err --
//
//	  - keys=LIST, args=LIST: KEYS and ARGV of the EVAL. An empty value
//	    (args=) means none.
//	  - resp=2 or resp=3: run the case only with a RESP2 client or only
//	    with a RESP3 client (HELLO 3); by default it runs with both.
//	  - setup=LIST: a command run on the data set before the script (on the
//	    direct Redis and on luaproxy's upstream); may repeat.
//	  - err: the case is expected to reply with an error (checked against
//	    Redis, so that a typo in a case cannot pass for an intended error).
//
// A LIST is comma-separated. An item that holds a space, a comma, a quote
// or any unusual byte is written as a Go double-quoted string ("a b",
// "x,y", "\x00", ""). Attribute names never appear in case names, which is
// what keeps the syntax unambiguous.
//
// # Known differences
//
// testdata/known_differences.txt lists accepted differences, one a line:
//
//	<file>:<case name>  <reason>
//
// The case is separated from the reason by a tab or by two or more spaces.
// Blank lines and lines starting with # are ignored.
package corpus

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Case is one script of the corpus.
type Case struct {
	File   string // base name of the file, e.g. "strings.txt"
	Name   string
	Line   int // of the header, for messages
	Body   string
	Keys   []string
	Args   []string
	Protos []int      // client protocols to run with
	Setup  [][]string // commands run before the script
	Err    bool       // the reply is expected to be an error
}

// ID names a case in reports and in the known-differences file.
func (c *Case) ID() string { return c.File + ":" + c.Name }

// LoadDir reads every *.txt case file of dir except known_differences.txt,
// in name order.
func LoadDir(dir string) ([]*Case, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var all []*Case
	for _, p := range paths {
		if filepath.Base(p) == KnownFile {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		cases, err := Parse(filepath.Base(p), f)
		f.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, cases...)
	}
	return all, nil
}

var headerRE = regexp.MustCompile(`^-- (.+?) --$`)

// Parse reads the cases of one file.
func Parse(file string, r io.Reader) ([]*Case, error) {
	var (
		cases []*Case
		cur   *Case
		body  []string
		seen  = map[string]int{}
	)
	flush := func() {
		if cur == nil {
			return
		}
		for len(body) > 0 && strings.TrimSpace(body[len(body)-1]) == "" {
			body = body[:len(body)-1]
		}
		cur.Body = strings.Join(body, "\n")
		cases = append(cases, cur)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		m := headerRE.FindStringSubmatch(line)
		if m == nil {
			if cur == nil {
				if strings.TrimSpace(line) != "" {
					return nil, fmt.Errorf("%s:%d: text before the first case header", file, n)
				}
				continue
			}
			body = append(body, line)
			continue
		}
		flush()
		c, err := parseHeader(m[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n, err)
		}
		c.File, c.Line = file, n
		if prev, dup := seen[c.Name]; dup {
			return nil, fmt.Errorf("%s:%d: case %q already defined on line %d", file, n, c.Name, prev)
		}
		seen[c.Name] = n
		cur, body = c, nil
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	flush()
	return cases, nil
}

func parseHeader(h string) (*Case, error) {
	c := &Case{Protos: []int{2, 3}}
	name, attrs, found := strings.Cut(h, " | ")
	c.Name = strings.TrimSpace(name)
	if c.Name == "" {
		return nil, fmt.Errorf("empty case name")
	}
	if !found {
		return c, nil
	}
	for _, a := range splitAttrs(attrs) {
		key, val, _ := strings.Cut(a, "=")
		var err error
		switch key {
		case "keys":
			c.Keys, err = parseList(val)
		case "args":
			c.Args, err = parseList(val)
		case "setup":
			var cmd []string
			cmd, err = parseList(val)
			if err == nil && len(cmd) == 0 {
				err = fmt.Errorf("empty setup command")
			}
			c.Setup = append(c.Setup, cmd)
		case "resp":
			switch val {
			case "2":
				c.Protos = []int{2}
			case "3":
				c.Protos = []int{3}
			default:
				err = fmt.Errorf("resp must be 2 or 3, not %q", val)
			}
		case "err":
			c.Err = true
		default:
			err = fmt.Errorf("unknown attribute %q", key)
		}
		if err != nil {
			return nil, fmt.Errorf("case %q: %w", c.Name, err)
		}
	}
	return c, nil
}

// splitAttrs splits on spaces outside double-quoted strings.
func splitAttrs(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, escaped := false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case escaped:
			escaped = false
		case inQuote && ch == '\\':
			escaped = true
		case ch == '"':
			inQuote = !inQuote
		case ch == ' ' && !inQuote:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteByte(ch)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// parseList reads a comma-separated list whose items may be Go-quoted.
func parseList(s string) ([]string, error) {
	var out []string
	for len(s) > 0 {
		var item string
		if s[0] == '"' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("bad quoted item in %q", s)
			}
			item, _ = strconv.Unquote(q)
			s = s[len(q):]
		} else {
			i := strings.IndexByte(s, ',')
			if i < 0 {
				i = len(s)
			}
			item, s = s[:i], s[i:]
		}
		out = append(out, item)
		if s == "" {
			break
		}
		if s[0] != ',' {
			return nil, fmt.Errorf("expected ',' before %q", s)
		}
		s = s[1:]
		if s == "" {
			out = append(out, "")
		}
	}
	return out, nil
}

// KnownFile is the name of the accepted-differences list in testdata.
const KnownFile = "known_differences.txt"

// Known maps case IDs to the reason their difference is accepted.
type Known map[string]string

// LoadKnown reads a known-differences file; a missing file is an empty list.
func LoadKnown(path string) (Known, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return Known{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	known := Known{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason := splitKnown(line)
		if reason == "" || !strings.Contains(id, ":") {
			return nil, fmt.Errorf("%s:%d: want \"<file>:<case>  <reason>\"", path, n)
		}
		known[id] = reason
	}
	return known, sc.Err()
}

var knownSep = regexp.MustCompile(`\t|  +`)

func splitKnown(line string) (id, reason string) {
	loc := knownSep.FindStringIndex(line)
	if loc == nil {
		return line, ""
	}
	return strings.TrimSpace(line[:loc[0]]), strings.TrimSpace(line[loc[1]:])
}

// Write stores the list sorted, with a header comment.
func (k Known) Write(path string) error {
	ids := make([]string, 0, len(k))
	for id := range k {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	b.WriteString("# Differences between luaproxy and Redis 7.0.15 that are accepted, one per line:\n")
	b.WriteString("# <file>:<case name>  <reason>. Each must also be described in the README's\n")
	b.WriteString("# compatibility section. go test ./test/corpus fails on a listed case that is now identical.\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "%s  %s\n", id, k[id])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
