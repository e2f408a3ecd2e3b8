package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Buffer sizes. The client read buffer holds more than Redis's 64 KiB
// inline limit, so every protocol limit can be checked inside it.
const (
	clientReadBuf   = inlineMaxSize + 4096
	clientWriteBuf  = 32 * 1024
	upstreamReadBuf = 64 * 1024
	upstreamFlushAt = 64 * 1024
)

// Authentication state of the upstream connection, for Redis's limits on
// unauthenticated requests.
const (
	authUnknown int32 = iota
	authYes
	authNo
)

var errUpstreamLost = errors.New("upstream connection lost")

// Session is one client connection and its upstream connection.
type Session struct {
	id   uint64
	srv  *Server
	conn net.Conn
	cr   *bufio.Reader
	log  *zap.Logger

	// Client output, shared by the reply goroutine and local replies.
	cwMu sync.Mutex
	cw   *bufio.Writer

	ctx    context.Context
	cancel context.CancelFunc
	// closeMu guards closed and upNet, which Shutdown reaches from
	// outside the session's goroutines.
	closeMu sync.Mutex
	closed  bool
	upNet   net.Conn

	// Request side (the session's own goroutine).
	up          *UpstreamConn
	q           replyQueue
	parser      requestParser
	batch       []pending
	passCount   int
	rttTick     uint8 // forwarded commands, for sampling their round trips
	replyDone   chan struct{}
	downErr     error
	nextDial    time.Time
	backoff     time.Duration
	dialCh      chan dialResult
	replyOff    bool // CLIENT REPLY OFF
	skipNext    bool // CLIENT REPLY SKIP
	maybeMulti  bool // a MULTI was forwarded and no EXEC/DISCARD/RESET since
	txSelect    bool // a SELECT was forwarded inside that transaction
	txSub       bool // a (un)subscribe was forwarded inside that transaction
	ignoreInput bool // after a silenced QUIT: read and drop until the client goes

	// held is a transaction the Handler holds: every command goes to it
	// until EXEC or DISCARD (see scripting_multi.go).
	held *heldTx

	aclUser string     // the user AUTH or HELLO last named; "" for the URL's
	tx      txLocks    // keys queued in MULTI, locked at EXEC
	txOwner *lockOwner // the locks of a held transaction running at EXEC
	keyBuf  [][]byte   // scratch for the keys of a forwarded command

	// scriptsOwnConn: scripts' calls must use this connection, not a
	// shared one (see noteForScripts).
	scriptsOwnConn bool

	// State learnt from replies (written by the reply goroutine).
	db       atomic.Int64
	proto    atomic.Int32
	multi    atomic.Bool
	subs     atomic.Int32 // channels + patterns + shard channels
	monitor  atomic.Bool
	auth     atomic.Int32
	quitting atomic.Bool // QUIT sent, or the client half-closed: the upstream will close
}

type dialResult struct {
	conn net.Conn
	err  error
}

func newSession(srv *Server, c net.Conn) *Session {
	s := &Session{
		id:   srv.nextID.Add(1),
		srv:  srv,
		conn: c,
		cr:   bufio.NewReaderSize(c, clientReadBuf),
		cw:   bufio.NewWriterSize(c, clientWriteBuf),
	}
	s.log = srv.log.With(zap.Uint64("client", s.id))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.parser.maxBulk = srv.cfg.ProtoMaxBulkLen
	s.q.init()
	s.db.Store(int64(srv.up.DB))
	s.proto.Store(2)
	return s
}

// ID is the proxy's number for the connection, unique per Server.
func (s *Session) ID() uint64 { return s.id }

// DB is the selected database, as learnt from SELECT, RESET and the
// upstream URL.
func (s *Session) DB() int { return int(s.db.Load()) }

// Proto is the RESP version, 2 or 3, as learnt from HELLO and RESET.
func (s *Session) Proto() int { return int(s.proto.Load()) }

// InMulti reports whether a MULTI is open.
func (s *Session) InMulti() bool { return s.multi.Load() }

