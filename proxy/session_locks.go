package proxy

import (
	"slices"
	"time"

	"github.com/luaproxy/luaproxy/internal/cmdinfo"
)

// Busy replies, as Redis words them for a script and for a function.
var (
	errBusyScript   = []byte("-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n")
	errBusyFunction = []byte("-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n")
)

func busyReply(blocker *lockOwner) []byte {
	if blocker.function {
		return errBusyFunction
	}
	return errBusyScript
}

// txLocks collects the keys of the commands a client queues in MULTI:
// they are locked at EXEC, not while queued.
type txLocks struct {
	shards []uint32
	global bool
}

func (t *txLocks) reset() { t.shards, t.global = t.shards[:0], false }

// lockForward takes the shard locks of a command about to be forwarded
// and records them in e, to be released when its reply arrives. It
// returns false if the command must not be forwarded: a script holding
// its keys is busy, and the client has been answered -BUSY.
//
// Blocking commands take no locks: holding them while blocked would stop
// every script on their keys for as long as they block.
func (s *Session) lockForward(e *pending, argv [][]byte, kind cmdKind) bool {
	m := s.srv.locks
	if argv == nil {
		// A request too big to hold (streamed): its keys are unknown.
		return s.lockShared(e, nil, true, true)
	}
	switch kind {
	case kindMulti:
		s.tx.reset()
		return true
	case kindExec:
		shards, global := s.tx.shards, s.tx.global
		s.tx.reset()
		if !equalFold(argv[0], "EXEC") || len(shards) == 0 && !global {
			return true // DISCARD, or a transaction of keyless commands
		}
		// A transaction is never answered BUSY: the upstream is inside
		// MULTI, and Redis would keep it open.
		return s.lockShared(e, slices.Clone(shards), global, false)
	case kindReset:
		s.tx.reset()
		return true
	}
	cmd := s.srv.commands.Lookup(argv)
	if cmd != nil && cmd.Blocks(argv) {
		return true
	}
	var keys [][]byte
	access := cmdinfo.AllKeys
	if cmd != nil {
		keys, access = cmd.Keys(argv, s.keyBuf[:0])
		s.keyBuf = keys[:0]
	}
	if s.maybeMulti {
		switch access {
		case cmdinfo.AllKeys:
			s.tx.global = true
		case cmdinfo.Keys:
			s.tx.shards = m.appendShards(s.tx.shards, keys)
		}
		return true
	}
	switch access {
	case cmdinfo.NoKeys:
		// Commands whose kind the session tracks (SELECT, HELLO, CLIENT,
		// MULTI ...) have changed its state by now: they always go.
		if kind == kindPlain && m.gate.Load() != 0 && cmd.Flags&cmdinfo.AllowBusy == 0 {
			// A script holding the whole keyspace is as busy as Redis
			// running it: past the threshold, Redis answers BUSY to
			// nearly everything, keyless commands included.
			if b := m.busyGlobal(s.srv.busyThreshold()); b != nil {
				return s.answerBusy(b)
			}
		}
		return true
	case cmdinfo.AllKeys:
		return s.lockShared(e, nil, true, true)
	}
	if len(keys) == 1 {
		i := m.shardOf(keys[0])
		if m.tryShared(i) {
			e.lock = sharedHold{one: i, count: 1}
			return true
		}
		return s.lockShared(e, []uint32{i}, false, true)
	}
	shards := m.appendShards(nil, keys)
	if m.tryHold(&e.lock, shards) {
		return true
	}
	return s.lockShared(e, shards, false, true)
}

// lockShared is the slow path of lockForward: the command waits for a
// script. What the session forwarded before goes out first, so that
// its own commands in flight finish and let go of their locks.
func (s *Session) lockShared(e *pending, shards []uint32, global, mayBusy bool) bool {
	m := s.srv.locks
	if !global && m.tryHold(&e.lock, shards) {
		return true
	}
	if err := s.flushUpstream(); err != nil {
		return true // the session is ending anyway
	}
	var busy time.Duration
	if mayBusy {
		busy = s.srv.busyThreshold()
	}
	start := time.Now()
	blocker := m.acquireShared(&e.lock, shards, global, busy)
	s.srv.metrics.lockWait.WithLabelValues("command").Observe(time.Since(start).Seconds())
	if blocker == nil {
		return true
	}
	return s.answerBusy(blocker)
}

// answerBusy answers the command -BUSY instead of forwarding it.
func (s *Session) answerBusy(blocker *lockOwner) bool {
	s.srv.metrics.busyReplies.Inc()
	return s.answerLocal(busyReply(blocker))
}

// answerLocal answers the command with reply, after the replies of
// everything before it, instead of forwarding it.
func (s *Session) answerLocal(reply []byte) bool {
	if s.drain() {
		_ = s.writeLocal(reply)
	}
	return false
}

// errSync refuses replication through the proxy.
var errSync = []byte("-ERR luaproxy does not proxy replication (SYNC, PSYNC): connect replicas to the upstream\r\n")

// dropBatch forgets the entries not yet published to the reply side (the
// upstream is lost, or the session ends), letting go of their locks: no
// reply will ever release them.
func (s *Session) dropBatch() {
	for i := range s.batch {
		s.releaseLock(&s.batch[i])
	}
	s.batch = s.batch[:0]
}

// releaseLock lets go of a forwarded command's locks.
func (s *Session) releaseLock(e *pending) {
	if e.lock.held() {
		s.srv.locks.releaseShared(&e.lock)
	}
}

// busyThreshold is busy-reply-threshold now: the setting, or what a
// client set through CONFIG SET since.
func (s *Server) busyThreshold() time.Duration {
	return time.Duration(s.busyNanos.Load())
}
