package proxy

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The lock manager makes every script atomic with respect to all traffic
// through the proxy, without serialising everything.
//
// Keys map to shards as Redis Cluster maps keys to hash slots (CRC16 of
// the key or of its {hashtag}). A forwarded command holds its keys'
// shards shared from the moment it is forwarded until its reply arrives;
// a script holds its declared keys' shards exclusively while it runs. A
// command whose keys cannot be known, or that touches the whole keyspace
// (FLUSHALL, KEYS, SCAN ...), holds the global shared mode: it excludes
// every script, not other commands. A script that is known to touch keys
// it does not declare holds the global exclusive mode: it excludes
// everything.
//
// Deadlock freedom: a waiter never holds while it waits, except a running
// script that needs one more shard (escalation). Shared holders are
// commands in flight, which finish on their own; an escalating script
// waits only for in-flight commands, or for another script, and a wait
// that would close a cycle of scripts fails the younger one.
//
// Fairness: an exclusive waiter marks its shards; new shared holders of a
// marked shard queue behind it, so a stream of readers cannot starve a
// script.
//
// The fast path of a shared hold, taken by every forwarded command while
// no script conflicts, is one compare-and-swap on the shard's word plus
// two loads; everything else happens under mu.

// Bits of a shard's state word.
const (
	readerMask  = 1<<32 - 1 // shared holders
	heldBit     = 1 << 32   // an exclusive holder
	waiterShift = 33        // exclusive waiters, above the held bit
	waiterOne   = 1 << waiterShift
)

var (
	// errLockRestart ends a script that needs another script's shard
	// before it wrote anything: it runs again under the global lock.
	errLockRestart = errors.New("luaproxy: script restarted under the global lock")
	// errLockCycle ends the younger script of a cycle of escalating
	// scripts that have all written.
	errLockCycle = errors.New("luaproxy: script touched a key held by another script that waits for this one " +
		"(undeclared keys); declare its keys or list it in global-lock-scripts")
)

// lockManager is the shard lock table. It is safe for concurrent use.
type lockManager struct {
	shards []atomic.Uint64
	n      uint32

	// gate counts global exclusive holders and waiters: while it is not
	// zero, shared holds take the slow path.
	gate atomic.Int32

	mu        sync.Mutex
	wake      chan struct{} // closed and replaced to wake every waiter
	sleepers  int           // waiters parked on wake
	owners    map[uint32]*lockOwner
	global    *lockOwner    // global exclusive holder
	gShared   int           // global shared holders
	exclusive int           // scripts holding shards or the global mode
	exclWait  int           // exclusive waiters, marked on their shards
	queue     []*lockWaiter // scripts waiting in acquire, in arrival order
	seq       uint64

	escalations atomic.Uint64
}

// lockOwner is one script run (or transaction) holding exclusive locks.
type lockOwner struct {
	seq      uint64    // order of arrival: a lower number is older
	start    time.Time // when it got its locks, for busy-reply-threshold
	function bool      // FCALL rather than EVAL, for the BUSY message
	wrote    bool      // it ran a write command (set by its caller only)
	shards   []uint32  // held exclusively, sorted
	global   bool      // holds the global exclusive mode

	// Under lockManager.mu.
	waitsFor *lockOwner // the script it waits for while escalating
	abort    error      // set when chosen as the victim of a cycle
}

func newLockManager(n int) *lockManager {
	if n <= 0 {
		n = 16384
	}
	return &lockManager{
		shards: make([]atomic.Uint64, n),
		n:      uint32(n),
		wake:   make(chan struct{}),
		owners: make(map[uint32]*lockOwner),
	}
}

// shardOf maps a key to its shard: its cluster hash slot, folded onto
// the table when it has fewer than 16384 shards.
func (m *lockManager) shardOf(key []byte) uint32 {
	slot := uint32(keyHashSlot(key))
	if m.n == 16384 {
		return slot
	}
	return slot % m.n
}

// appendShards appends the shards of keys to dst, sorted, without
// duplicates.
func (m *lockManager) appendShards(dst []uint32, keys [][]byte) []uint32 {
	for _, k := range keys {
		dst = append(dst, m.shardOf(k))
	}
	slices.Sort(dst)
	return slices.Compact(dst)
}

