package passthrough

import (
	"testing"

	"github.com/luaproxy/luaproxy/test/harness"
)

// TestBlocking checks blocking commands woken by another client and by
// their timeouts.
func TestBlocking(t *testing.T) {
	h := harness.Start(t)
	wake := func(block []string, push ...string) []step {
		return []step{
			{Cmd: block, NoReply: true}, {WaitBlocked: 1}, on(1, push...), {Read: 1, Note: "woken"}, cmd("PING"),
		}
	}
	h.Run(t,
		scenario{Name: "blpop", Steps: wake([]string{"BLPOP", "l1", "l2", "0"}, "RPUSH", "l2", "a", "b")},
		scenario{Name: "brpop", Steps: wake([]string{"BRPOP", "l", "5"}, "LPUSH", "l", "x")},
		scenario{Name: "blmove", Steps: append(wake([]string{"BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"}, "RPUSH", "src", "a"),
			cmd("LRANGE", "dst", "0", "-1"))},
		scenario{Name: "blmpop", Steps: wake([]string{"BLMPOP", "0", "1", "l", "RIGHT", "COUNT", "2"}, "RPUSH", "l", "1", "2", "3")},
		scenario{Name: "xread block", Steps: wake([]string{"XREAD", "BLOCK", "0", "STREAMS", "s", "$"}, "XADD", "s", "5-1", "f", "v")},
		scenario{Name: "bzpopmin", Steps: wake([]string{"BZPOPMIN", "z", "0"}, "ZADD", "z", "2", "m")},
		scenario{Name: "bzpopmin resp3", Steps: append([]step{{Cmd: []string{"HELLO", "3"}, Norm: harness.HelloID}},
			wake([]string{"BZPOPMIN", "z", "0"}, "ZADD", "z", "2", "m")...)},
		scenario{Name: "timeouts", Steps: []step{
			cmd("BLPOP", "nope", "0.05"), cmd("BLMOVE", "a", "b", "LEFT", "LEFT", "0.05"), cmd("BZPOPMAX", "z", "0.05"),
			cmd("XREAD", "BLOCK", "50", "STREAMS", "s", "$"), cmd("BLPOP", "nope", "-1"), cmd("BLPOP", "nope", "x"),
			cmd("WAIT", "0", "0"), cmd("WAIT", "0", "10"),
		}},
		scenario{Name: "blocked in multi does not block", Steps: []step{
			cmd("MULTI"), cmd("BLPOP", "l", "0"), cmd("EXEC"),
		}},
		scenario{Name: "pipeline after blocking", Steps: []step{
			{Batch: [][]string{{"BLPOP", "l", "0"}, {"PING"}, {"GET", "k"}}, NoReply: true}, {WaitBlocked: 1},
			on(1, "RPUSH", "l", "v"), {Read: 3},
		}},
	)
}
