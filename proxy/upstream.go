package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"

	"go.uber.org/zap"
)

// UpstreamConn is a session's connection to the upstream Redis.
type UpstreamConn struct {
	sess   *Session
	conn   net.Conn
	r      *bufio.Reader // read only by the reply goroutine
	out    []byte        // forwarded bytes not yet written
	doCh   chan doResult
	active bool // a Handler is running and may call Do
}

type doResult struct {
	b   []byte
	err error
}

var errNotActive = errors.New("proxy: UpstreamConn.Do called outside Handler.Serve")

// Do sends one command to the upstream and returns its raw reply. It is
// only valid while the Handler runs, from the Handler's goroutine; the
// returned slice belongs to the caller. The command must produce exactly
// one reply (no SUBSCRIBE, MONITOR, CLIENT REPLY), and the Session does not
// learn from it: a Handler that SELECTs another database must select the
// session's DB() again before returning.
func (u *UpstreamConn) Do(argv [][]byte) ([]byte, error) {
	if u == nil || !u.active {
		return nil, errNotActive
	}
	if len(argv) == 0 {
		return nil, errors.New("proxy: Do with an empty command")
	}
	s := u.sess
	s.batch = append(s.batch, pending{kind: kindDo})
	u.out = appendCommand(u.out, argv)
	if err := s.flushUpstream(); err != nil {
		return nil, err
	}
	r := <-u.doCh
	return r.b, r.err
}

// replyState is the session state as the reply goroutine sees it; it
// publishes changes to the Session's atomics.
type replyState struct {
	proto               int
	nChan, nPat, nShard int
	monitor             bool
	authed              bool // the connection is known to be authenticated
	special             bool // replies need a look before copying
	cur                 []pending
	idx, done           int
	head                replyHead
	counter             countingWriter
	infoSink            byteSink
}

func (st *replyState) update(s *Session) {
	subs := st.nChan + st.nPat + st.nShard
	st.special = subs > 0 || st.monitor
	s.subs.Store(int32(subs))
	s.monitor.Store(st.monitor)
	s.proto.Store(int32(st.proto))
}

// replyLoop reads the upstream's replies and hands each to its pending
// entry in order: most go to the client, some to the Handler or nowhere.
// Unsolicited data (pub/sub messages, MONITOR lines, RESP3 pushes) goes to
// the client without completing an entry.
func (s *Session) replyLoop(u *UpstreamConn) {
	defer close(s.replyDone)
	r := u.r
	st := &replyState{proto: 2}
	st.counter.w = s.cw
	for {
		if r.Buffered() == 0 {
			if err := s.flushReplies(); err != nil {
				st.counter.err = err
				s.replyFailed(st, u, err, true)
				return
			}
			if _, err := r.Peek(1); err != nil {
				s.replyFailed(st, u, err, false)
				return
			}
		}
		if st.idx == len(st.cur) {
			st.cur, st.idx = s.q.take(st.cur, 0), 0
		}
		var e *pending
		if st.idx < len(st.cur) {
			e = &st.cur[st.idx]
		}
		first, _ := r.Peek(1)
		if e != nil && !e.kind.watched() && !st.special && first[0] != '>' && first[0] != '|' {
			// Fast path: ordinary replies to ordinary commands. A run of
			// them that is complete in the buffer goes out in one write.
			if k, err := s.copyRun(st, r); k > 0 || err != nil {
				if err != nil {
					s.replyFailed(st, u, err, st.counter.n > 0)
					return
				}
				s.completeRun(st, k)
				continue
			}
			s.learnAuthed(st, first[0])
			if err := s.copyToClient(st, r); err != nil {
				s.replyFailed(st, u, err, st.counter.n > 0)
				return
			}
			s.complete(st)
			continue
		}
		if err := s.handleReply(st, u, e); err != nil {
			s.replyFailed(st, u, err, st.counter.n > 0)
			return
		}
	}
}

func (k cmdKind) watched() bool { return k != kindPlain && k != kindClient }

// learnAuthed notes that a command without a kind of its own succeeded
// (its reply starts with typ): such commands need an authenticated
// connection.
func (s *Session) learnAuthed(st *replyState, typ byte) {
	if !st.authed && typ != '-' {
		s.auth.Store(authYes)
		st.authed = true
	}
}

// copyRun copies the ordinary replies at the front of r's buffer, for as
// long as they are complete there and answer ordinary commands, to the
// client in one write, and returns how many it copied. A pipeline's
// replies usually arrive together: this costs one lock and one write for
// all of them instead of several writes per reply. It copies nothing (0,
// nil) when the first reply is not a complete scalar; copyReply then
// handles it, and reports whatever is wrong with it.
func (s *Session) copyRun(st *replyState, r *bufio.Reader) (int, error) {
	buf, _ := r.Peek(r.Buffered())
	off, k := 0, 0
	for st.idx+k < len(st.cur) && off < len(buf) && !st.cur[st.idx+k].kind.watched() {
		n := scalarLen(buf[off:])
		if n == 0 {
			break
		}
		s.learnAuthed(st, buf[off])
		off += n
		k++
	}
	if k == 0 {
		return 0, nil
	}
	st.counter.n, st.counter.err = 0, nil
	s.cwMu.Lock()
	_, err := st.counter.Write(buf[:off])
	s.cwMu.Unlock()
	_, _ = r.Discard(off)
	return k, err
}

