package luavm

import "testing"

func TestSmoke(t *testing.T) {
	d := newDiffEnv(t, Config{PoolSize: 1})
	for _, s := range []string{
		"return 1",
		"return redis.call('set','a','b')",
		"return redis.call('get','a')",
		"x = 1",
		"return x",
		"error('boom')",
		"error({err='MY boom'})",
		"return redis.call('nosuch')",
		"return redis.pcall('nosuch')",
		"return {pcall(redis.call,'nosuch')}",
		"return 1 +",
		"local t={} for k in pairs(_G) do t[#t+1]=k end table.sort(t) return t",
	} {
		want := d.redis(t, evalCase{script: s})
		got := d.luavm(t, evalCase{script: s})
		if string(got) != string(want) {
			t.Errorf("%s:\n got %q\nwant %q", s, got, want)
		}
	}
}
