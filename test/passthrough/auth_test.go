package passthrough

import (
	"strings"
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

// TestAuthPassThrough gives luaproxy no credentials: clients authenticate
// themselves through it, and until they do they get Redis's -NOAUTH and
// its tighter protocol limits for unauthenticated clients.
func TestAuthPassThrough(t *testing.T) {
	h := harness.Start(t,
		harness.WithServerSetup(
			[]string{"ACL", "SETUSER", "alice", "on", ">wonderland", "~*", "&*", "+@all"},
			[]string{"CONFIG", "SET", "requirepass", "secret"}),
		harness.WithServerAuth("secret"))
	h.Run(t,
		scenario{Name: "noauth", Steps: []step{
			cmd("GET", "a"), cmd("PING"), cmd("SELECT", "1"), cmd("MULTI"), cmd("HELLO", "3"), cmd("AUTH", "nope"),
			cmd("AUTH", "secret"), cmd("SET", "a", "1"), cmd("GET", "a"),
		}},
		scenario{Name: "pipelined auth", Steps: []step{
			{Batch: [][]string{{"GET", "a"}, {"AUTH", "alice", "wonderland"}, {"SET", "a", "2"}, {"ACL", "WHOAMI"}}},
		}},
		scenario{Name: "hello auth", Steps: []step{
			{Cmd: []string{"HELLO", "3", "AUTH", "alice", "wonderland", "SETNAME", "n"}, Norm: harness.HelloID},
			cmd("CLIENT", "GETNAME"), cmd("HGETALL", "nope"),
		}},
		scenario{Name: "unauthenticated multibulk limit", Steps: []step{
			{Raw: "*11\r\n", ExpectClose: true},
		}},
		scenario{Name: "unauthenticated bulk limit", Steps: []step{
			{Raw: "*2\r\n$3\r\nGET\r\n$16385\r\n", ExpectClose: true},
		}},
		scenario{Name: "authenticated limits are wider", Steps: []step{
			cmd("AUTH", "secret"), {Raw: "*11\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\ne\r\n$1\r\n5\r\n"},
			cmd("MGET", "a", "e"),
		}},
	)
}

// TestAuthProxyCredentials pins what credentials in the upstream URL mean:
// luaproxy's upstream connections start authenticated, so a client that
// never sends AUTH acts as that user. Whoever can reach luaproxy can use
// them; the listen address must be protected accordingly.
func TestAuthProxyCredentials(t *testing.T) {
	h := harness.Start(t,
		harness.WithServerSetup(
			[]string{"ACL", "SETUSER", "alice", "on", ">wonderland", "~*", "&*", "+@all"},
			[]string{"CONFIG", "SET", "requirepass", "secret"}),
		harness.WithServerAuth("secret"),
		harness.WithUpstreamURL(func(addr string) string { return "redis://alice:wonderland@" + addr }))
	c := h.DialProxy(t)
	if got := c.MustDo(t, "ACL", "WHOAMI"); string(got) != "$5\r\nalice\r\n" {
		t.Errorf("ACL WHOAMI without AUTH = %q, want alice", got)
	}
	if got := c.MustDo(t, "RESET"); string(got) != "+RESET\r\n" {
		t.Errorf("RESET = %q", got)
	}
	// RESET returns a connection to its initial state, which through
	// luaproxy is logged in as the URL's user (a direct Redis would
	// answer -NOAUTH here, its initial state being unauthenticated).
	if got := c.MustDo(t, "ACL", "WHOAMI"); string(got) != "$5\r\nalice\r\n" {
		t.Errorf("ACL WHOAMI after RESET = %q, want alice", got)
	}
	d := h.Direct.Dial(t)
	d.MustDo(t, "AUTH", "alice", "wonderland")
	d.MustDo(t, "RESET")
	if got := d.MustDo(t, "ACL", "WHOAMI"); !strings.HasPrefix(string(got), "-NOAUTH") {
		t.Errorf("direct ACL WHOAMI after RESET = %q, want -NOAUTH", got)
	}
}