// Subscribed reports whether the connection has any pub/sub subscription.
func (s *Session) Subscribed() bool { return s.subs.Load() > 0 }

// Upstream is the session's upstream connection, for the Handler.
func (s *Session) Upstream() *UpstreamConn { return s.up }

// interrupt makes a blocked client read return, for Shutdown.
func (s *Session) interrupt() { _ = s.conn.SetReadDeadline(time.Now()) }

// close tears the session down; safe to call more than once.
func (s *Session) close() {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.cancel()
	_ = s.conn.Close()
	if s.upNet != nil {
		_ = s.upNet.Close()
	}
}

func (s *Session) run() {
	s.log.Debug("client connected", zap.Stringer("remote", s.conn.RemoteAddr()))
	if c, err := s.srv.dialUpstream(); err != nil {
		s.setDown(err)
	} else {
		s.attach(c)
	}
	err := s.readLoop()
	if errors.Is(err, io.EOF) && s.up != nil {
		s.finishAfterEOF()
	}
	s.dropBatch() // what never reached the reply side
	s.close()
	if s.replyDone != nil {
		<-s.replyDone
	}
	if s.dialCh != nil {
		go func(ch chan dialResult) {
			if r := <-ch; r.conn != nil {
				_ = r.conn.Close()
			}
		}(s.dialCh)
	}
	s.log.Debug("client closed", zap.Error(err))
}

// finishAfterEOF handles a client that closed its sending side: like
// Redis, the upstream sees the end of input after the last request, sends
// the replies it owes and closes, and those replies reach the client.
func (s *Session) finishAfterEOF() {
	s.quitting.Store(true)
	if err := s.flushUpstream(); err != nil {
		return
	}
	type closeWriter interface{ CloseWrite() error }
	cw, ok := s.up.conn.(closeWriter)
	if !ok || cw.CloseWrite() != nil {
		return
	}
	t := time.NewTimer(max(s.srv.cfg.DrainTimeout, time.Second))
	defer t.Stop()
	select {
	case <-s.replyDone:
	case <-t.C:
	}
	_ = s.flushClient()
}

func (s *Session) setDown(err error) {
	s.downErr = err
	s.backoff = min(max(2*s.backoff, 100*time.Millisecond), 5*time.Second)
	s.nextDial = time.Now().Add(s.backoff)
	s.log.Warn("upstream unavailable", zap.Error(err))
}

// attach starts using a freshly dialled upstream connection.
func (s *Session) attach(c net.Conn) {
	s.backoff = 0
	s.downErr = nil
	s.held = nil // a new connection has no transaction
	s.closeMu.Lock()
	s.upNet = c
	if s.closed {
		_ = c.Close()
	}
	s.closeMu.Unlock()
	s.up = &UpstreamConn{sess: s, conn: c, r: bufio.NewReaderSize(c, upstreamReadBuf), doCh: make(chan doResult, 1)}
	if s.srv.up.Password != "" {
		s.auth.Store(authYes)
	}
	s.replyDone = make(chan struct{})
	go s.replyLoop(s.up)
}

// redial tries to get an upstream connection for a session that has none,
// without making the client wait: a dial runs in the background and its
// result is picked up by a later command.
func (s *Session) redial() bool {
	if s.dialCh != nil {
		select {
		case r := <-s.dialCh:
			s.dialCh = nil
			if r.err == nil {
				s.attach(r.conn)
				return true
			}
			s.setDown(r.err)
		default:
			return false
		}
	}
	if time.Now().Before(s.nextDial) {
		return false
	}
	ch := make(chan dialResult, 1)
	s.dialCh = ch
	go func() {
		c, err := s.srv.dialUpstream()
		ch <- dialResult{c, err}
	}()
	return false
}