// broadcastLocked wakes every waiter. mu must be held.
func (m *lockManager) broadcastLocked() {
	m.handoffLocked()
	if m.sleepers > 0 {
		close(m.wake)
		m.wake = make(chan struct{})
		m.sleepers = 0
	}
}

func (m *lockManager) broadcast() {
	m.mu.Lock()
	m.broadcastLocked()
	m.mu.Unlock()
}

// park waits, with mu held on entry and on return, until something is
// released, the deadline passes (ok false) or stop is closed (ok false).
func (m *lockManager) park(deadline time.Time, stop <-chan struct{}) (ok bool) {
	ch := m.wake
	m.sleepers++
	var p parker
	defer p.stop()
	return m.parkOn(&p, ch, deadline, stop)
}

// sharedHold is what a forwarded command holds until its reply arrives.
type sharedHold struct {
	one    uint32
	many   []uint32 // more than one shard
	count  uint8    // 0: nothing, 1: one, 2: many
	global bool     // the global shared mode
}

func (h *sharedHold) held() bool { return h.count != 0 || h.global }

// tryShared takes one shard shared without waiting.
func (m *lockManager) tryShared(i uint32) bool {
	if m.gate.Load() != 0 {
		return false
	}
	s := &m.shards[i]
	for {
		v := s.Load()
		if v&^readerMask != 0 {
			return false
		}
		if s.CompareAndSwap(v, v+1) {
			break
		}
	}
	// A global exclusive waiter sets the gate before it inspects the
	// shards: either it sees this hold or this sees its gate.
	if m.gate.Load() != 0 {
		m.releaseShard(i)
		return false
	}
	return true
}

func (m *lockManager) releaseShard(i uint32) {
	v := m.shards[i].Add(^uint64(0))
	if v&readerMask == 0 && (v>>waiterShift != 0 || m.gate.Load() != 0) {
		m.broadcast()
	}
}

// tryHold takes shards shared, all or none, without waiting, and records
// them in h.
func (m *lockManager) tryHold(h *sharedHold, shards []uint32) bool {
	if !m.trySharedAll(shards) {
		return false
	}
	switch len(shards) {
	case 0:
		*h = sharedHold{}
	case 1:
		*h = sharedHold{one: shards[0], count: 1}
	default:
		*h = sharedHold{many: shards, count: 2}
	}
	return true
}

// trySharedAll takes every shard shared or none, without waiting.
func (m *lockManager) trySharedAll(shards []uint32) bool {
	for k, i := range shards {
		if !m.tryShared(i) {
			for _, j := range shards[:k] {
				m.releaseShard(j)
			}
			return false
		}
	}
	return true
}

// acquireShared takes shards shared (global: the global shared mode)
// for a forwarded command. It waits for conflicting scripts; once one of
// them has run for busy (if positive), it gives up and returns that
// script, which the command's client is told is busy.
func (m *lockManager) acquireShared(h *sharedHold, shards []uint32, global bool, busy time.Duration) (blocker *lockOwner) {
	*h = sharedHold{global: global}
	if !global && m.tryHold(h, shards) {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		var holder *lockOwner
		if global {
			if m.exclusive == 0 && m.exclWait == 0 && m.gate.Load() == 0 {
				m.gShared++
				return nil
			}
			holder = m.oldestHolderLocked(nil)
		} else {
			if m.tryHold(h, shards) {
				return nil
			}
			holder = m.oldestHolderLocked(shards)
		}
		var deadline time.Time
		if holder != nil && busy > 0 {
			deadline = holder.start.Add(busy)
		}
		if !m.park(deadline, nil) && holder != nil {
			return holder
		}
	}
}

// oldestHolderLocked returns the script holding any of shards exclusively
// (or anything at all for nil shards) that has run longest, or nil.
func (m *lockManager) oldestHolderLocked(shards []uint32) *lockOwner {
	if m.global != nil {
		return m.global
	}
	var oldest *lockOwner
	consider := func(o *lockOwner) {
		if o != nil && (oldest == nil || o.start.Before(oldest.start)) {
			oldest = o
		}
	}
	if shards == nil {
		for _, o := range m.owners {
			consider(o)
		}
		return oldest
	}
	for _, i := range shards {
		consider(m.owners[i])
	}
	return oldest
}