func (s *Session) copyToClient(st *replyState, r *bufio.Reader) error {
	st.counter.n, st.counter.err = 0, nil
	s.cwMu.Lock()
	err := copyReply(&st.counter, r)
	s.cwMu.Unlock()
	return err
}

func (s *Session) flushReplies() error {
	s.cwMu.Lock()
	defer s.cwMu.Unlock()
	if s.cw.Buffered() == 0 {
		return nil
	}
	return s.cw.Flush()
}

// complete finishes the head entry.
func (s *Session) complete(st *replyState) {
	if e := &st.cur[st.idx]; e.sent != 0 {
		s.srv.metrics.rtt.observePassthrough(e.sent)
	}
	s.releaseLock(&st.cur[st.idx])
	st.idx++
	st.done++
	if st.idx == len(st.cur) {
		st.cur, st.idx = s.q.take(st.cur, st.done), 0
		st.done = 0
	}
}

// completeRun finishes the k entries at the head, which copyRun served.
func (s *Session) completeRun(st *replyState, k int) {
	for i := range st.cur[st.idx : st.idx+k] {
		if e := &st.cur[st.idx+i]; e.sent != 0 {
			s.srv.metrics.rtt.observePassthrough(e.sent)
		}
		s.releaseLock(&st.cur[st.idx+i])
	}
	st.idx += k
	st.done += k
	if st.idx == len(st.cur) {
		st.cur, st.idx = s.q.take(st.cur, st.done), 0
		st.done = 0
	}
}

// handleReply is the slow path: the reply may be unsolicited, may belong
// to the proxy itself, or may change the session's state.
func (s *Session) handleReply(st *replyState, u *UpstreamConn, e *pending) error {
	r := u.r
	h := &st.head
	st.counter.n, st.counter.err = 0, nil
	if err := peekHead(r, h); err != nil {
		return err
	}
	confirm := e != nil && e.kind.isSubscription() && (h.kind == '>' || h.kind == '*') &&
		subscriptionKind(h.Name()) == e.kind
	unsolicited := !confirm && (h.kind == '>' ||
		st.nChan+st.nPat+st.nShard > 0 && st.proto == 2 && h.kind == '*' && isMessageName(h.Name()) ||
		st.monitor && h.kind == '+' && h.lineLen > 0 && h.line[0] >= '0' && h.line[0] <= '9' ||
		e == nil)
	if unsolicited {
		return s.copyToClient(st, r)
	}
	if confirm {
		if err := s.copyToClient(st, r); err != nil {
			return err
		}
		s.confirmSubscription(st, e)
		return nil
	}
	switch e.kind {
	case kindSwallow:
		if err := copyReply(io.Discard, r); err != nil {
			return err
		}
		if h.kind == '-' {
			s.log.Warn("upstream rejected connection setup after RESET", zap.ByteString("reply", h.Line()))
		}
	case kindDo:
		var sink byteSink
		if err := copyReply(&sink, r); err != nil {
			return err
		}
		u.doCh <- doResult{b: sink}
	case kindProbe:
		if err := copyReply(io.Discard, r); err != nil {
			return err
		}
		if h.kind == '-' && bytes.HasPrefix(h.Line(), []byte("NOAUTH")) {
			s.auth.Store(authNo)
		} else {
			s.auth.Store(authYes)
		}
	case kindClientInfo:
		st.infoSink = st.infoSink[:0]
		if err := copyReply(&st.infoSink, r); err != nil {
			return err
		}
		if i := bytes.Index(st.infoSink, []byte(" db=")); i >= 0 {
			rest := st.infoSink[i+4:]
			if j := bytes.IndexByte(rest, ' '); j >= 0 {
				if db, ok := string2ll(rest[:j]); ok {
					s.db.Store(db)
				}
			}
		}
	case kindExec:
		if e.arg != 1 || h.kind != '*' {
			if err := s.copyToClient(st, r); err != nil {
				return err
			}
			s.applyReply(st, e, h)
			break
		}
		// Keep a copy of the EXEC reply to find the confirmations in it.
		st.infoSink = st.infoSink[:0]
		st.counter.n, st.counter.err = 0, nil
		s.cwMu.Lock()
		err := copyReply(io.MultiWriter(&st.counter, &st.infoSink), r)
		s.cwMu.Unlock()
		if err != nil {
			return err
		}
		s.applyReply(st, e, h)
		s.scanTransaction(st, st.infoSink)
	default:
		if e.silent {
			if err := copyReply(io.Discard, r); err != nil {
				return err
			}
		} else if err := s.copyToClient(st, r); err != nil {
			return err
		}
		s.applyReply(st, e, h)
	}
	s.complete(st)
	return nil
}

