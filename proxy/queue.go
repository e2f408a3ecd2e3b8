package proxy

import "sync"

// pending is one reply the session expects from the upstream, in order.
type pending struct {
	kind cmdKind
	// arg is kind-specific: the database of a SELECT (-1 if invalid); the
	// confirmations still expected by a (un)subscribe (-1: "all", not known
	// until the first one arrives).
	arg int
	// silent marks a reply the client must not see (its command's reply
	// was switched off) but the proxy reads for the session's state.
	silent bool
	// lock is the command's shard locks, let go of once its reply has
	// been delivered or has failed.
	lock sharedHold
	// sent, if not 0, is when a sampled command was queued (rttMetrics).
	sent int64
}

// replyQueue connects a session's request side to its reply side. The
// request side publishes entries in batches, always before the commands
// they stand for reach the upstream, so a reply never arrives before its
// entry. The reply side takes everything published at once and reports
// completions in batches, so a pipeline costs a couple of lock operations
// per flush rather than per command.
type replyQueue struct {
	mu          sync.Mutex
	cond        sync.Cond
	entries     []pending // published, not yet taken by the reply side
	outstanding int       // published and not yet completed
	closed      bool      // the upstream failed; nothing more will complete
}

func (q *replyQueue) init() { q.cond.L = &q.mu }

// publish appends a batch; it fails once the queue is closed.
func (q *replyQueue) publish(batch []pending) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.entries = append(q.entries, batch...)
	q.outstanding += len(batch)
	return true
}

// take reports done completed entries and swaps buf (whose entries are all
// completed) for the published entries.
func (q *replyQueue) take(buf []pending, done int) []pending {
	q.mu.Lock()
	q.outstanding -= done
	if done > 0 && q.outstanding == 0 {
		q.cond.Broadcast()
	}
	out := q.entries
	q.entries = buf[:0]
	q.mu.Unlock()
	return out
}

// wait blocks until every published entry has completed. It returns false
// if the queue was closed before.
func (q *replyQueue) wait() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.outstanding > 0 && !q.closed {
		q.cond.Wait()
	}
	return !q.closed
}

// close marks the queue failed and returns the entries never taken.
func (q *replyQueue) close() []pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	rest := q.entries
	q.entries = nil
	q.outstanding = 0
	q.cond.Broadcast()
	return rest
}

func (q *replyQueue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

func (q *replyQueue) busy() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.outstanding > 0
}
