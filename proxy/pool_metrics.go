package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/luaproxy/luaproxy/luavm"
)

// RegisterVMMetrics registers on reg the series of vm's pool of Lua
// states: luaproxy_lua_states{state="idle|busy"},
// luaproxy_lua_state_waits_total and luaproxy_lua_state_wait_seconds_total.
// They are read from vm.Stats at scrape time, so running scripts pay
// nothing for them. Pass Server.Registry() as reg.
func RegisterVMMetrics(reg prometheus.Registerer, vm *luavm.VM) error {
	return reg.Register(newPoolCollector(vm))
}

// poolCollector turns one luavm.PoolStats snapshot per scrape into the
// pool's series, so that idle and busy come from the same moment.
type poolCollector struct {
	vm       *luavm.VM
	states   *prometheus.Desc
	waits    *prometheus.Desc
	waitTime *prometheus.Desc
}

func newPoolCollector(vm *luavm.VM) *poolCollector {
	return &poolCollector{
		vm: vm,
		states: prometheus.NewDesc("luaproxy_lua_states",
			"Lua states alive, by state: idle in the pool or busy running a script.",
			[]string{"state"}, nil),
		waits: prometheus.NewDesc("luaproxy_lua_state_waits_total",
			"Scripts that found every Lua state busy (the pool at its maximum) and waited for one.",
			nil, nil),
		waitTime: prometheus.NewDesc("luaproxy_lua_state_wait_seconds_total",
			"Total time scripts waited for a free Lua state.",
			nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.states
	ch <- c.waits
	ch <- c.waitTime
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.vm.Stats()
	ch <- prometheus.MustNewConstMetric(c.states, prometheus.GaugeValue, float64(s.Idle), "idle")
	ch <- prometheus.MustNewConstMetric(c.states, prometheus.GaugeValue, float64(s.InUse), "busy")
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.Waits))
	ch <- prometheus.MustNewConstMetric(c.waitTime, prometheus.CounterValue, s.WaitTime.Seconds())
}
