package main

import (
	"context"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/cmdinfo"
	"github.com/luaproxy/luaproxy/internal/redistest"
)

func commandArgv(args ...string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

func TestLoadCommands(t *testing.T) {
	tests := []struct {
		name      string
		extra     []string // redis-server arguments; nil: no server at all
		password  string   // requirepass set once the server runs
		auth      string   // user:password@ in the upstream URL
		fromRedis bool
	}{
		{name: "scripting renamed away", extra: redistest.ScriptingDisabledArgs(), fromRedis: true},
		{name: "password", extra: []string{}, password: "s3cret", auth: ":s3cret@", fromRedis: true},
		{name: "wrong password", extra: []string{}, password: "s3cret", auth: ":nope@"},
		{name: "no upstream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.UpstreamDialTimeout = 2 * time.Second
			if tc.extra != nil {
				s := redistest.Start(t, tc.extra...)
				if tc.password != "" {
					s.Dial(t).MustDo(t, "CONFIG", "SET", "requirepass", tc.password)
				}
				cfg.Upstream = "redis://" + tc.auth + s.Addr
			} else {
				port, err := redistest.FreePort()
				if err != nil {
					t.Fatal(err)
				}
				cfg.Upstream = "redis://127.0.0.1:" + strconv.Itoa(port)
			}
			core, logs := observer.New(zapcore.InfoLevel)
			tbl := loadCommands(context.Background(), cfg, zap.New(core))

			loaded := logs.FilterMessage("command table loaded from the upstream").Len() == 1
			warned := logs.FilterLevelExact(zapcore.WarnLevel).Len() == 1
			if loaded != tc.fromRedis || warned == tc.fromRedis {
				t.Fatalf("loaded from upstream %v, warned %v; want loaded %v: %v", loaded, warned, tc.fromRedis, logs.All())
			}
			if tbl.Len() != cmdinfo.Builtin().Len() {
				t.Errorf("table has %d commands, Redis 7.0.15 %d", tbl.Len(), cmdinfo.Builtin().Len())
			}
			// Scripting commands stay known even where renamed away, and
			// the flags COMMAND hides survive the merge.
			for _, c := range []struct {
				argv []string
				flag cmdinfo.Flag
			}{
				{[]string{"EVAL", "s", "0"}, cmdinfo.NoScript | cmdinfo.MayReplicate},
				{[]string{"FUNCTION", "LOAD", "x"}, cmdinfo.NoScript | cmdinfo.Write},
				{[]string{"PUBLISH", "ch", "m"}, cmdinfo.MayReplicate},
				{[]string{"SET", "k", "v"}, cmdinfo.Write | cmdinfo.DenyOOM},
			} {
				cmd := tbl.Lookup(commandArgv(c.argv...))
				if cmd == nil || cmd.Flags&c.flag != c.flag {
					t.Errorf("%q: %+v, want flags %v", c.argv, cmd, c.flag)
				}
			}
			keys, acc := tbl.Keys(commandArgv("MGET", "a", "b"), nil)
			if acc != cmdinfo.Keys || len(keys) != 2 {
				t.Errorf("MGET a b: %v %q", acc, keys)
			}
		})
	}
}
