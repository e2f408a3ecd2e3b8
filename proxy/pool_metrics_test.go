package proxy

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/luaproxy/luaproxy/luavm"
)

func TestRegisterVMMetrics(t *testing.T) {
	vm, err := luavm.New(luavm.Config{PoolSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	reg := prometheus.NewRegistry()
	if err := RegisterVMMetrics(reg, vm); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP luaproxy_lua_state_wait_seconds_total Total time scripts waited for a free Lua state.
# TYPE luaproxy_lua_state_wait_seconds_total counter
luaproxy_lua_state_wait_seconds_total 0
# HELP luaproxy_lua_state_waits_total Scripts that found every Lua state busy (the pool at its maximum) and waited for one.
# TYPE luaproxy_lua_state_waits_total counter
luaproxy_lua_state_waits_total 0
# HELP luaproxy_lua_states Lua states alive, by state: idle in the pool or busy running a script.
# TYPE luaproxy_lua_states gauge
luaproxy_lua_states{state="busy"} 0
luaproxy_lua_states{state="idle"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if err := RegisterVMMetrics(reg, vm); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
}