// readLoop reads, parses and dispatches client requests until the
// connection ends.
func (s *Session) readLoop() error {
	for {
		if s.ignoreInput {
			_, _ = s.cr.Discard(s.cr.Buffered())
			if err := s.fill(); err != nil {
				return err
			}
			continue
		}
		buf, _ := s.cr.Peek(s.cr.Buffered())
		if len(buf) > 0 {
			req, ok, perr := s.parser.parse(buf, s.auth.Load() != authYes)
			if (perr == errUnauthMbulkLen || perr == errUnauthBulkLen) && s.up != nil &&
				(s.auth.Load() == authUnknown || len(s.batch) > 0 || s.q.busy()) {
				// Judge by the state after every earlier command, as Redis
				// does: an AUTH may be on its way.
				if !s.learnAuth() {
					return errUpstreamLost
				}
				continue
			}
			if perr != "" {
				return s.protocolError(perr)
			}
			if ok {
				keep := true
				if !req.empty {
					keep = s.dispatch(req.argv, buf[:req.n], req.inline)
				} else if s.skipNext && s.up != nil {
					// Redis lets an empty request use up CLIENT REPLY SKIP;
					// the upstream must see it too.
					s.up.out = append(s.up.out, "*0\r\n"...)
					s.skipNext = false
				}
				_, _ = s.cr.Discard(req.n)
				if !keep {
					return nil
				}
				continue
			}
			if s.cr.Buffered() == s.cr.Size() {
				if err := s.streamRequest(); err != nil {
					return err
				}
				continue
			}
		}
		if err := s.fill(); err != nil {
			return err
		}
	}
}

var (
	errIdle     = errors.New("idle timeout")
	errShutdown = errors.New("server shutting down")
)

// fill delivers what is pending and then reads more client input. It
// applies the idle timeout and notices Shutdown.
func (s *Session) fill() error {
	if err := s.flushAll(); err != nil {
		return err
	}
	idle := s.srv.cfg.ClientIdleTimeout
	for {
		if idle > 0 {
			_ = s.conn.SetReadDeadline(time.Now().Add(idle))
		}
		if s.srv.closing.Load() {
			s.drainForShutdown()
			return errShutdown
		}
		_, err := s.cr.Peek(s.cr.Buffered() + 1)
		if err == nil {
			return nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if s.srv.closing.Load() {
				s.drainForShutdown()
				return errShutdown
			}
			if idle > 0 && !s.busy() {
				s.log.Debug("closing idle client")
				return errIdle
			}
			continue
		}
		return err
	}
}

// busy reports whether the client waits for something (a blocking command,
// subscriptions, MONITOR), which exempts it from the idle timeout as in Redis.
func (s *Session) busy() bool {
	return s.Subscribed() || s.monitor.Load() || (s.up != nil && s.q.busy())
}

func (s *Session) drainForShutdown() {
	if s.up != nil {
		s.drain()
	}
	s.flushClient()
}

// flushAll sends the upstream what has been forwarded and the client what
// was answered locally. If the reply goroutine is busy copying (maybe a
// large reply), it flushes the client's buffer itself once it is idle, so
// the request side does not wait for it.
func (s *Session) flushAll() error {
	if s.up != nil {
		if err := s.flushUpstream(); err != nil {
			return err
		}
	}
	if !s.cwMu.TryLock() {
		return nil
	}
	defer s.cwMu.Unlock()
	if s.cw.Buffered() == 0 {
		return nil
	}
	return s.cw.Flush()
}

func (s *Session) flushClient() error {
	s.cwMu.Lock()
	defer s.cwMu.Unlock()
	if s.cw.Buffered() == 0 {
		return nil
	}
	return s.cw.Flush()
}

// flushUpstream publishes the pending entries and then writes the
// forwarded bytes, in that order.
func (s *Session) flushUpstream() error {
	u := s.up
	if len(s.batch) > 0 {
		if !s.q.publish(s.batch) {
			s.dropBatch()
			return errUpstreamLost
		}
		s.batch = s.batch[:0]
	}
	if s.passCount > 0 {
		s.srv.metrics.passthrough.Add(float64(s.passCount))
		s.passCount = 0
	}
	if len(u.out) == 0 {
		return nil
	}
	_, err := u.conn.Write(u.out)
	if cap(u.out) > 4*upstreamFlushAt {
		u.out = nil
	} else {
		u.out = u.out[:0]
	}
	if err != nil {
		return fmt.Errorf("%w: %v", errUpstreamLost, err)
	}
	return nil
}

