package luavm

import (
	"testing"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// TestACLDifferential runs scripts as a user with restricted permissions.
func TestACLDifferential(t *testing.T) {
	d := newDiffEnv(t, Config{PoolSize: 1})
	d.direct[2].MustDo(t, "ACL", "SETUSER", "limited", "on", ">pw", "+@all", "-set", "~allowed*", "&chan*", "-debug")
	for _, c := range []*redistest.Conn{d.direct[2], d.direct[3], d.caller.c2, d.caller.c3} {
		if reply := c.MustDo(t, "AUTH", "limited", "pw"); string(reply) != "+OK\r\n" {
			t.Fatalf("AUTH: %q", reply)
		}
	}
	cases := []evalCase{
		{script: "return redis.call('get', 'allowed1')"},
		{script: "return redis.call('set', 'allowed1', 'v')"},
		{script: "return redis.pcall('set', 'allowed1', 'v')"},
		{script: "return redis.call('get', 'secret')"},
		{script: "return redis.pcall('get', 'secret')"},
		{script: "return redis.pcall('publish', 'other', 'm')"},
		{script: "return redis.call('publish', 'chan1', 'm')"},
		{script: "return redis.acl_check_cmd('get', 'allowed1')"},
		{script: "return redis.acl_check_cmd('get', 'secret')"},
		{script: "return redis.acl_check_cmd('set', 'allowed1', 'v')"},
	}
	for _, c := range cases {
		want := d.redisNoReset(t, c)
		got := d.luavmNoReset(t, c)
		if string(got) != string(want) {
			t.Errorf("%q:\n got %q\nwant %q", c.script, got, want)
		}
	}
}