// busyGlobal returns the holder of the global exclusive mode if it has
// run for at least busy (positive), else nil.
func (m *lockManager) busyGlobal(busy time.Duration) *lockOwner {
	m.mu.Lock()
	defer m.mu.Unlock()
	if g := m.global; g != nil && busy > 0 && time.Since(g.start) >= busy {
		return g
	}
	return nil
}

// releaseShared lets go of what acquireShared took.
func (m *lockManager) releaseShared(h *sharedHold) {
	switch h.count {
	case 1:
		m.releaseShard(h.one)
	case 2:
		for _, i := range h.many {
			m.releaseShard(i)
		}
	}
	if h.global {
		m.mu.Lock()
		m.gShared--
		if m.gShared == 0 {
			m.broadcastLocked()
		}
		m.mu.Unlock()
	}
	*h = sharedHold{}
}

// newOwner starts a script run's lock ownership.
func (m *lockManager) newOwner(function bool) *lockOwner {
	m.mu.Lock()
	m.seq++
	o := &lockOwner{seq: m.seq, function: function}
	m.mu.Unlock()
	return o
}

// acquire takes shards exclusively for a script (global: everything),
// all or nothing. Once a conflicting script has run for busy (if
// positive), it gives up and returns that script. stop, if closed, ends
// the wait too (blocker nil, ok false).
//
// Waiting scripts queue in arrival order, and whoever releases hands the
// locks over to the first ones that can have them (handoffLocked): on a
// hot key only the next script wakes, not all of them.
func (m *lockManager) acquire(o *lockOwner, shards []uint32, global bool, busy time.Duration, stop <-chan struct{}) (blocker *lockOwner, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if global {
		// The gate must stop new shared holders before the table is
		// inspected (see tryShared).
		m.markLocked(shards, global)
	}
	// An arrival goes straight in only if nobody queues (and no script
	// escalates to the global mode): the queue is served in order.
	if len(m.queue) == 0 && (global || m.gate.Load() == 0) && m.tryExclusiveLocked(o, shards, global) {
		if global {
			m.unmarkLocked(shards, global)
		}
		o.start = time.Now()
		return nil, true
	}
	if !global {
		m.markLocked(shards, global)
	}
	defer m.unmarkLocked(shards, global)
	w := &lockWaiter{owner: o, shards: shards, global: global, granted: make(chan struct{})}
	m.queue = append(m.queue, w)
	// A holder may have let go before the mark: it did not know to hand
	// anything over.
	m.handoffLocked()
	var p parker
	defer p.stop()
	for {
		if w.done {
			return nil, true
		}
		var holder *lockOwner
		if global {
			holder = m.oldestHolderLocked(nil)
		} else {
			holder = m.oldestHolderLocked(shards)
		}
		var deadline time.Time
		if holder != nil && busy > 0 {
			deadline = holder.start.Add(busy)
		}
		if m.parkOn(&p, w.granted, deadline, stop) || w.done {
			continue
		}
		busyNow := holder != nil && !deadline.IsZero() && !time.Now().Before(deadline)
		select {
		case <-stop:
		default:
			if !busyNow {
				continue
			}
		}
		m.dequeueLocked(w)
		if busyNow {
			return holder, false
		}
		return nil, false
	}
}

// lockWaiter is a script queued in acquire.
type lockWaiter struct {
	owner   *lockOwner
	shards  []uint32
	global  bool
	granted chan struct{} // closed when done is set
	done    bool          // the locks are the waiter's (under mu)
}

// handoffLocked gives the queued scripts, in arrival order, the locks
// they can have now. A script never overtakes an earlier one that wants
// any of its shards.
func (m *lockManager) handoffLocked() {
	if len(m.queue) == 0 {
		return
	}
	var claimed []uint32
	claimedAll := false
	kept := m.queue[:0]
	for _, w := range m.queue {
		conflict := claimedAll || w.global && len(claimed) > 0 || overlaps(w.shards, claimed)
		if !conflict && m.tryExclusiveLocked(w.owner, w.shards, w.global) {
			w.owner.start = time.Now()
			w.done = true
			close(w.granted)
			continue
		}
		kept = append(kept, w)
		if w.global {
			claimedAll = true
		} else {
			claimed = append(claimed, w.shards...)
		}
	}
	clear(m.queue[len(kept):])
	m.queue = kept
}