// drain waits until every forwarded command's reply has been delivered.
func (s *Session) drain() bool {
	if err := s.flushUpstream(); err != nil {
		return false
	}
	return s.q.wait()
}

func (s *Session) writeLocal(b []byte) error {
	s.cwMu.Lock()
	defer s.cwMu.Unlock()
	_, err := s.cw.Write(b)
	return err
}

// protocolError answers a malformed request as Redis does, after the
// replies of everything before it, and ends the session.
func (s *Session) protocolError(msg string) error {
	if s.up != nil {
		s.drain()
	}
	if !s.replyOff && !s.skipNext { // CLIENT REPLY silences this too
		_ = s.writeLocal([]byte("-ERR " + msg + "\r\n"))
	}
	_ = s.flushClient()
	s.log.Debug("client protocol error", zap.String("error", msg))
	return errors.New(msg)
}

// learnAuth finds out whether the upstream connection is authenticated,
// once everything before has completed: a session in a transaction, in
// pub/sub or in MONITOR must be; otherwise a PING tells.
func (s *Session) learnAuth() bool {
	if s.up == nil {
		s.auth.Store(authYes) // nothing reaches Redis anyway
		return true
	}
	if !s.drain() {
		return false
	}
	if s.auth.Load() != authUnknown {
		return true
	}
	if s.multi.Load() || s.Subscribed() || s.monitor.Load() {
		s.auth.Store(authYes)
		return true
	}
	if s.replyOff || s.skipNext {
		// The probe's reply would be suppressed. Assume authenticated:
		// the upstream still refuses the command if not.
		s.auth.Store(authYes)
		return true
	}
	s.batch = append(s.batch, pending{kind: kindProbe})
	s.up.out = appendCommand(s.up.out, [][]byte{[]byte("PING")})
	return s.drain()
}

// dispatch handles one complete request. raw is its bytes as received.
func (s *Session) dispatch(argv [][]byte, raw []byte, inline bool) bool {
	spec := s.srv.names.lookup(argv[0])
	if s.up == nil && !s.redial() {
		return s.serveDown(spec)
	}
	if s.held != nil && s.srv.handler != nil && spec.kind != kindReset && spec.kind != kindQuit {
		return s.serveHandler(argv) // every command of the held transaction
	}
	if spec.route == routeHandler && s.srv.handler != nil {
		return s.serveHandler(argv)
	}
	if reply := s.intercept(argv); reply != nil {
		if s.replyOff || s.skipNext {
			s.skipNext = false
			return true
		}
		s.answerLocal(reply)
		return true
	}
	s.noteForScripts(argv, spec.kind)
	return s.forward(argv, raw, inline, spec)
}

var replyOK = []byte("+OK\r\n")

// serveDown answers a command while there is no upstream connection.
func (s *Session) serveDown(spec cmdSpec) bool {
	if spec.kind == kindQuit {
		_ = s.writeLocal(replyOK)
		_ = s.flushClient()
		return false
	}
	_ = s.writeLocal([]byte("-ERR upstream unavailable: " + sanitize([]byte(s.downErr.Error())) + "\r\n"))
	return true
}

