package passthrough

import (
	"testing"

	"github.com/luaproxy/luaproxy/test/harness"
)

// TestRESP3 checks HELLO and the RESP3 encodings of every reply kind.
func TestRESP3(t *testing.T) {
	h := harness.Start(t)
	hello := func(args ...string) step {
		return step{Cmd: append([]string{"HELLO"}, args...), Norm: harness.HelloID}
	}
	h.Run(t,
		scenario{Name: "hello", Steps: []step{
			hello(), hello("2"), hello("3"), hello("4"), hello("x"), hello("3", "SETNAME", "n"), cmd("CLIENT", "GETNAME"),
			hello("2"), cmd("CLIENT", "GETNAME"),
		}},
		scenario{Name: "reply kinds", Steps: []step{
			hello("3"),
			cmd("HSET", "h", "a", "1", "b", "2"), cmd("HGETALL", "h"), cmd("HGETALL", "nope"),
			cmd("SADD", "s", "1", "2", "3"), cmd("SMEMBERS", "s"), cmd("SINTER", "s", "nope"),
			cmd("ZADD", "z", "1.5", "a", "2", "b", "inf", "c"), cmd("ZSCORE", "z", "a"), cmd("ZSCORE", "z", "c"), cmd("ZINCRBY", "z", "1", "b"),
			cmd("ZRANGE", "z", "0", "-1", "WITHSCORES"), cmd("ZPOPMIN", "z"), cmd("ZMSCORE", "z", "b", "nope"), cmd("ZRANDMEMBER", "z", "0"),
			cmd("GET", "nope"), cmd("LPOP", "nope"), cmd("BLPOP", "nope", "0.01"), cmd("MGET", "h", "nope"),
			cmd("XADD", "st", "1-1", "f", "v"), cmd("XINFO", "STREAM", "st"), cmd("XREAD", "STREAMS", "st", "0"),
			cmd("CONFIG", "GET", "maxmemory-policy"), cmd("COMMAND", "INFO", "GET"), cmd("COMMAND", "DOCS", "ECHO"),
			cmd("ZADD", "z", "NaN", "x"), cmd("NOSUCH"), cmd("INCRBYFLOAT", "f", "0.1"), cmd("OBJECT", "HELP"),
		}},
		scenario{Name: "every reply type", Steps: debugProtocol()},
		scenario{Name: "every reply type pipelined", Steps: []step{
			{Cmd: []string{"HELLO", "3"}, Norm: harness.HelloID},
			{Batch: [][]string{{"DEBUG", "PROTOCOL", "attrib"}, {"DEBUG", "PROTOCOL", "push"}, {"PING"}, {"DEBUG", "PROTOCOL", "map"}},
				Read: 6, Note: "attrib and push replies are each followed by a real reply"},
		}},
		scenario{Name: "pipelined protocol switch", Steps: []step{
			{Batch: [][]string{{"HGETALL", "h"}, {"HELLO", "3"}, {"HSET", "h", "a", "1"}, {"HGETALL", "h"}, {"HELLO", "2"}, {"HGETALL", "h"}},
				Norm: harness.HelloID},
		}},
		scenario{Name: "client name and info", Steps: []step{
			cmd("CLIENT", "SETNAME", "alpha"), cmd("CLIENT", "GETNAME"), cmd("CLIENT", "SETNAME", "has space"),
			cmd("CLIENT", "SETNAME", ""), cmd("CLIENT", "GETNAME"), {Cmd: []string{"CLIENT", "ID"}, Norm: harness.AnyInteger},
			{Cmd: []string{"CLIENT", "INFO"}, Norm: harness.AnyBulk}, cmd("CLIENT", "NO-EVICT", "on"),
		}},
		scenario{Name: "tracking push invalidation", Steps: []step{
			hello("3"), cmd("CLIENT", "TRACKING", "on"), cmd("SET", "k", "1"), cmd("GET", "k"),
			on(1, "SET", "k", "2"), {Read: 1, Note: "invalidate push"}, cmd("GET", "k"),
			cmd("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p:"), cmd("CLIENT", "TRACKING", "off"),
			cmd("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p:"), on(1, "SET", "p:x", "1"), {Read: 1, Note: "bcast push"},
			cmd("CLIENT", "TRACKINGINFO"), cmd("CLIENT", "CACHING", "yes"),
		}},
		scenario{Name: "tracking optin", Steps: []step{
			hello("3"), cmd("CLIENT", "TRACKING", "on", "OPTIN"), cmd("CLIENT", "CACHING", "yes"), cmd("GET", "a"),
			cmd("GET", "b"), on(1, "MSET", "a", "1", "b", "2"), {Read: 1}, cmd("PING"),
		}},
	)
}

// debugProtocol asks for every RESP type with DEBUG PROTOCOL, in RESP2 and
// then in RESP3, where attributes and pushes come before a real reply.
func debugProtocol() []step {
	types := []string{"string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib", "push", "verbatim", "true", "false", "nosuch"}
	var steps []step
	for _, proto := range []string{"2", "3"} {
		steps = append(steps, step{Cmd: []string{"HELLO", proto}, Norm: harness.HelloID})
		for _, ty := range types {
			st := cmd("DEBUG", "PROTOCOL", ty)
			if proto == "3" && (ty == "attrib" || ty == "push") {
				st.Read = 2
			}
			steps = append(steps, st)
		}
	}
	return steps
}
