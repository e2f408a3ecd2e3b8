package proxy

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKeyHashSlot(t *testing.T) {
	tests := []struct {
		key  string
		want uint16
	}{
		{"123456789", 0x31C3 & 16383}, // CRC-16/XMODEM check value
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"user1000", 3443},
		{"foo{}{bar}", keyHashSlot([]byte("foo{}{bar}"))},
		{"foo{{bar}}zap", keyHashSlot([]byte("{bar"))},
		{"foo{bar}{zap}", keyHashSlot([]byte("bar"))},
		{"", 0},
	}
	for _, tt := range tests {
		if got := keyHashSlot([]byte(tt.key)); got != tt.want {
			t.Errorf("keyHashSlot(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
	// An empty hashtag hashes the whole key.
	if keyHashSlot([]byte("foo{}{bar}")) != crc16([]byte("foo{}{bar}"))&16383 {
		t.Error("empty hashtag must hash the whole key")
	}
}

// TestCRC16 checks the two-bytes-a-step CRC against the textbook one,
// bit by bit, on keys of every length up to 64.
func TestCRC16(t *testing.T) {
	slow := func(b []byte) uint16 {
		var crc uint16
		for _, c := range b {
			crc ^= uint16(c) << 8
			for range 8 {
				if crc&0x8000 != 0 {
					crc = crc<<1 ^ 0x1021
				} else {
					crc <<= 1
				}
			}
		}
		return crc
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 64; n++ {
		for range 50 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			if got, want := crc16(b), slow(b); got != want {
				t.Fatalf("crc16(%x) = %#x, want %#x", b, got, want)
			}
		}
	}
}

// waitFor polls cond until it holds or the test's deadline nears.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (m *lockManager) waiting() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exclWait
}

// parked counts waiters: readers and escalations on the broadcast, and
// scripts in the queue.
func (m *lockManager) parked() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sleepers + len(m.queue)
}

func TestSharedThenExclusive(t *testing.T) {
	m := newLockManager(16)
	var h sharedHold
	if b := m.acquireShared(&h, []uint32{3}, false, 0); b != nil || !h.held() {
		t.Fatal("shared hold failed on an idle table")
	}
	o := m.newOwner(false)
	got := make(chan struct{})
	go func() {
		m.acquire(o, []uint32{1, 3}, false, 0, nil)
		close(got)
	}()
	waitFor(t, "the script to wait", func() bool { return m.waiting() == 1 && m.parked() == 1 })
	// A new shared holder of the marked shard queues behind the script.
	if m.tryShared(3) {
		t.Fatal("a reader overtook a waiting script")
	}
	// Other shards are unaffected.
	if !m.tryShared(2) {
		t.Fatal("an unrelated shard was blocked")
	}
	m.releaseShard(2)
	m.releaseShared(&h)
	<-got
	if m.tryShared(1) || m.tryShared(3) {
		t.Fatal("shared hold granted while a script holds the shard")
	}
	m.release(o)
	if !m.tryShared(1) {
		t.Fatal("shard still blocked after the script ended")
	}
	m.releaseShard(1)
}

func TestBusyThreshold(t *testing.T) {
	m := newLockManager(16)
	o := m.newOwner(true)
	if _, ok := m.acquire(o, []uint32{5}, false, 0, nil); !ok {
		t.Fatal("acquire failed on an idle table")
	}
	defer m.release(o)
	var h sharedHold
	if b := m.acquireShared(&h, []uint32{5}, false, time.Millisecond); b != o {
		t.Fatalf("blocker = %v, want the running script", b)
	}
	o2 := m.newOwner(false)
	if b, ok := m.acquire(o2, []uint32{4, 5}, false, time.Millisecond, nil); ok || b != o {
		t.Fatalf("acquire = %v %v, want the busy script", b, ok)
	}
	// Its waiter marks are gone: shard 4 is free for readers.
	if !m.tryShared(4) {
		t.Fatal("a given-up waiter left its mark")
	}
	m.releaseShard(4)
	// Keyless global shared commands wait for every script too.
	if b := m.acquireShared(&h, nil, true, time.Millisecond); b != o {
		t.Fatalf("global shared blocker = %v", b)
	}
}

