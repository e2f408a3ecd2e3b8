package passthrough

import (
	"testing"

	"github.com/luaproxy/luaproxy/test/harness"
)

// TestAuth runs both servers with a default-user password and an ACL
// user. luaproxy authenticates its own upstream connections with the
// password in its upstream URL; a client's AUTH and HELLO AUTH still pass
// through and switch the user on the upstream connection.
func TestAuth(t *testing.T) {
	h := harness.Start(t,
		harness.WithServerSetup(
			[]string{"ACL", "SETUSER", "alice", "on", ">wonderland", "~*", "&*", "+@all"},
			[]string{"ACL", "SETUSER", "bob", "on", ">builder", "~b:*", "+get", "+set", "+acl|whoami"},
			[]string{"CONFIG", "SET", "requirepass", "secret"}),
		harness.WithServerAuth("secret"),
		harness.WithUpstreamURL(func(addr string) string { return "redis://:secret@" + addr }))
	h.Run(t,
		scenario{Name: "auth", Steps: []step{
			// No "command before AUTH" step: luaproxy's upstream connection is
			// already authenticated by its URL, so it would not get -NOAUTH.
			cmd("AUTH", "wrong"), cmd("AUTH", "alice", "wrong"), cmd("AUTH", "a", "b", "c"), cmd("AUTH", "alice", "wonderland"),
			cmd("ACL", "WHOAMI"), cmd("SET", "x", "1"), cmd("AUTH", "bob", "builder"), cmd("ACL", "WHOAMI"),
			cmd("SET", "x", "2"), cmd("SET", "b:x", "2"), cmd("GET", "b:x"), cmd("INCR", "b:x"), cmd("AUTH", "secret"),
			cmd("ACL", "WHOAMI"), cmd("GET", "x"),
		}},
		scenario{Name: "hello auth setname", Steps: []step{
			{Cmd: []string{"HELLO", "3", "AUTH", "alice", "wonderland", "SETNAME", "n"}, Norm: harness.HelloID},
			cmd("CLIENT", "GETNAME"), cmd("ACL", "WHOAMI"), cmd("HSET", "h", "f", "v"), cmd("HGETALL", "h"),
			{Cmd: []string{"HELLO", "3", "AUTH", "alice", "nope"}, Norm: harness.HelloID}, cmd("ACL", "WHOAMI"),
			{Cmd: []string{"HELLO", "2", "AUTH", "bob", "builder"}, Norm: harness.HelloID}, cmd("ACL", "WHOAMI"),
			cmd("HGETALL", "h"),
		}},
	)
}