// serveHandler runs the Handler for a command, in order with the rest.
func (s *Session) serveHandler(argv [][]byte) bool {
	if !s.drain() {
		return false
	}
	s.srv.metrics.script.Inc()
	suppressed := s.replyOff || s.skipNext
	var reply []byte
	if s.Subscribed() && s.Proto() == 2 {
		s.skipNext = false
		reply = subscribedContextError(argv)
	} else {
		// CLIENT REPLY OFF or SKIP, forwarded earlier, would also silence
		// the upstream's replies to the Handler's commands: use up a
		// pending SKIP with a PING and lift OFF for the Handler's time.
		if s.skipNext {
			s.up.out = appendCommand(s.up.out, [][]byte{[]byte("PING")})
			s.skipNext = false
		}
		if s.replyOff {
			s.batch = append(s.batch, pending{kind: kindSwallow})
			s.up.out = appendCommand(s.up.out, [][]byte{[]byte("CLIENT"), []byte("REPLY"), []byte("ON")})
			defer func() {
				s.up.out = appendCommand(s.up.out, [][]byte{[]byte("CLIENT"), []byte("REPLY"), []byte("OFF")})
			}()
		}
		var ok bool
		reply, ok = s.callHandler(argv)
		if !ok {
			_ = s.writeLocal(reply)
			_ = s.flushClient()
			return false
		}
		if s.q.isClosed() {
			return false
		}
	}
	if suppressed {
		return true
	}
	return s.writeLocal(reply) == nil
}

// callHandler runs the Handler. A panic or an empty reply is a Handler
// bug: the client gets an error and, since the upstream connection may be
// in any state, the session ends (ok false).
func (s *Session) callHandler(argv [][]byte) (reply []byte, ok bool) {
	s.up.active = true
	defer func() {
		s.up.active = false
		if p := recover(); p != nil {
			s.log.Error("handler panicked", zap.Any("panic", p), zap.ByteString("command", argv[0]), zap.Stack("stack"))
			reply, ok = []byte("-ERR internal error in luaproxy\r\n"), false
		}
	}()
	reply = s.srv.handler.Serve(s.ctx, s, argv)
	if len(reply) == 0 {
		s.log.Error("handler returned no reply", zap.ByteString("command", argv[0]))
		return []byte("-ERR internal error in luaproxy: no reply\r\n"), false
	}
	return reply, true
}

// subscribedContextError is Redis's refusal of a command in RESP2 pub/sub mode.
func subscribedContextError(argv [][]byte) []byte {
	name := bytes.ToLower(argv[0])
	if len(argv) > 1 && (equalFold(argv[0], "SCRIPT") || equalFold(argv[0], "FUNCTION")) {
		name = append(append(name, '|'), bytes.ToLower(argv[1])...)
	}
	return []byte("-ERR Can't execute '" + sanitize(name) +
		"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n")
}

