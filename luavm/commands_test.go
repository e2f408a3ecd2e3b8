package luavm

import (
	"context"
	"testing"

	"github.com/luaproxy/luaproxy/internal/cmdinfo"
)

// TestConfigCommands checks that redis.call judges commands by
// Config.Commands: a module command the upstream's COMMAND describes gets
// the same checks as Redis's own, and an undescribed one goes through.
func TestConfigCommands(t *testing.T) {
	module, err := cmdinfo.Parse([]byte("*2\r\n" +
		"*10\r\n$8\r\nmod.kill\r\n:2\r\n*1\r\n+noscript\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*0\r\n*0\r\n" +
		"*10\r\n$7\r\nmod.put\r\n:-2\r\n*1\r\n+write\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n*0\r\n*0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	withModule, err := New(Config{PoolSize: 1, Commands: cmdinfo.Builtin().Merge(module)})
	if err != nil {
		t.Fatal(err)
	}
	defer withModule.Close()
	plain, err := New(Config{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	tests := []struct {
		vm     *VM
		script string
		ro     bool
		want   string
	}{
		{withModule, "return redis.pcall('MOD.KILL', 'x')", false, "-ERR This Redis command is not allowed from script\r\n"},
		{withModule, "return redis.pcall('mod.put')", false, "-ERR Wrong number of args calling Redis command from script\r\n"},
		{withModule, "return redis.pcall('mod.put', 'k')", true, "-ERR Write commands are not allowed from read-only scripts.\r\n"},
		{withModule, "return redis.pcall('mod.put', 'k')", false, "+OK\r\n"},
		{plain, "return redis.pcall('mod.kill', 'x')", false, "+OK\r\n"},
		{plain, "return redis.pcall('client', 'nosuch')", false, "-ERR Unknown Redis command called from script\r\n"},
		{plain, "return redis.pcall('publish', 'c', 'm')", true, "-ERR Write commands are not allowed from read-only scripts.\r\n"},
	}
	for _, tc := range tests {
		req := Request{Proto: 2, ReadOnly: tc.ro, Caller: fixedCaller("+OK\r\n")}
		if got := string(tc.vm.Eval(context.Background(), []byte(tc.script), req)); got != tc.want {
			t.Errorf("%s (read-only %v) = %q, want %q", tc.script, tc.ro, got, tc.want)
		}
	}
}
