// Package scripting tests luaproxy's answers to EVAL, EVALSHA, their _RO
// forms and SCRIPT end to end: the same command sequences go to a real
// Redis with scripting and through luaproxy in front of a Redis without
// it, and the replies must be the same bytes.
package scripting

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/luavm"
	"github.com/luaproxy/luaproxy/proxy"
	"github.com/luaproxy/luaproxy/test/harness"
)

type (
	step     = harness.Step
	scenario = harness.Scenario
)

func cmd(args ...string) step { return step{Cmd: args} }

// start runs luaproxy with a Scripting handler in front of a
// scripting-disabled upstream.
func start(t *testing.T, opts ...harness.Option) *harness.Harness {
	t.Helper()
	vm, err := luavm.New(luavm.Config{PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Close)
	h := proxy.NewScripting(vm, proxy.ScriptingOptions{}, nil, nil)
	return harness.Start(t, append([]harness.Option{harness.WithHandler(h)}, opts...)...)
}

const (
	sha40    = "0123456789abcdef0123456789abcdef01234567"
	return1  = "return 1"
	sha1Ret1 = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db" // SHA1 of "return 1"
)

// argumentScenarios are the argument checks of EVAL, EVALSHA and SCRIPT.
func argumentScenarios() []scenario {
	var out []scenario
	for _, name := range []string{"EVAL", "EVAL_RO", "eval", "EVALSHA", "EVALSHA_RO", "evalsha_ro"} {
		script := return1
		if strings.HasPrefix(strings.ToUpper(name), "EVALSHA") {
			script = sha1Ret1
		}
		out = append(out, scenario{Name: "args " + name, Steps: []step{
			cmd("SCRIPT", "LOAD", return1),
			cmd(name),
			cmd(name, script),
			cmd(name, script, "x"),
			cmd(name, script, "1"),
			cmd(name, script, "2", "a"),
			cmd(name, script, "-1"),
			cmd(name, script, "-1", "a"),
			cmd(name, script, "01"),
			cmd(name, script, "+1", "a"),
			cmd(name, script, " 1", "a"),
			cmd(name, script, "1.0", "a"),
			cmd(name, script, "99999999999999999999"),
			cmd(name, script, "9223372036854775807"),
			cmd(name, script, "-9223372036854775808"),
			cmd(name, script, ""),
			cmd(name, script, "0"),
			cmd(name, script, "1", "k", "a"),
		}})
	}
	out = append(out, scenario{Name: "evalsha lookups", Steps: []step{
		cmd("SCRIPT", "FLUSH"),
		cmd("EVALSHA", "short", "0"),
		cmd("EVALSHA", "short", "x"),
		cmd("EVALSHA", sha40, "x"),
		cmd("EVALSHA", sha40, "0"),
		cmd("EVALSHA", strings.Repeat("z", 40), "0"),
		cmd("EVALSHA", sha1Ret1, "0"),
		cmd("EVAL", return1, "0"),
		cmd("EVALSHA", sha1Ret1, "0"),
		cmd("EVALSHA", strings.ToUpper(sha1Ret1), "0"),
		cmd("EVALSHA_RO", strings.ToUpper(sha1Ret1), "0"),
		cmd("SCRIPT", "EXISTS", sha1Ret1, strings.ToUpper(sha1Ret1), sha40, "short", ""),
		cmd("SCRIPT", "FLUSH"),
		cmd("EVALSHA", sha1Ret1, "0"),
		cmd("SCRIPT", "EXISTS", sha1Ret1),
	}})
	return out
}

func scriptScenarios() []scenario {
	return []scenario{
		{Name: "script subcommands", Steps: []step{
			cmd("SCRIPT", "FLUSH"),
			cmd("SCRIPT"),
			cmd("script"),
			cmd("SCRIPT", "HELP"),
			cmd("script", "help"),
			cmd("Script", "Help"),
			cmd("SCRIPT", "HELP", "x"),
			cmd("SCRIPT", "FOO"),
			cmd("script", "foo", "bar"),
			cmd("SCRIPT", "a\r\nb"),
			cmd("SCRIPT", strings.Repeat("x", 200)),
			cmd("SCRIPT", "LOAD"),
			cmd("SCRIPT", "LOAD", "a", "b"),
			cmd("SCRIPT", "load", return1),
			cmd("SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"),
			cmd("SCRIPT", "LOAD", "return +"),
			cmd("SCRIPT", "LOAD", "#!lua flags=bogus\nreturn 1"),
			cmd("SCRIPT", "EXISTS", "1fca9d9e06d4fd3a1ffd7f3c2eb3e0e82bd4e2bb"),
			cmd("SCRIPT", "EXISTS"),
			cmd("SCRIPT", "EXISTS", sha1Ret1),
			cmd("SCRIPT", "FLUSH", "ASYNC"),
			cmd("SCRIPT", "EXISTS", sha1Ret1),
			cmd("SCRIPT", "FLUSH", "sync"),
			cmd("SCRIPT", "FLUSH", "bad"),
			cmd("SCRIPT", "FLUSH", "sync", "async"),
			cmd("SCRIPT", "KILL"),
			cmd("SCRIPT", "KILL", "x"),
			cmd("SCRIPT", "DEBUG"),
			cmd("SCRIPT", "DEBUG", "NO"),
			cmd("SCRIPT", "DEBUG", "maybe"),
		}},
		{Name: "eval caches for evalsha", Steps: []step{
			cmd("SCRIPT", "FLUSH"),
			cmd("EVAL", "return {KEYS[1], ARGV[1], #KEYS, #ARGV}", "1", "k", "a", "b"),
			cmd("EVALSHA", "c409b22118a2ba735eedfdba813c9a5a0dfebc85", "1", "k", "a", "b"),
			cmd("EVAL", "return error_here(", "0"),
			cmd("SCRIPT", "EXISTS", "8b4f6fc314275ad7bf36c6f5df54141ddbb9401e", "2c629bb5a96608e69af706765b522dcf69f1375e"),
			cmd("EVAL", "#!lua flags=bogus\nreturn 1", "0"),
			cmd("EVAL", "#!lua flags=no-writes\nreturn 1", "0"),
			cmd("EVAL_RO", "#!lua\nreturn 1", "0"),
			cmd("EVAL", "return redis.call('nosuch')", "0"),
			cmd("SCRIPT", "EXISTS", "206396248e12c6e742fd7296250433c8d7343b74"),
		}},
	}
}

func callScenarios() []scenario {
	return []scenario{
		{Name: "script sees pipelined writes", Steps: []step{
			{Batch: [][]string{
				{"SET", "k", "v1"},
				{"EVAL", "return redis.call('GET', KEYS[1])", "1", "k"},
				{"APPEND", "k", "x"},
				{"EVAL", "return redis.call('GET', KEYS[1])", "1", "k"},
				{"SELECT", "3"},
				{"SET", "k", "db3"},
				{"EVAL", "return redis.call('GET', KEYS[1])", "1", "k"},
				{"SELECT", "0"},
				{"EVAL", "return redis.call('GET', KEYS[1])", "1", "k"},
			}},
		}},
		{Name: "select inside a script", Steps: []step{
			cmd("SELECT", "1"),
			cmd("EVAL", "redis.call('SELECT', 2); redis.call('SET', 'x', 'in2'); return redis.call('GET', 'x')", "0"),
			cmd("GET", "x"),
			cmd("SELECT", "2"),
			cmd("GET", "x"),
			cmd("EVAL", "return redis.pcall('SELECT', 99)", "0"),
			cmd("EVAL", "redis.call('SELECT', 0); return redis.call('SET', 'x', 'in0')", "0"),
			cmd("GET", "x"),
			cmd("SELECT", "0"),
			cmd("GET", "x"),
		}},
		{Name: "errors from calls", Steps: []step{
			cmd("SET", "s", "str"),
			cmd("EVAL", "return redis.call('INCR', KEYS[1])", "1", "s"),
			cmd("EVAL", "return redis.pcall('INCR', KEYS[1])", "1", "s"),
			cmd("EVAL", "return redis.call('LPUSH', KEYS[1], 'a')", "1", "s"),
			cmd("EVAL_RO", "return redis.call('SET', KEYS[1], 'a')", "1", "s"),
			cmd("EVAL", "return redis.call('GET')", "0"),
			cmd("EVAL", "return redis.call('EVAL', 'return 1', 0)", "0"),
			cmd("EVAL", "return redis.call('BLPOP', 'l', 0)", "0"),
			cmd("EVAL", "return redis.call('MULTI')", "0"),
			cmd("GET", "s"),
		}},
		{Name: "time twice", Steps: []step{
			cmd("EVAL", "local a = redis.call('TIME'); local b = redis.call('TIME'); "+
				"return {#a, #b, tonumber(a[1]) <= tonumber(b[1]), type(a[2])}", "0"),
		}},
	}
}

// respScenarios run on a RESP2 and on a RESP3 connection.
func respScenarios() []scenario {
	return []scenario{
		{Name: "conversions", Steps: []step{
			// One field only: go-lua iterates tables in another order than
			// Lua 5.1, which shows in RESP3 maps built from Lua tables.
			cmd("HSET", "h", "f", "v"),
			cmd("SADD", "set", "a"),
			cmd("EVAL", "return redis.call('HGETALL', KEYS[1])", "1", "h"),
			cmd("EVAL", "redis.setresp(3); return redis.call('HGETALL', KEYS[1])", "1", "h"),
			cmd("EVAL", "redis.setresp(3); return redis.call('SMEMBERS', KEYS[1])", "1", "set"),
			cmd("EVAL", "redis.setresp(3); return redis.call('GET', 'missing')", "0"),
			cmd("EVAL", "return redis.call('GET', 'missing')", "0"),
			cmd("EVAL", "redis.setresp(3); local t = redis.call('HGETALL', KEYS[1]); redis.setresp(2); "+
				"return {t.map.f, redis.call('HGETALL', KEYS[1])}", "1", "h"),
			cmd("EVAL", "return {1, 'two', {3}, redis.status_reply('OK'), false, 3.99}", "0"),
			cmd("EVAL", "return redis.error_reply('MY bad')", "0"),
			cmd("EVAL", "return {double = 3.5}", "0"),
			cmd("EVAL", "redis.setresp(3); return redis.call('DEBUG', 'PROTOCOL', 'double')", "0"),
			cmd("HGETALL", "h"),
		}},
	}
}

func TestDifferential(t *testing.T) {
	h := start(t, harness.WithUpstreamArgs("--enable-debug-command", "yes"),
		harness.WithDirectArgs("--enable-debug-command", "yes"))
	h.Run(t, argumentScenarios()...)
	h.Run(t, scriptScenarios()...)
	h.Run(t, callScenarios()...)
	h.Run(t, respScenarios()...)
	for _, sc := range respScenarios() {
		sc.Name += " resp3"
		sc.Steps = append([]step{{Cmd: []string{"HELLO", "3"}, Norm: harness.AnyBulk}}, sc.Steps...)
		sc.Steps[0].Norm = func(b []byte) []byte { return []byte("<hello>") }
		h.Run(t, sc)
	}
	for _, sc := range callScenarios() {
		sc.Name += " resp3"
		sc.Steps = append([]step{{Cmd: []string{"HELLO", "3"}, Norm: func(b []byte) []byte { return []byte("<hello>") }}}, sc.Steps...)
		h.Run(t, sc)
	}
}

// TestACL runs scripts as a user that may not run GET: the refusal reads
// as Redis words it for scripts.
func TestACL(t *testing.T) {
	setup := []string{"ACL", "SETUSER", "u", "on", ">p", "~*", "&*", "+@all", "-get"}
	h := start(t, harness.WithServerSetup(setup))
	h.Run(t, scenario{Name: "noperm", Steps: []step{
		cmd("AUTH", "u", "p"),
		cmd("SET", "k", "v"),
		cmd("EVAL", "return redis.call('GET', KEYS[1])", "1", "k"),
		cmd("EVAL", "return redis.pcall('GET', KEYS[1])", "1", "k"),
		cmd("EVAL", "return redis.call('STRLEN', KEYS[1])", "1", "k"),
		cmd("EVAL", "return redis.acl_check_cmd('GET', 'k')", "0"),
		cmd("EVAL", "return redis.acl_check_cmd('SET', 'k', 'v')", "0"),
		cmd("EVAL", "return redis.call('ACL', 'WHOAMI')", "0"),
	}})
}

// TestGoRedisScript uses go-redis's Script, which tries EVALSHA and falls
// back to EVAL on NOSCRIPT.
func TestGoRedisScript(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: h.ProxyAddr})
	defer c.Close()
	s := redis.NewScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
	for i, want := range []int64{5, 10, 15} {
		got, err := s.Run(ctx, c, []string{"counter"}, 5).Int64()
		if err != nil || got != want {
			t.Fatalf("run %d: got %v, %v; want %d", i, got, err, want)
		}
	}
	if ok, err := s.Exists(ctx, c).Result(); err != nil || len(ok) != 1 || !ok[0] {
		t.Fatalf("SCRIPT EXISTS: %v %v", ok, err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Run(ctx, c, []string{"counter"}, 1).Int64(); err != nil || got != 16 {
		t.Fatalf("after flush: %v %v", got, err)
	}
	ro, err := s.RunRO(ctx, c, []string{"counter"}, 1).Result()
	if err == nil || !strings.Contains(err.Error(), "Write commands are not allowed from read-only scripts") {
		t.Fatalf("RunRO: %v %v", ro, err)
	}
}

// TestNoAuth runs scripts on a connection that has not authenticated to an
// upstream that requires a password.
func TestNoAuth(t *testing.T) {
	h := start(t,
		harness.WithServerSetup([]string{"CONFIG", "SET", "requirepass", "secret"}),
		harness.WithServerAuth("secret"))
	h.Run(t, scenario{Name: "noauth", Steps: []step{
		cmd("EVAL", "return redis.call('GET', 'k')", "0"),
		cmd("EVAL", "return redis.pcall('GET', 'k')", "0"),
		{Cmd: []string{"HELLO", "3"}},
		cmd("EVAL", "redis.setresp(3); return redis.call('GET', 'k')", "0"),
		cmd("AUTH", "secret"),
		cmd("EVAL", "return redis.call('GET', 'k')", "0"),
	}})
}

func multiScenarios() []scenario {
	get := "return redis.call('GET', KEYS[1])"
	return []scenario{
		{Name: "scripts in multi", Steps: []step{
			cmd("SCRIPT", "LOAD", return1),
			cmd("MULTI"),
			cmd("SET", "k", "v"),
			cmd("EVAL", get, "1", "k"),
			cmd("INCR", "n"),
			cmd("EVALSHA", sha1Ret1, "0"),
			cmd("APPEND", "k", "w"),
			cmd("EVAL", get, "1", "k"),
			cmd("BLPOP", "nolist", "0"),
			cmd("EVALSHA", sha40, "0"),
			cmd("EVAL", get, "x"),
			cmd("INCR", "k"),
			cmd("SCRIPT", "EXISTS", sha1Ret1),
			cmd("EXEC"),
			cmd("GET", "k"),
		}},
		{Name: "script first in multi", Steps: []step{
			cmd("MULTI"),
			cmd("EVAL", "return redis.call('INCR', 'c')", "0"),
			cmd("EVAL", "return redis.call('INCR', 'c')", "0"),
			cmd("MULTI"),
			cmd("WATCH", "c"),
			cmd("EXEC"),
			cmd("EXEC"),
			cmd("GET", "c"),
		}},
		{Name: "discard", Steps: []step{
			cmd("MULTI"),
			cmd("SET", "a", "1"),
			cmd("EVAL", "return redis.call('SET', 'b', '1')", "0"),
			cmd("SET", "c", "1"),
			cmd("DISCARD"),
			cmd("MGET", "a", "b", "c"),
			cmd("DISCARD"),
		}},
		{Name: "queue-time errors", Steps: []step{
			cmd("MULTI"),
			cmd("EVAL", "return 1"),
			cmd("EVAL", return1, "0"),
			cmd("EXEC"),
			cmd("MULTI"),
			cmd("EVAL", return1, "0"),
			cmd("EVALSHA", sha1Ret1),
			cmd("SCRIPT", "NOPE"),
			cmd("EXEC"),
			cmd("MULTI"),
			cmd("SET", "x", "1"),
			cmd("SCRIPT", "LOAD"),
			cmd("EXEC"),
			cmd("GET", "x"),
		}},
		{Name: "watch", Steps: []step{
			cmd("SET", "w", "1"),
			cmd("WATCH", "w"),
			{Conn: 1, Cmd: []string{"SET", "w", "2"}},
			cmd("MULTI"),
			cmd("EVAL", "return redis.call('SET', 'w', '3')", "0"),
			cmd("EXEC"),
			cmd("GET", "w"),
			cmd("WATCH", "w"),
			cmd("MULTI"),
			cmd("EVAL", "return redis.call('SET', 'w', '3')", "0"),
			cmd("EXEC"),
			cmd("GET", "w"),
		}},
		{Name: "pipelined transaction", Steps: []step{
			{Batch: [][]string{
				{"MULTI"},
				{"EVAL", "return redis.call('RPUSH', KEYS[1], ARGV[1])", "1", "q", "a"},
				{"EVAL", "return redis.call('RPUSH', KEYS[1], ARGV[1])", "1", "q", "b"},
				{"LRANGE", "q", "0", "-1"},
				{"EXEC"},
				{"LLEN", "q"},
			}},
		}},
	}
}

func TestMulti(t *testing.T) {
	h := start(t)
	h.Run(t, multiScenarios()...)
	for _, sc := range multiScenarios() {
		sc.Name += " resp3"
		sc.Steps = append([]step{{Cmd: []string{"HELLO", "3"}, Norm: func(b []byte) []byte { return []byte("<hello>") }}}, sc.Steps...)
		h.Run(t, sc)
	}
}

// TestOOM runs scripts while the upstream is over maxmemory: a script that
// declares flags is refused up front unless it allows OOM or writes nothing.
func TestOOM(t *testing.T) {
	h := start(t)
	h.Run(t, scenario{Name: "oom", Steps: []step{
		cmd("SET", "x", "123"),
		cmd("CONFIG", "SET", "maxmemory", "1"),
		cmd("EVAL", "redis.call('set','x',1) return 1", "1", "x"),
		cmd("EVAL", "return redis.call('get','x')", "1", "x"),
		cmd("EVAL", "#!lua flags=\nreturn 1", "0"),
		cmd("EVAL", "#!lua\nreturn 1", "0"),
		cmd("EVAL_RO", "#!lua\nreturn 1", "0"),
		cmd("EVAL", "#!lua flags=no-writes\nreturn redis.call('get','x')", "0"),
		cmd("EVAL", "#!lua flags=allow-oom\nreturn 1", "0"),
		cmd("EVAL", "#!lua flags=bogus\nreturn 1", "0"),
		cmd("SCRIPT", "LOAD", "#!lua\nreturn 2"),
		cmd("EVALSHA", "327e60b78547ebb77ec450ead371d5bd10cbdd69", "0"),
		cmd("CONFIG", "SET", "maxmemory", "0"),
		cmd("EVAL", "#!lua\nreturn 1", "0"),
	}})
}

// TestDisableDenyScripts: after DEBUG SET-DISABLE-DENY-SCRIPTS 1, Redis's
// own test hook, scripts may call noscript commands such as DEBUG
// PROTOCOL, and every RESP3 type the upstream sends converts as in Redis.
func TestDisableDenyScripts(t *testing.T) {
	debug := []string{"--enable-debug-command", "yes"}
	h := start(t, harness.WithUpstreamArgs(debug...), harness.WithDirectArgs(debug...))
	var steps []step
	steps = append(steps,
		cmd("EVAL", "return redis.call('debug', 'protocol', 'bignum')", "0"),
		cmd("DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1"))
	for _, resp := range []string{"2", "3"} {
		for _, typ := range []string{"bignum", "map", "set", "double", "null", "verbatim", "true", "false", "attrib"} {
			steps = append(steps, cmd("EVAL", "redis.setresp("+resp+") return redis.call('debug', 'protocol', '"+typ+"')", "0"))
		}
	}
	steps = append(steps,
		cmd("DEBUG", "SET-DISABLE-DENY-SCRIPTS", "0"),
		cmd("EVAL", "return redis.call('debug', 'protocol', 'bignum')", "0"))
	h.Run(t, scenario{Name: "resp2", Steps: steps},
		scenario{Name: "resp3", Steps: append([]step{{Cmd: []string{"HELLO", "3"}, Norm: harness.HelloID}}, steps...)})
}

// TestNoReplicas: with min-replicas-to-write unmet, Redis refuses a script
// whose shebang allows writes before running it, and the writes of a
// script without a shebang one by one.
func TestNoReplicas(t *testing.T) {
	h := start(t)
	h.Run(t, scenario{Name: "noreplicas", Steps: []step{
		cmd("SET", "x", "some value"),
		cmd("CONFIG", "SET", "min-replicas-to-write", "1"),
		cmd("EVAL", "#!lua flags=no-writes\nreturn redis.call('get','x')", "1", "x"),
		cmd("EVAL", "return redis.call('get','x')", "1", "x"),
		cmd("EVAL", "#!lua\nreturn redis.call('get','x')", "1", "x"),
		cmd("EVAL", "#!lua flags=allow-oom\nreturn 1", "0"),
		cmd("EVAL", "return redis.call('set','x', 1)", "1", "x"),
		cmd("EVAL", "return redis.pcall('set','x', 1)", "1", "x"),
		cmd("CONFIG", "SET", "min-replicas-to-write", "0"),
		cmd("EVAL", "#!lua\nreturn redis.call('get','x')", "1", "x"),
	}})
}

// TestACLCheckRestrictedUser: redis.acl_check_cmd for a user that may run
// neither ACL WHOAMI nor ACL DRYRUN (Redis's own "Script ACL check"), with
// scripts' calls on shared connections and on the client's own.
func TestACLCheckRestrictedUser(t *testing.T) {
	setup := []string{"ACL", "SETUSER", "bob", "on", ">123", "+@scripting", "+set", "~x*"}
	steps := []step{
		cmd("AUTH", "bob", "123"),
		cmd("EVAL", "return redis.acl_check_cmd('set','xx',1)", "1", "xx"),
		cmd("EVAL", "return redis.acl_check_cmd('hset','xx','f',1)", "1", "xx"),
		cmd("EVAL", "return redis.acl_check_cmd('set','yy',1)", "0"),
		cmd("EVAL", "return redis.acl_check_cmd('invalid-cmd','arg')", "0"),
		cmd("AUTH", "default", "nopass-wrong"),
		cmd("RESET"),
		cmd("EVAL", "return redis.acl_check_cmd('hset','xx','f',1)", "1", "xx"),
	}
	for _, conns := range []int{0, 2} {
		t.Run(fmt.Sprintf("script-upstream-conns=%d", conns), func(t *testing.T) {
			h := start(t, harness.WithServerSetup(setup), harness.WithConfig(func(c *config.Config) { c.ScriptUpstreamConns = conns }))
			h.Run(t, scenario{Name: "bob", Steps: steps})
		})
	}
}