func (m *lockManager) dequeueLocked(w *lockWaiter) {
	if i := slices.Index(m.queue, w); i >= 0 {
		m.queue = slices.Delete(m.queue, i, i+1)
	}
}

// overlaps reports whether the sorted set a shares a shard with b.
func overlaps(a, b []uint32) bool {
	for _, i := range b {
		if _, found := slices.BinarySearch(a, i); found {
			return true
		}
	}
	return false
}

// parker keeps one timer across the waits of one acquisition.
type parker struct {
	t        *time.Timer
	deadline time.Time
}

func (p *parker) stop() {
	if p.t != nil {
		p.t.Stop()
	}
}

// parkOn waits, with mu held on entry and on return, until ch is closed
// (true), the deadline passes or stop is closed (false).
func (m *lockManager) parkOn(p *parker, ch <-chan struct{}, deadline time.Time, stop <-chan struct{}) bool {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return false
		}
		if p.t == nil {
			p.t = time.NewTimer(d)
		} else if !deadline.Equal(p.deadline) {
			p.t.Reset(d)
		}
		p.deadline = deadline
		timeout = p.t.C
	}
	m.mu.Unlock()
	defer m.mu.Lock()
	select {
	case <-ch:
		return true
	case <-timeout:
		return false
	case <-stop:
		return false
	}
}

// markLocked records an exclusive waiter so that new shared holders queue
// behind it.
func (m *lockManager) markLocked(shards []uint32, global bool) {
	m.exclWait++
	if global {
		m.gate.Add(1)
		return
	}
	for _, i := range shards {
		m.shards[i].Add(waiterOne)
	}
}

func (m *lockManager) unmarkLocked(shards []uint32, global bool) {
	m.exclWait--
	if global {
		m.gate.Add(-1)
	} else {
		for _, i := range shards {
			m.shards[i].Add(^uint64(waiterOne - 1))
		}
	}
	// Shared waiters queued behind this one may go now.
	m.broadcastLocked()
}

// tryExclusiveLocked takes shards exclusively, all or nothing. For the
// global mode the caller has set the gate.
func (m *lockManager) tryExclusiveLocked(o *lockOwner, shards []uint32, global bool) bool {
	if m.global != nil || m.gShared > 0 {
		return false
	}
	if global {
		if m.exclusive > 0 || !m.tableIdleLocked() {
			return false
		}
		m.makeGlobalLocked(o)
		return true
	}
	if !m.takeShardsLocked(shards) {
		return false
	}
	m.ownLocked(o, shards)
	return true
}

// ownLocked records o as the holder of shards, whose held bits it has
// just set; an owner that held nothing counts as one more exclusive holder.
func (m *lockManager) ownLocked(o *lockOwner, shards []uint32) {
	if len(shards) == 0 {
		return
	}
	if len(o.shards) == 0 {
		m.exclusive++
	}
	for _, i := range shards {
		m.owners[i] = o
	}
	o.shards = append(o.shards, shards...)
	slices.Sort(o.shards)
}

// disownLocked lets go of o's shards, not of its place among the
// exclusive holders.
func (m *lockManager) disownLocked(o *lockOwner) {
	m.clearHeld(o.shards)
	for _, i := range o.shards {
		delete(m.owners, i)
	}
	o.shards = o.shards[:0]
}

// makeGlobalLocked gives o the global exclusive mode in place of any
// shards it holds. The caller has checked that nothing else holds any.
func (m *lockManager) makeGlobalLocked(o *lockOwner) {
	if len(o.shards) == 0 {
		m.exclusive++
	}
	m.disownLocked(o)
	m.global, o.global = o, true
	m.gate.Add(1) // undone by release
}

// clearHeld drops the held bit of shards.
func (m *lockManager) clearHeld(shards []uint32) {
	for _, i := range shards {
		m.shards[i].Add(^uint64(heldBit - 1))
	}
}

// tableIdleLocked reports whether no shard has a holder.
func (m *lockManager) tableIdleLocked() bool {
	for i := range m.shards {
		if m.shards[i].Load()&(readerMask|heldBit) != 0 {
			return false
		}
	}
	return true
}