func TestGlobalModes(t *testing.T) {
	m := newLockManager(64)
	var g sharedHold
	if b := m.acquireShared(&g, nil, true, 0); b != nil || !g.held() {
		t.Fatal("global shared failed on an idle table")
	}
	o := m.newOwner(false)
	done := make(chan struct{})
	go func() {
		m.acquire(o, []uint32{7}, false, 0, nil)
		close(done)
	}()
	waitFor(t, "the script to wait for FLUSHALL", func() bool { return m.parked() == 1 })
	m.releaseShared(&g)
	<-done
	m.release(o)

	// Global exclusive excludes readers everywhere, and waits for them.
	var r sharedHold
	m.acquireShared(&r, []uint32{9}, false, 0)
	og := m.newOwner(false)
	done = make(chan struct{})
	go func() {
		m.acquire(og, nil, true, 0, nil)
		close(done)
	}()
	waitFor(t, "the global script to wait", func() bool { return m.parked() == 1 })
	if m.tryShared(10) {
		t.Fatal("a reader overtook a waiting global script")
	}
	m.releaseShared(&r)
	<-done
	if m.tryShared(11) {
		t.Fatal("reader admitted under the global lock")
	}
	m.release(og)
	if !m.tryShared(11) {
		t.Fatal("reader refused after the global lock ended")
	}
	m.releaseShard(11)
}

func TestEscalation(t *testing.T) {
	m := newLockManager(64)
	a, b := m.newOwner(false), m.newOwner(false)
	m.acquire(a, []uint32{1}, false, 0, nil)
	m.acquire(b, []uint32{2}, false, 0, nil)

	// A free shard is simply taken.
	if err := m.escalate(a, []uint32{3}, false); err != nil {
		t.Fatal(err)
	}
	if !a.holds(3) || m.tryShared(3) {
		t.Fatal("escalated shard not held")
	}
	// A script that has not written restarts rather than wait for another.
	if err := m.escalate(a, []uint32{2}, false); !errors.Is(err, errLockRestart) {
		t.Fatalf("escalate into another script's shard before writing: %v", err)
	}
	// Two writers waiting for each other: the younger one fails.
	a.wrote, b.wrote = true, true
	aErr := make(chan error, 1)
	go func() { aErr <- m.escalate(a, []uint32{2}, false) }()
	waitFor(t, "a to wait for b", func() bool { return m.parked() == 1 })
	if err := m.escalate(b, []uint32{1}, false); !errors.Is(err, errLockCycle) {
		t.Fatalf("younger script of the cycle: %v", err)
	}
	m.release(b)
	if err := <-aErr; err != nil {
		t.Fatalf("older script of the cycle: %v", err)
	}
	if !a.holds(2) {
		t.Fatal("older script did not get the shard")
	}
	m.release(a)

	// A victim that has not written is restarted instead.
	a, b = m.newOwner(false), m.newOwner(false)
	m.acquire(a, []uint32{1}, false, 0, nil)
	m.acquire(b, []uint32{2}, false, 0, nil)
	b.wrote = true
	go func() { aErr <- m.escalate(b, []uint32{1}, false) }()
	waitFor(t, "b to wait for a", func() bool { return m.parked() == 1 })
	a.wrote = false
	if err := m.escalate(a, []uint32{2}, false); !errors.Is(err, errLockRestart) {
		t.Fatalf("a: %v", err)
	}
	m.release(a)
	if err := <-aErr; err != nil {
		t.Fatalf("b: %v", err)
	}
	m.release(b)
	if m.escalations.Load() != 6 {
		t.Errorf("escalations = %d, want 6", m.escalations.Load())
	}
}

