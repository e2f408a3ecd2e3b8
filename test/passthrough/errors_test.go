package passthrough

import (
	"testing"

	"github.com/luaproxy/luaproxy/test/harness"
)

// TestErrorReplies checks that Redis's error replies reach the client
// unchanged.
func TestErrorReplies(t *testing.T) {
	h := harness.Start(t)
	h.Run(t,
		scenario{Name: "wrong type", Steps: []step{
			cmd("SET", "s", "x"), cmd("LPUSH", "s", "a"), cmd("HGET", "s", "f"), cmd("INCR", "s"), cmd("ZADD", "s", "x", "m"),
		}},
		scenario{Name: "unknown command", Steps: []step{
			cmd("NOSUCHCOMMAND"), cmd("NOSUCHCOMMAND", "a", "b c", "d"), cmd("CONFIG", "NOSUCH"), cmd("CLIENT", "NOSUCH", "x"),
		}},
		scenario{Name: "wrong arity", Steps: []step{
			cmd("GET"), cmd("SET", "a"), cmd("HSET", "h", "f"), cmd("PING", "a", "b"), cmd("XADD", "s"),
		}},
		scenario{Name: "bad arguments", Steps: []step{
			cmd("SET", "a", "b", "EX", "0"), cmd("SET", "a", "b", "PX", "x"), cmd("EXPIRE", "a", "x"), cmd("SELECT", "99"),
			cmd("SELECT", "x"), cmd("OBJECT", "ENCODING", "nope"), cmd("INCRBYFLOAT", "n", "inf"),
		}},
	)
}

// TestTransactions covers MULTI, EXEC, DISCARD and WATCH.
func TestTransactions(t *testing.T) {
	h := harness.Start(t)
	h.Run(t,
		scenario{Name: "exec", Steps: []step{
			cmd("MULTI"), cmd("SET", "a", "1"), cmd("INCR", "a"), cmd("LPUSH", "a", "x"), cmd("GET", "a"), cmd("EXEC"),
		}},
		scenario{Name: "discard", Steps: []step{
			cmd("MULTI"), cmd("SET", "a", "1"), cmd("DISCARD"), cmd("GET", "a"), cmd("DISCARD"), cmd("EXEC"),
		}},
		scenario{Name: "execabort", Steps: []step{
			cmd("MULTI"), cmd("SET", "a"), cmd("NOSUCH"), cmd("SET", "b", "1"), cmd("EXEC"), cmd("GET", "b"),
		}},
		scenario{Name: "nested multi and watch inside multi", Steps: []step{
			cmd("MULTI"), cmd("MULTI"), cmd("WATCH", "a"), cmd("PING"), cmd("EXEC"),
		}},
		scenario{Name: "watch conflict", Steps: []step{
			cmd("SET", "k", "1"), cmd("WATCH", "k"), on(1, "SET", "k", "2"), cmd("MULTI"), cmd("SET", "k", "3"),
			cmd("EXEC"), cmd("GET", "k"),
		}},
		scenario{Name: "watch no conflict and unwatch", Steps: []step{
			cmd("WATCH", "k"), cmd("UNWATCH"), on(1, "SET", "k", "2"), cmd("MULTI"), cmd("SET", "k", "3"), cmd("EXEC"),
			cmd("WATCH", "j"), cmd("MULTI"), cmd("INCR", "j"), cmd("EXEC"),
		}},
		scenario{Name: "pipelined transaction", Steps: []step{
			{Batch: [][]string{{"MULTI"}, {"INCR", "c"}, {"INCR", "c"}, {"GET", "c"}, {"EXEC"}}},
		}},
		scenario{Name: "select", Steps: []step{
			cmd("SET", "a", "db0"), cmd("SELECT", "3"), cmd("GET", "a"), cmd("SET", "a", "db3"), on(1, "GET", "a"),
			cmd("SWAPDB", "0", "3"), cmd("GET", "a"), on(1, "GET", "a"), cmd("MOVE", "a", "5"), cmd("SELECT", "5"), cmd("GET", "a"),
			cmd("MULTI"), cmd("SELECT", "0"), cmd("GET", "a"), cmd("EXEC"), cmd("GET", "a"),
		}},
	)
}
