package luavm

import (
	"sync/atomic"
	"time"
)

// PoolStats is a snapshot of a VM's pool of Lua states, for metrics.
type PoolStats struct {
	// Alive is how many states exist: idle in the pool or running a script.
	Alive int
	// Idle is how many states wait in the pool for a script.
	Idle int
	// InUse is how many states are running a script (Alive - Idle).
	InUse int
	// Waits counts the scripts that found every state busy and MaxStates
	// reached, and had to wait for one to come back.
	Waits uint64
	// WaitTime is the total time those scripts waited.
	WaitTime time.Duration
}

// poolWaits counts waits for a free state. It is updated only on the slow
// path of VM.get, so the common path pays nothing.
type poolWaits struct {
	count atomic.Uint64
	nanos atomic.Int64
}

// record adds one wait that began at start.
func (w *poolWaits) record(start time.Time) {
	w.count.Add(1)
	w.nanos.Add(int64(time.Since(start)))
}

// Stats reports the pool's state now. The counts are read one after the
// other while scripts come and go, so they agree only approximately; InUse
// is never negative.
func (vm *VM) Stats() PoolStats {
	vm.mu.Lock()
	alive := len(vm.states)
	vm.mu.Unlock()
	idle := len(vm.pool)
	inUse := alive - idle
	if inUse < 0 {
		inUse = 0
	}
	return PoolStats{
		Alive:    alive,
		Idle:     idle,
		InUse:    inUse,
		Waits:    vm.waits.count.Load(),
		WaitTime: time.Duration(vm.waits.nanos.Load()),
	}
}