// forward sends a command to the upstream and records the reply it expects.
func (s *Session) forward(argv [][]byte, raw []byte, inline bool, spec cmdSpec) bool {
	u := s.up
	e := pending{kind: spec.kind}
	skipped := s.skipNext
	suppressed := s.replyOff || skipped
	s.skipNext = false
	var extra []pending
	var extraCmds [][][]byte
	switch spec.kind {
	case kindSync:
		// What follows is a stream with no end, which would hold the
		// keyspace's global lock for ever: replicas connect to the
		// upstream itself.
		if !suppressed {
			s.answerLocal(errSync)
		}
		return true
	case kindSelect:
		e.arg = -1
		if len(argv) == 2 {
			if v, ok := string2ll(argv[1]); ok && v >= 0 && v <= math.MaxInt32 {
				e.arg = int(v)
			}
		}
		if s.maybeMulti {
			s.txSelect = true
		}
	case kindSubscribe, kindPsubscribe, kindSsubscribe:
		e.arg = len(argv) - 1
		s.txSub = s.txSub || s.maybeMulti
	case kindUnsubscribe, kindPunsubscribe, kindSunsubscribe:
		e.arg = len(argv) - 1
		if e.arg == 0 {
			e.arg = -1
		}
		s.txSub = s.txSub || s.maybeMulti
	case kindMulti:
		s.maybeMulti = true
	case kindExec:
		if s.maybeMulti && !s.replyOff && equalFold(argv[0], "EXEC") {
			// The transaction's SELECT takes effect at EXEC, and its
			// confirmations arrive inside EXEC's reply: learn the database
			// from CLIENT INFO, the subscriptions from the reply itself.
			if s.txSelect {
				extra = append(extra, pending{kind: kindClientInfo})
				extraCmds = append(extraCmds, [][]byte{[]byte("CLIENT"), []byte("INFO")})
			}
			if s.txSub {
				e.arg = 1
			}
		}
		s.maybeMulti, s.txSelect, s.txSub = false, false, false
	case kindReset:
		s.maybeMulti, s.txSelect, s.txSub, s.replyOff = false, false, false, false
		s.held = nil
		// RESET lifts CLIENT REPLY OFF before it replies, but a pending
		// SKIP still hides +RESET. The proxy needs that reply to reset its
		// state, so it uses the SKIP up with a PING and drops +RESET.
		suppressed = false
		if skipped {
			u.out = appendCommand(u.out, [][]byte{[]byte("PING")})
			e.silent = true
		}
		for _, cmd := range s.srv.handshake() {
			extra = append(extra, pending{kind: kindSwallow})
			extraCmds = append(extraCmds, cmd)
		}
	case kindQuit:
		s.quitting.Store(true)
		if suppressed {
			// Redis swallows QUIT's +OK and leaves the connection open,
			// ignoring input, until the client goes.
			s.ignoreInput = true
		}
	case kindClient:
		if len(argv) == 3 && equalFold(argv[1], "REPLY") {
			// Whether CLIENT REPLY takes effect depends on the state after
			// every earlier command (a transaction queues it, RESP2 pub/sub
			// refuses it): wait for their replies. It is rare.
			if !s.drain() {
				return false
			}
			if s.multi.Load() || s.Subscribed() && s.Proto() == 2 || s.auth.Load() == authNo {
				break
			}
			switch {
			case equalFold(argv[2], "OFF"):
				s.replyOff, suppressed = true, true
			case equalFold(argv[2], "ON"):
				s.replyOff, suppressed = false, false
			case equalFold(argv[2], "SKIP"):
				if !s.replyOff {
					s.skipNext = true
				}
				suppressed = true
			}
		}
	}
	// Pub/sub confirmations reach the client even when replies are off.
	if !suppressed || spec.kind.isSubscription() && e.arg != 0 {
		if !s.lockForward(&e, argv, spec.kind) {
			return true // answered -BUSY
		}
		if s.rttTick++; s.rttTick%rttSampleEvery == 0 {
			e.sent = s.srv.metrics.rtt.stamp()
		}
		s.batch = append(s.batch, e)
	}
	if inline {
		u.out = appendCommand(u.out, argv)
	} else {
		u.out = append(u.out, raw...)
	}
	s.passCount++
	for i, cmd := range extraCmds {
		s.batch = append(s.batch, extra[i])
		u.out = appendCommand(u.out, cmd)
	}
	if spec.kind == kindQuit && !s.ignoreInput {
		s.drain()
		_ = s.flushClient()
		return false
	}
	if len(u.out) >= upstreamFlushAt {
		if err := s.flushUpstream(); err != nil {
			return false
		}
	}
	return true
}

