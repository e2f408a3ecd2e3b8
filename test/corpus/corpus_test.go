package corpus

import (
	"bytes"
	"flag"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

var (
	runFlag         = flag.String("corpus.run", "", "run only the cases whose <file>:<name> matches this regexp")
	redisOnlyFlag   = flag.Bool("corpus.redis-only", false, "only validate the cases against Redis (deterministic, no unintended errors), without luavm")
	updateKnownFlag = flag.Bool("corpus.update-known", false, "rewrite testdata/"+KnownFile+": drop cases now identical, add new differences as 'unclassified'")
	showFlag        = flag.Bool("corpus.show", false, "log every case's Redis reply")
)

// evaluator runs a case's script the way luaproxy does.
type evaluator interface {
	eval(c *Case, proto int) []byte
	// conn returns a RESP2 connection to the data set the evaluator's
	// scripts see, for FLUSHALL and setup commands.
	conn() *redistest.Conn
}

// direct runs scripts with EVAL on a scripting-enabled redis-server.
type direct struct {
	conns [2]*redistest.Conn // RESP2, RESP3
}

func newDirect(t *testing.T) *direct {
	srv := redistest.Start(t)
	d := &direct{conns: [2]*redistest.Conn{srv.Dial(t), srv.Dial(t)}}
	if r := d.conns[1].MustDo(t, "HELLO", "3"); len(r) == 0 || r[0] != '%' {
		t.Fatalf("HELLO 3: %q", r)
	}
	return d
}

func (d *direct) evalCmd(c *Case) []string {
	cmd := []string{"EVAL", c.Body, strconv.Itoa(len(c.Keys))}
	cmd = append(cmd, c.Keys...)
	return append(cmd, c.Args...)
}

func (d *direct) conn() *redistest.Conn { return d.conns[0] }

func (d *direct) run(t *testing.T, c *Case, proto int) []byte {
	return d.conns[proto-2].MustDo(t, d.evalCmd(c)...)
}

// prepare empties a data set and runs the case's setup commands on it.
func prepare(t *testing.T, conn *redistest.Conn, c *Case) {
	t.Helper()
	if r := conn.MustDo(t, "FLUSHALL"); string(r) != "+OK\r\n" {
		t.Fatalf("FLUSHALL: %q", r)
	}
	for _, cmd := range c.Setup {
		if r := conn.MustDo(t, cmd...); len(r) > 0 && r[0] == '-' {
			t.Fatalf("%s: setup %q: %q", c.ID(), cmd, r)
		}
	}
}

func selectCases(t *testing.T) []*Case {
	cases, err := LoadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if *runFlag == "" {
		return cases
	}
	re, err := regexp.Compile(*runFlag)
	if err != nil {
		t.Fatalf("-corpus.run: %v", err)
	}
	var out []*Case
	for _, c := range cases {
		if re.MatchString(c.ID()) {
			out = append(out, c)
		}
	}
	return out
}

func isErrorReply(b []byte) bool { return len(b) > 0 && b[0] == '-' }

// checkAgainstRedis reports cases that cannot be right whatever luaproxy
// does: a script that does not compile though not marked err, an expected
// error that did not happen, an unexpected one.
func checkAgainstRedis(t *testing.T, c *Case, proto int, reply []byte) {
	t.Helper()
	switch {
	case c.Err && !isErrorReply(reply):
		t.Errorf("%s (RESP%d): marked err but Redis replied %s", c.ID(), proto, quote(reply))
	case !c.Err && bytes.HasPrefix(reply, []byte("-ERR Error compiling script")):
		t.Errorf("%s (RESP%d): does not compile on Redis: %s", c.ID(), proto, quote(reply))
	}
}

// TestCorpus runs every case on Redis with EVAL and through luavm, with a
// RESP2 and a RESP3 client, and compares the raw replies.
func TestCorpus(t *testing.T) {
	cases := selectCases(t)
	if len(cases) == 0 {
		t.Skip("no case selected")
	}
	knownPath := filepath.Join("testdata", KnownFile)
	known, err := LoadKnown(knownPath)
	if err != nil {
		t.Fatal(err)
	}
	ref := newDirect(t)
	if *redisOnlyFlag {
		validateOnRedis(t, ref, cases)
		return
	}
	lv := newLuavm(t)

	type tally struct{ same, total int }
	perFile := map[string]*tally{}
	var files []string
	var unexpected, stale []string
	newKnown := Known{}
	for id, reason := range known {
		newKnown[id] = reason
	}
	for _, c := range cases {
		tl := perFile[c.File]
		if tl == nil {
			tl = &tally{}
			perFile[c.File] = tl
			files = append(files, c.File)
		}
		var diffs []string
		for _, proto := range c.Protos {
			prepare(t, ref.conn(), c)
			want := ref.run(t, c, proto)
			checkAgainstRedis(t, c, proto, want)
			prepare(t, lv.conn(), c)
			got := lv.eval(c, proto)
			if *showFlag {
				t.Logf("%s (RESP%d): %s", c.ID(), proto, quote(want))
			}
			if !bytes.Equal(got, want) {
				diffs = append(diffs, fmt.Sprintf("  RESP%d\n    redis:   %s\n    luaproxy: %s", proto, quote(want), quote(got)))
			}
		}
		tl.total++
		_, listed := known[c.ID()]
		switch {
		case len(diffs) == 0:
			tl.same++
			if listed {
				stale = append(stale, c.ID())
				delete(newKnown, c.ID())
			}
		case !listed:
			unexpected = append(unexpected, fmt.Sprintf("%s (line %d)\n%s", c.ID(), c.Line, strings.Join(diffs, "\n")))
			newKnown[c.ID()] = "unclassified"
		}
	}

	same, total := 0, 0
	for _, f := range files {
		tl := perFile[f]
		same += tl.same
		total += tl.total
		t.Logf("%-28s %4d/%-4d identical", f, tl.same, tl.total)
	}
	t.Logf("corpus: %d/%d cases identical (%d known differences listed)", same, total, len(known))
	fmt.Printf("corpus summary: %d/%d cases identical\n", same, total)

	if *updateKnownFlag && (len(unexpected) > 0 || len(stale) > 0) {
		if *runFlag != "" {
			t.Log("-corpus.update-known with -corpus.run: only the selected cases were updated")
		}
		if err := newKnown.Write(knownPath); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s", knownPath)
	}
	sort.Strings(stale)
	for _, id := range stale {
		t.Errorf("%s is listed in %s but is now identical: remove it (and its README entry)", id, KnownFile)
	}
	for _, u := range unexpected {
		t.Errorf("unexpected difference: %s", u)
	}
}

// validateOnRedis checks the cases alone: each runs twice on Redis and must
// reply the same both times (no time, addresses or unseeded randomness),
// and must not fail to compile or contradict its err mark.
func validateOnRedis(t *testing.T, ref *direct, cases []*Case) {
	errs := 0
	for _, c := range cases {
		for _, proto := range c.Protos {
			prepare(t, ref.conn(), c)
			first := ref.run(t, c, proto)
			prepare(t, ref.conn(), c)
			second := ref.run(t, c, proto)
			if !bytes.Equal(first, second) {
				t.Errorf("%s (RESP%d): not deterministic on Redis:\n  %s\n  %s", c.ID(), proto, quote(first), quote(second))
			}
			checkAgainstRedis(t, c, proto, first)
			if isErrorReply(first) {
				errs++
			}
			if *showFlag {
				t.Logf("%s (RESP%d): %s", c.ID(), proto, quote(first))
			}
		}
	}
	t.Logf("validated %d cases on Redis (%d error replies)", len(cases), errs)
}

func quote(b []byte) string {
	const max = 2000
	if len(b) > max {
		return strconv.Quote(string(b[:max/2])) + fmt.Sprintf("...(%d bytes)...", len(b)) + strconv.Quote(string(b[len(b)-max/2:]))
	}
	return strconv.Quote(string(b))
}

// deadline bounds one luavm script run so that a runaway case fails
// instead of hanging the test.
const deadline = 20 * time.Second