// scanTransaction applies the pub/sub confirmations found among the
// elements of an EXEC reply.
func (s *Session) scanTransaction(st *replyState, reply []byte) {
	r := bufio.NewReader(bytes.NewReader(reply))
	if _, err := r.ReadSlice('\n'); err != nil {
		return
	}
	var h replyHead
	for r.Buffered() > 0 {
		if peekHead(r, &h) != nil {
			return
		}
		if h.hasCount {
			st.applyConfirmation(subscriptionKind(h.Name()), h.count)
		}
		if copyReply(io.Discard, r) != nil {
			return
		}
	}
	st.update(s)
}

// applyConfirmation updates the subscription counts from one confirmation;
// Redis reports channels plus patterns, or shard channels, after the change.
func (st *replyState) applyConfirmation(k cmdKind, count int64) {
	switch k {
	case kindSubscribe, kindUnsubscribe:
		st.nChan = max(int(count)-st.nPat, 0)
	case kindPsubscribe, kindPunsubscribe:
		st.nPat = max(int(count)-st.nChan, 0)
	case kindSsubscribe, kindSunsubscribe:
		st.nShard = max(int(count), 0)
	}
}

// applyReply updates the session after a client command's reply.
func (s *Session) applyReply(st *replyState, e *pending, h *replyHead) {
	ok := h.kind == '+' && string(h.Line()) == "OK"
	switch e.kind {
	case kindSelect:
		if ok && e.arg >= 0 {
			s.db.Store(int64(e.arg))
		}
	case kindHello:
		switch h.kind {
		case '%':
			st.proto = 3
		case '*':
			st.proto = 2
		}
		if h.kind != '-' {
			s.auth.Store(authYes)
			st.update(s)
		}
	case kindAuth:
		if ok {
			s.auth.Store(authYes)
		}
	case kindMulti:
		if ok {
			s.multi.Store(true)
		}
	case kindExec:
		if h.kind != '-' || bytes.HasPrefix(h.Line(), []byte("EXECABORT")) {
			s.multi.Store(false)
		}
	case kindMonitor:
		if ok {
			st.monitor = true
			st.update(s)
		}
	case kindReset:
		if h.kind == '+' && string(h.Line()) == "RESET" {
			st.proto, st.nChan, st.nPat, st.nShard, st.monitor = 2, 0, 0, 0, false
			st.update(s)
			s.multi.Store(false)
			s.db.Store(int64(s.srv.up.DB))
			st.authed = false
			if s.srv.up.Password != "" {
				s.auth.Store(authYes)
			} else {
				s.auth.Store(authUnknown)
			}
		}
	}
}

// confirmSubscription counts a (un)subscribe confirmation against its
// command. Redis reports the client's subscription total in each, which
// keeps the per-kind counts exact; an argument-less unsubscribe gets one
// confirmation per subscription it drops, or one if there was none.
func (s *Session) confirmSubscription(st *replyState, e *pending) {
	h := &st.head
	var before int
	switch e.kind {
	case kindSubscribe, kindUnsubscribe:
		before = st.nChan
	case kindPsubscribe, kindPunsubscribe:
		before = st.nPat
	default:
		before = st.nShard
	}
	if h.hasCount {
		st.applyConfirmation(e.kind, h.count)
	}
	st.update(s)
	if e.arg < 0 {
		e.arg = max(before, 1)
	}
	e.arg--
	if e.arg <= 0 {
		s.complete(st)
	}
}

// replyFailed ends the reply side: every outstanding entry fails, the
// client hears why (unless a reply was cut in half) and the session closes.
func (s *Session) replyFailed(st *replyState, u *UpstreamConn, err error, midReply bool) {
	rest := append(st.cur[st.idx:len(st.cur):len(st.cur)], s.q.close()...)
	st.cur, st.idx = nil, 0
	closing := s.ctx.Err() != nil
	clientGone := st.counter.err != nil
	// After QUIT or the client's end of input the upstream closes; what
	// it did not answer (a blocked command) gets no reply, as with Redis.
	quit := s.quitting.Load() && (err == io.EOF || err == io.ErrUnexpectedEOF || errors.Is(err, net.ErrClosed))
	switch {
	case clientGone:
		s.log.Debug("client write failed", zap.Error(err))
		closing = true
	case closing || quit:
		s.log.Debug("upstream connection closed", zap.Error(err))
	case errors.Is(err, errBadReply):
		s.srv.metrics.upstreamErrors.WithLabelValues("io").Inc()
		s.log.Error("upstream sent an invalid reply; closing client", zap.Error(err))
	default:
		s.srv.metrics.upstreamErrors.WithLabelValues("io").Inc()
		s.log.Warn("upstream connection lost; closing client", zap.Error(err), zap.Int("pending", len(rest)))
	}
	msg := []byte("-ERR upstream connection lost: " + sanitize([]byte(err.Error())) + "\r\n")
	s.cwMu.Lock()
	for i := range rest {
		e := &rest[i]
		s.releaseLock(e)
		switch {
		case e.kind == kindDo:
			u.doCh <- doResult{err: errUpstreamLost}
		case e.kind.internal() || closing || midReply || quit:
		default:
			_, _ = s.cw.Write(msg)
		}
	}
	if !closing {
		_ = s.cw.Flush()
	}
	s.cwMu.Unlock()
	s.close()
}