// TestLockStress checks mutual exclusion with a shadow count per shard
// while readers, scripts, global commands and escalations run at random.
func TestLockStress(t *testing.T) {
	const shards = 8
	m := newLockManager(shards)
	var readers, writers [shards]atomic.Int32
	var globalW atomic.Int32
	check := func(t *testing.T, i uint32, writer bool) {
		if writer && (readers[i].Load() != 0 || writers[i].Load() != 1) {
			t.Errorf("shard %d: writer with %d readers, %d writers", i, readers[i].Load(), writers[i].Load())
		}
		if !writer && (writers[i].Load() != 0 || globalW.Load() != 0) {
			t.Errorf("shard %d: reader with a writer", i)
		}
	}
	var wg sync.WaitGroup
	iters := 2000
	if testing.Short() {
		iters = 300
	}
	for g := range 6 {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for range iters {
				a, b := uint32(r.IntN(shards)), uint32(r.IntN(shards))
				set := []uint32{min(a, b), max(a, b)}
				if a == b {
					set = set[:1]
				}
				switch r.IntN(4) {
				case 0, 1:
					var h sharedHold
					m.acquireShared(&h, set, false, 0)
					for _, i := range set {
						readers[i].Add(1)
						check(t, i, false)
					}
					for _, i := range set {
						readers[i].Add(-1)
					}
					m.releaseShared(&h)
				case 2:
					o := m.newOwner(false)
					m.acquire(o, set[:1], false, 0, nil)
					writers[set[0]].Add(1)
					check(t, set[0], true)
					o.wrote = r.IntN(2) == 0
					extra := uint32(r.IntN(shards))
					if err := m.escalate(o, []uint32{extra}, false); err == nil && extra != set[0] {
						writers[extra].Add(1)
						check(t, extra, true)
						writers[extra].Add(-1)
					}
					writers[set[0]].Add(-1)
					m.release(o)
				case 3:
					o := m.newOwner(false)
					m.acquire(o, nil, true, 0, nil)
					globalW.Add(1)
					for i := range uint32(shards) {
						if readers[i].Load() != 0 || writers[i].Load() != 0 {
							t.Errorf("global lock with holders on shard %d", i)
						}
					}
					globalW.Add(-1)
					m.release(o)
				}
			}
		}(uint64(g))
	}
	wg.Wait()
	for i := range m.shards {
		if v := m.shards[i].Load(); v != 0 {
			t.Errorf("shard %d left in state %#x", i, v)
		}
	}
	if m.gate.Load() != 0 || m.exclusive != 0 || m.exclWait != 0 || len(m.owners) != 0 {
		t.Errorf("manager not idle: gate %d exclusive %d waiting %d owners %d", m.gate.Load(), m.exclusive, m.exclWait, len(m.owners))
	}
}

// idle reports whether nothing is held or awaited in m.
func (m *lockManager) idle() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.shards {
		if m.shards[i].Load() != 0 {
			return false
		}
	}
	return m.gate.Load() == 0 && m.gShared == 0 && m.exclusive == 0 && m.exclWait == 0 && len(m.owners) == 0
}

// TestLocksReleasedOnUpstreamLoss: commands in flight when the upstream
// drops, sends garbage or stops half-way through a reply let go of their
// locks, so scripts are not stopped for ever by a dead connection.
func TestLocksReleasedOnUpstreamLoss(t *testing.T) {
	f := startFake(t, pongServer)
	p := startProxy(t, f.Addr, nil)
	for _, last := range []string{"DROP", "GARBAGE", "HALF"} {
		t.Run(last, func(t *testing.T) {
			in := "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$4\r\nMGET\r\n$1\r\nb\r\n$1\r\nc\r\n" +
				"*1\r\n$" + strconv.Itoa(len(last)) + "\r\n" + last + "\r\n" +
				"*2\r\n$3\r\nGET\r\n$1\r\nd\r\n*1\r\n$8\r\nFLUSHALL\r\n"
			exchange(t, p.Addr, in)
			waitFor(t, "the locks to be released", p.locks.idle)
		})
	}
}
