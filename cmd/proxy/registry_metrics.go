package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/luaproxy/luaproxy/registry"
)

// registerRegistryVersion serves luaproxy_registry_version, the version of
// the shared registry (scripts and function libraries) this instance
// reflects: instances in front of the same Redis that show different
// versions for long have not caught up with a change. It is read at
// scrape time from the store's snapshot, which costs no I/O.
func registerRegistryVersion(reg prometheus.Registerer, store *registry.Store, log *zap.Logger) {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "luaproxy_registry_version",
		Help: "Version of the shared script and function registry this instance reflects (0 before the first change).",
	}, func() float64 { return float64(store.Snapshot().Version()) })
	if err := reg.Register(g); err != nil {
		log.Warn("cannot register the registry version metric", zap.Error(err))
	}
}
