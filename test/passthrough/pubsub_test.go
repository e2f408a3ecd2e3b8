package passthrough

import (
	"testing"

	"github.com/luaproxy/luaproxy/test/harness"
)

// TestPubSub checks subscriptions and their messages in RESP2 and RESP3.
func TestPubSub(t *testing.T) {
	h := harness.Start(t)
	flow := func(resp3 bool) []step {
		var steps []step
		if resp3 {
			steps = append(steps, step{Cmd: []string{"HELLO", "3"}, Norm: harness.HelloID})
		}
		return append(steps,
			step{Cmd: []string{"SUBSCRIBE", "a", "b"}, Read: 2},
			on(1, "PUBLISH", "a", "hello"), step{Read: 1, Note: "message on a"},
			on(1, "PUBLISH", "nobody", "x"),
			step{Cmd: []string{"PSUBSCRIBE", "n*"}},
			on(1, "PUBLISH", "news", "extra"), step{Read: 1, Note: "pmessage"},
			on(1, "PUBLISH", "b", ""), step{Read: 1},
			cmd("PING"), cmd("PING", "x"), cmd("GET", "k"),
			on(1, "PUBSUB", "CHANNELS", "a"), on(1, "PUBSUB", "NUMSUB", "a", "zz"), on(1, "PUBSUB", "NUMPAT"),
			step{Cmd: []string{"UNSUBSCRIBE", "a", "b"}, Read: 2}, cmd("PUNSUBSCRIBE"), cmd("UNSUBSCRIBE"), // not a bare UNSUBSCRIBE of two: dict order is seeded
			cmd("SSUBSCRIBE", "s"), on(1, "SPUBLISH", "s", "sharded"), step{Read: 1}, on(1, "PUBSUB", "SHARDCHANNELS"),
			cmd("SUNSUBSCRIBE", "s"), cmd("PING"),
		)
	}
	h.Run(t,
		scenario{Name: "resp2", Steps: flow(false)},
		scenario{Name: "resp3", Steps: flow(true)},
		scenario{Name: "pipelined subscribe and publish", Steps: []step{
			{Batch: [][]string{{"SUBSCRIBE", "c"}, {"PING"}}}, on(1, "PUBLISH", "c", "m"), {Read: 1},
			{Batch: [][]string{{"UNSUBSCRIBE", "c"}, {"SET", "k", "v"}, {"GET", "k"}}},
		}},
		scenario{Name: "subscribe inside multi", Steps: []step{
			cmd("MULTI"), cmd("SUBSCRIBE", "x", "y"), cmd("PING"), cmd("EXEC"), on(1, "PUBLISH", "x", "m"), {Read: 1},
			cmd("PING"), {Cmd: []string{"UNSUBSCRIBE", "x", "y"}, Read: 2}, cmd("PING"),
		}},
		scenario{Name: "resp3 switch while subscribed", Steps: []step{
			cmd("SUBSCRIBE", "x"), {Cmd: []string{"HELLO", "3"}, Norm: harness.HelloID}, on(1, "PUBLISH", "x", "m"), {Read: 1},
			cmd("GET", "k"), {Cmd: []string{"HELLO", "2"}, Norm: harness.HelloID}, cmd("UNSUBSCRIBE", "x"), cmd("PING"),
		}},
		scenario{Name: "reset leaves subscriptions", Steps: []step{
			cmd("SUBSCRIBE", "c"), cmd("RESET"), on(1, "PUBLISH", "c", "m"), cmd("PING"),
		}},
	)
}