// streamRequest handles a multibulk request too big for the read buffer:
// its count line is complete, its arguments are not. A forwarded request
// streams through in chunks; one for the Handler is collected in memory,
// as Redis would hold it.
func (s *Session) streamRequest() error {
	if s.auth.Load() == authUnknown && !s.learnAuth() {
		return errUpstreamLost
	}
	authReq := s.auth.Load() != authYes
	buf, _ := s.cr.Peek(s.cr.Buffered())
	cr := strchr(buf, '\r')
	if cr < 0 || cr > len(buf)-2 {
		// A count line filling the buffer: far too long to be a number.
		return s.protocolError(errInvalidMbulkLen)
	}
	count, _ := string2ll(buf[1:cr])
	hdr := append([]byte(nil), buf[:cr+2]...)
	_, _ = s.cr.Discard(cr + 2)

	var (
		argv    [][]byte
		spec    cmdSpec
		decided bool          // the route is known
		collect bool          // arguments are kept for the Handler
		u       *UpstreamConn // forwarding to it; nil: dropping (no upstream)
	)
	decide := func(name []byte) {
		decided = true
		if name != nil {
			spec = s.srv.names.lookup(name)
		}
		if spec.route == routeHandler && s.srv.handler != nil {
			collect = true
			return
		}
		spec.route = routePass
		u = s.beginStreamForward(spec, count, argv, hdr)
	}
	for i := int64(0); i < count; i++ {
		var n int64
		for {
			rest, _ := s.cr.Peek(s.cr.Buffered())
			var size int
			var perr string
			n, size, perr = s.parser.bulkHeader(rest, authReq)
			if perr != "" {
				return s.protocolError(perr)
			}
			if size > 0 {
				switch {
				case !decided:
					hdr = append(hdr, rest[:size]...)
				case u != nil:
					u.out = append(u.out, rest[:size]...)
				}
				_, _ = s.cr.Discard(size)
				break
			}
			if s.cr.Buffered() == s.cr.Size() {
				// A length line filling the buffer: far too long to be a number.
				return s.protocolError(errInvalidBulkLen)
			}
			if err := s.fill(); err != nil {
				return err
			}
		}
		if !decided && n > maxCommandName {
			decide(nil) // too long to be a command the proxy treats specially
		}
		keep := !decided || collect
		var arg []byte
		if keep {
			// Grow with the data rather than trusting the announced length.
			arg = make([]byte, 0, min(n, 1<<20))
		}
		for remaining := n + 2; remaining > 0; {
			if s.cr.Buffered() == 0 {
				if err := s.fill(); err != nil {
					return err
				}
			}
			k := min(int64(s.cr.Buffered()), remaining)
			b, _ := s.cr.Peek(int(k))
			if keep {
				body := b
				if over := int64(len(arg)) + k - n; over > 0 {
					body = b[:int64(len(b))-over]
				}
				arg = append(arg, body...)
			}
			switch {
			case !decided:
				hdr = append(hdr, b...)
			case u != nil:
				u.out = append(u.out, b...)
				if len(u.out) >= upstreamFlushAt {
					if err := s.flushUpstream(); err != nil {
						return err
					}
				}
			}
			_, _ = s.cr.Discard(int(k))
			remaining -= k
		}
		if keep {
			argv = append(argv, arg)
		}
		if !decided {
			decide(arg)
		}
	}
	switch {
	case collect:
		if !s.dispatch(argv, nil, true) {
			return errUpstreamLost
		}
	case u == nil:
		if !s.serveDown(spec) {
			return errors.New("quit")
		}
	}
	return nil
}

// beginStreamForward starts forwarding a streamed request whose header
// (and possibly first argument) is in hdr. It returns nil if there is no
// upstream connection, in which case the rest is read and dropped.
func (s *Session) beginStreamForward(spec cmdSpec, count int64, argv [][]byte, hdr []byte) *UpstreamConn {
	if s.up == nil && !s.redial() {
		return nil
	}
	s.noteForScripts(nil, spec.kind)
	e := pending{kind: spec.kind}
	switch spec.kind {
	case kindSubscribe, kindPsubscribe, kindSsubscribe, kindUnsubscribe, kindPunsubscribe, kindSunsubscribe:
		// Many channels at once: one confirmation each.
		e.arg = int(min(count-1, math.MaxInt32))
		s.txSub = s.txSub || s.maybeMulti
	case kindHello, kindAuth:
		// Their replies alone say what changed.
	default:
		// The other watched commands take no argument this big: their
		// reply is an error that changes nothing.
		e.kind = kindPlain
	}
	suppressed := s.replyOff || s.skipNext
	s.skipNext = false
	if !suppressed || e.kind.isSubscription() && e.arg != 0 {
		s.lockForward(&e, nil, e.kind)
		s.batch = append(s.batch, e)
	}
	s.passCount++
	s.up.out = append(s.up.out, hdr...)
	return s.up
}
