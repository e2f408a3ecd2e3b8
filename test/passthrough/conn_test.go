package passthrough

import (
	"fmt"
	"strings"
	"testing"

	"github.com/luaproxy/luaproxy/test/harness"
)

// TestConnectionCommands covers MONITOR, RESET, QUIT and inline commands.
func TestConnectionCommands(t *testing.T) {
	h := harness.Start(t)
	h.Run(t,
		scenario{Name: "monitor", Steps: []step{
			on(1, "MONITOR"), cmd("SET", "a", "b"), cmd("GET", "a"),
			{Conn: 1, Read: 2, Norm: harness.MonitorLine},
		}},
		scenario{Name: "reset", Steps: []step{
			cmd("SELECT", "3"), cmd("SET", "a", "3"), cmd("CLIENT", "SETNAME", "x"), cmd("MULTI"), cmd("SET", "a", "4"),
			cmd("RESET"), cmd("GET", "a"), cmd("CLIENT", "GETNAME"), {Cmd: []string{"HELLO", "3"}, Norm: harness.HelloID},
			cmd("RESET"), cmd("HGETALL", "nope"),
		}},
		scenario{Name: "quit", Steps: []step{cmd("SET", "a", "1"), {Cmd: []string{"QUIT"}, ExpectClose: true}}},
		scenario{Name: "quit pipelined", Steps: []step{{Batch: [][]string{{"PING"}, {"QUIT"}, {"PING"}}, Read: 2, ExpectClose: true}}},
		scenario{Name: "inline", Steps: []step{
			{Raw: "PING\r\n"}, {Raw: "PING\n"}, {Raw: "SET \"a b\" 'c d'\r\n"}, cmd("GET", "a b"),
			{Raw: "ECHO \"\\x41\\n\\t\"\r\n"}, {Raw: "\r\n\r\nPING\r\n", Note: "empty lines are skipped"},
			{Raw: "   GET   \"a b\"   \r\n"}, {Raw: "PING\r\nPING\r\nECHO x\r\n", Read: 3}, {Raw: "NOSUCH a\r\n"},
			{Raw: "SET x \"unbalanced\r\n", ExpectClose: true},
		}},
	)
}

// TestMalformedRequests checks that protocol errors produce Redis's exact
// error and then a closed connection.
func TestMalformedRequests(t *testing.T) {
	h := harness.Start(t)
	cases := map[string]string{
		"bad multibulk length": "*abc\r\n",
		"negative bulk length": "*1\r\n$-5\r\n",
		"bad bulk length":      "*1\r\n$x\r\n",
		"missing dollar":       "*1\r\n:5\r\n",
		"bulk too long":        "*1\r\n$1073741824\r\n",
		"multibulk too long":   "*2147483648\r\n",
		"second bulk too long": "*2\r\n$4\r\nPING\r\n$99999999999\r\n",
		"after valid command":  "*1\r\n$4\r\nPING\r\n*1\r\n$4x\r\n",
	}
	var scenarios []scenario
	for name, raw := range cases {
		scenarios = append(scenarios, scenario{Name: name, Steps: []step{
			cmd("PING"), {Raw: raw, Read: strings.Count(raw, "PING\r\n*"), ExpectClose: true},
		}})
	}
	h.Run(t, scenarios...)
}

// TestClientReply checks CLIENT REPLY OFF and SKIP, which break the
// one-reply-per-command rule a proxy relies on.
func TestClientReply(t *testing.T) {
	h := harness.Start(t)
	h.Run(t,
		scenario{Name: "off and on", Steps: []step{
			{Cmd: []string{"CLIENT", "REPLY", "OFF"}, NoReply: true}, {Cmd: []string{"SET", "a", "1"}, NoReply: true},
			{Cmd: []string{"GET", "a"}, NoReply: true}, cmd("CLIENT", "REPLY", "ON"), cmd("GET", "a"),
		}},
		scenario{Name: "skip", Steps: []step{
			{Cmd: []string{"CLIENT", "REPLY", "SKIP"}, NoReply: true}, {Cmd: []string{"INCR", "n"}, NoReply: true},
			cmd("INCR", "n"), cmd("CLIENT", "REPLY", "BAD"),
		}},
		scenario{Name: "pipelined", Steps: []step{
			{Batch: [][]string{{"CLIENT", "REPLY", "OFF"}, {"INCR", "n"}, {"SUBSCRIBE", "x"}, {"UNSUBSCRIBE", "x"}, {"CLIENT", "REPLY", "ON"}, {"GET", "n"}}, Read: 2},
		}},
	)
}

// TestSplitRequests writes requests in small pieces, so that luaproxy's
// parser sees every possible split point.
func TestSplitRequests(t *testing.T) {
	h := harness.Start(t)
	resp := func(args ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		return b.String()
	}
	big := strings.Repeat("abcdefgh", 40000)
	h.Run(t,
		scenario{Name: "byte by byte", Steps: []step{
			{Raw: resp("SET", "k", "v\r\nx") + resp("GET", "k") + "PING\r\n" + "ECHO \"a b\"\r\n" + resp("PING"), Chunk: 1, Read: 5},
			{Raw: "*2\r\n$3\r\nGET\r\n$x\r\n", Chunk: 1, ExpectClose: true},
		}},
		scenario{Name: "big value in pieces", Steps: []step{
			{Raw: resp("SET", "big", big) + resp("STRLEN", "big"), Chunk: 1000, Read: 2}, cmd("GETRANGE", "big", "-5", "-1"),
		}},
		scenario{Name: "pieces of seven", Steps: []step{
			{Raw: strings.Repeat(resp("INCR", "n")+"INCR n\r\n", 50), Chunk: 7, Read: 100},
		}},
	)
}