// takeShardsLocked sets the held bit of every shard, all or nothing: a
// shard with any holder stops it.
func (m *lockManager) takeShardsLocked(shards []uint32) bool {
	for k, i := range shards {
		if !m.takeShardLocked(i) {
			m.clearHeld(shards[:k])
			return false
		}
	}
	return true
}

// takeShardLocked sets a shard's held bit if it has no holder at all.
func (m *lockManager) takeShardLocked(i uint32) bool {
	s := &m.shards[i]
	for {
		v := s.Load()
		if v&(readerMask|heldBit) != 0 {
			return false
		}
		if s.CompareAndSwap(v, v|heldBit) {
			return true
		}
	}
}

// release lets go of everything o holds.
func (m *lockManager) release(o *lockOwner) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case o.global:
		m.global = nil
		o.global = false
		m.gate.Add(-1)
		m.exclusive--
	case len(o.shards) > 0:
		m.disownLocked(o)
		m.exclusive--
	}
	o.waitsFor, o.abort = nil, nil
	m.broadcastLocked()
}

// holds reports whether o holds shard i (or everything).
func (o *lockOwner) holds(i uint32) bool {
	if o.global {
		return true
	}
	_, found := slices.BinarySearch(o.shards, i)
	return found
}

// escalate takes more shards (global: everything) for a running script
// that touches keys it did not declare. It waits for commands in flight;
// for another script it waits only if o has written (else errLockRestart:
// run again under the global lock), and fails the younger script of a
// wait cycle with errLockCycle.
func (m *lockManager) escalate(o *lockOwner, shards []uint32, global bool) error {
	m.escalations.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	// Like any exclusive waiter, hold new shared holders back meanwhile.
	m.markLocked(shards, global)
	defer m.unmarkLocked(shards, global)
	defer func() { o.waitsFor = nil }()
	for {
		if o.abort != nil {
			return o.abort
		}
		other := m.tryEscalateLocked(o, shards, global)
		if other == nil {
			return nil
		}
		o.waitsFor = nil
		if other != o {
			if !o.wrote {
				return errLockRestart
			}
			o.waitsFor = other
			if victim := m.cycleVictimLocked(o); victim != nil {
				if victim == o {
					return errLockCycle
				}
				victim.abort = errLockCycle
				if !victim.wrote {
					victim.abort = errLockRestart
				}
				m.broadcastLocked()
			}
		}
		m.park(time.Time{}, nil)
	}
}

// tryEscalateLocked adds shards to o's holding. It returns nil on
// success, o itself if only commands in flight are in the way, or the
// script that holds what o needs.
func (m *lockManager) tryEscalateLocked(o *lockOwner, shards []uint32, global bool) *lockOwner {
	if o.global {
		return nil
	}
	if g := m.global; g != nil {
		return g
	}
	if global {
		for _, other := range m.owners {
			if other != o {
				return other
			}
		}
		if m.gShared > 0 {
			return o
		}
		for i := range m.shards {
			if m.shards[i].Load()&readerMask != 0 {
				return o
			}
		}
		// Everything else is free: o's shards become the global mode.
		m.makeGlobalLocked(o)
		return nil
	}
	var need []uint32
	for _, i := range shards {
		if o.holds(i) {
			continue
		}
		if other := m.owners[i]; other != nil {
			return other
		}
		need = append(need, i)
	}
	if len(need) == 0 {
		return nil
	}
	if m.gShared > 0 || !m.takeShardsLocked(need) {
		return o // commands in flight
	}
	m.ownLocked(o, need)
	return nil
}

// cycleVictimLocked follows the wait-for chain from o; if it comes back
// to o, it returns the member to stop: one that has not written (it can
// run again unnoticed) or else the youngest.
func (m *lockManager) cycleVictimLocked(o *lockOwner) *lockOwner {
	var members []*lockOwner
	for p := o; p != nil; p = p.waitsFor {
		if slices.Contains(members, p) {
			return nil // a cycle that o only leads into
		}
		members = append(members, p)
		if p.waitsFor != o {
			continue
		}
		var victim *lockOwner
		for _, q := range members {
			switch {
			case victim == nil,
				!q.wrote && victim.wrote,
				q.wrote == victim.wrote && q.seq > victim.seq:
				victim = q
			}
		}
		return victim
	}
	return nil
}
