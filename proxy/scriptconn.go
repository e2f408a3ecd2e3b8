package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Shared script connections.
//
// A scriptPool holds a few upstream connections per database on which the
// redis.call traffic of many concurrent scripts is pipelined: a script
// sends its command, and while it waits for the reply other scripts'
// commands go out on the same connection, often in the same write. The
// upstream then reads and answers many commands per event-loop turn
// instead of one, which is where it saves CPU over scripts that each use
// their own client's connection (see sessionCaller for when a script may
// use the pool).
//
// Each connection has one writer goroutine and one reader goroutine. A
// caller appends its encoded command to the connection's output buffer and
// its waiter to the FIFO of calls awaiting replies, under one lock, so the
// two stay in the same order; it then wakes the writer and waits. The
// writer yields once (runtime.Gosched, no timer), so that scripts just
// answered can queue their next calls, then writes everything queued in
// one write. The reader copies each reply, byte for byte, into the waiter
// at the head of the FIFO and wakes it.
//
// Connections are dialled on first use like session connections (AUTH as
// the configured user, SELECT of the URL's database, then SELECT of the
// pool's database if it differs, and a PING to see the upstream serves
// it), and again after a loss. A lost connection fails every call in
// flight on it with errUpstreamLost. A call that finds no connection (being
// dialled, or the last dial failed recently) is not sent and the script
// goes on on its session's connection.

// scriptPool is the set of shared script connections of a Server.
type scriptPool struct {
	srv     *Server
	size    int // connections per database
	next    atomic.Uint32
	waiters sync.Pool // *scriptWaiter

	mu     sync.Mutex
	sets   map[int][]*scriptConn // by database, created on first use
	closed bool
}

// newScriptPool returns a pool of size connections per database, or nil
// if size is not positive (scripts then use their clients' connections).
func newScriptPool(srv *Server, size int) *scriptPool {
	if size <= 0 {
		return nil
	}
	return &scriptPool{srv: srv, size: size, sets: make(map[int][]*scriptConn)}
}

// pick returns a connection for a script running in database db. Scripts
// are spread over the connections in turn; one script's calls all go on
// the connection it was given, so they execute in order.
func (p *scriptPool) pick(db int) *scriptConn {
	p.mu.Lock()
	set, ok := p.sets[db]
	if !ok {
		set = make([]*scriptConn, p.size)
		for i := range set {
			set[i] = &scriptConn{pool: p, db: db}
		}
		p.sets[db] = set
	}
	p.mu.Unlock()
	return set[p.next.Add(1)%uint32(len(set))]
}

// close closes every connection; calls in flight fail, later ones are
// refused. Safe to call more than once, and on a nil pool.
func (p *scriptPool) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.closed = true
	var conns []*scriptConn
	for _, set := range p.sets {
		conns = append(conns, set...)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// errScriptNotSent is wrapped by the errors of scriptConn.do that mean
// the command was not sent: the caller may send it elsewhere.
var errScriptNotSent = errors.New("shared script connection unavailable")

// scriptConn is one shared connection slot: the live link, if any, and
// the dialling state.
type scriptConn struct {
	pool *scriptPool
	db   int

	dialMu sync.Mutex // held while dialling, before mu

	mu       sync.Mutex
	link     *scriptLink // nil: none (not dialled yet, or lost)
	closed   bool
	nextDial time.Time
	backoff  time.Duration
}

// scriptLink is one network connection of a scriptConn.
type scriptLink struct {
	c    *scriptConn
	nc   net.Conn
	wake chan struct{} // cap 1: the writer has something to write
	done chan struct{} // closed when the link breaks

	// Guarded by c.mu.
	out    []byte          // encoded commands not yet handed to the writer
	queue  []*scriptWaiter // calls whose commands were queued, in order, not yet taken by the reader
	broken bool
}

// scriptWaiter is one script waiting for a reply; a script reuses it for
// each of its calls (it has at most one in flight).
type scriptWaiter struct {
	ch    chan struct{} // cap 1: the reply or err is ready
	reply byteSink
	err   error
}

// getWaiter returns a waiter for a script's calls; putWaiter takes it
// back once the script has ended.
func (p *scriptPool) getWaiter() *scriptWaiter {
	if w, ok := p.waiters.Get().(*scriptWaiter); ok {
		return w
	}
	return &scriptWaiter{ch: make(chan struct{}, 1)}
}

func (p *scriptPool) putWaiter(w *scriptWaiter) {
	if cap(w.reply) > 64<<10 {
		w.reply = nil // do not keep one large reply's memory
	}
	w.err = nil
	p.waiters.Put(w)
}

// do sends argv and returns its raw reply, which stays valid until w's
// next call. An error wrapping errScriptNotSent means nothing was sent;
// errUpstreamLost means the command may or may not have run.
func (c *scriptConn) do(w *scriptWaiter, argv [][]byte) ([]byte, error) {
	c.mu.Lock()
	l := c.link
	if l == nil {
		c.mu.Unlock()
		var err error
		if l, err = c.connect(); err != nil {
			return nil, err
		}
		c.mu.Lock()
	}
	if l.broken {
		c.mu.Unlock()
		return nil, errScriptNotSent
	}
	l.out = appendCommand(l.out, argv)
	l.queue = append(l.queue, w)
	c.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default: // the writer has been woken already and will see this command
	}
	<-w.ch
	if w.err != nil {
		return nil, w.err
	}
	return w.reply, nil
}

// connect returns the live link, dialling one if there is none. While
// another call dials, and for a growing delay after a failed dial, it
// refuses at once: the script then uses its session's connection rather
// than wait.
func (c *scriptConn) connect() (*scriptLink, error) {
	if !c.dialMu.TryLock() {
		return nil, fmt.Errorf("%w: dialling", errScriptNotSent)
	}
	defer c.dialMu.Unlock()
	c.mu.Lock()
	l, closed, next := c.link, c.closed || c.pool.isClosed(), c.nextDial
	c.mu.Unlock()
	switch {
	case closed:
		return nil, fmt.Errorf("%w: closed", errScriptNotSent)
	case l != nil:
		return l, nil
	case time.Now().Before(next):
		return nil, fmt.Errorf("%w: redial pending", errScriptNotSent)
	}
	nc, err := c.dial()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.backoff = min(max(2*c.backoff, 100*time.Millisecond), 5*time.Second)
		c.nextDial = time.Now().Add(c.backoff)
		c.pool.srv.log.Warn("shared script connection: dial failed", zap.Int("db", c.db), zap.Error(err))
		return nil, err
	}
	if c.closed {
		_ = nc.Close()
		return nil, fmt.Errorf("%w: closed", errScriptNotSent)
	}
	c.backoff = 0
	l = &scriptLink{c: c, nc: nc, wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.link = l
	go l.writeLoop()
	go l.readLoop()
	return l, nil
}

func (p *scriptPool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// dial opens a connection as session connections are opened, in the
// slot's database, and checks that the upstream serves it: a Redis at its
// client limit accepts and then only sends an error. A connection that
// is not authenticated (no password in the URL) is served as such.
func (c *scriptConn) dial() (net.Conn, error) {
	srv := c.pool.srv
	nc, err := srv.dialUpstream()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errScriptNotSent, err)
	}
	var out []byte
	if c.db != srv.up.DB {
		out = appendCommand(out, [][]byte{[]byte("SELECT"), appendInt(nil, int64(c.db))})
	}
	out = appendCommand(out, [][]byte{[]byte("PING")})
	_ = nc.SetDeadline(time.Now().Add(srv.cfg.UpstreamDialTimeout))
	err = checkScriptConn(nc, out, c.db != srv.up.DB)
	_ = nc.SetDeadline(time.Time{})
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("%w: %w", errScriptNotSent, err)
	}
	return nc, nil
}

// checkScriptConn sends out (SELECT if selecting, then PING) and checks
// the replies.
func checkScriptConn(nc net.Conn, out []byte, selecting bool) error {
	if _, err := nc.Write(out); err != nil {
		return err
	}
	r := bufio.NewReaderSize(nc, 4096)
	var reply byteSink
	if selecting {
		if err := copyReply(&reply, r); err != nil {
			return err
		}
		if !bytes.Equal(reply, replyOK) {
			return fmt.Errorf("upstream SELECT failed: %s", sanitize(reply))
		}
		reply = reply[:0]
	}
	if err := copyReply(&reply, r); err != nil {
		return err
	}
	if !bytes.Equal(reply, []byte("+PONG\r\n")) && !bytes.HasPrefix(reply, []byte("-NOAUTH ")) {
		return fmt.Errorf("upstream refused the connection: %s", sanitize(reply))
	}
	if r.Buffered() > 0 {
		return fmt.Errorf("%w: unexpected data after PING", errBadReply)
	}
	return nil
}

// close breaks the live link and refuses later dials.
func (c *scriptConn) close() {
	c.mu.Lock()
	c.closed = true
	l := c.link
	c.mu.Unlock()
	if l != nil {
		l.breakLink()
	}
}

// breakLink marks the link broken, so no call joins it, detaches it from
// its slot, so the next call dials, and closes the network connection,
// which ends the reader; the reader then fails the calls in flight.
func (l *scriptLink) breakLink() {
	c := l.c
	c.mu.Lock()
	first := !l.broken
	l.broken = true
	if c.link == l {
		c.link = nil
	}
	c.mu.Unlock()
	if first {
		close(l.done)
		_ = l.nc.Close()
	}
}

// writeLoop writes whatever commands are queued, in one write each time
// it is woken.
func (l *scriptLink) writeLoop() {
	c := l.c
	var spare []byte
	for {
		select {
		case <-l.wake:
		case <-l.done:
			return
		}
		// Let the goroutines that are ready to run go first: they are
		// mostly scripts the reader has just answered, about to queue
		// their next call, which then leaves in this write. A yield, not
		// a delay: with nothing else to run it returns at once.
		runtime.Gosched()
		c.mu.Lock()
		buf := l.out
		l.out = spare[:0]
		c.mu.Unlock()
		if len(buf) == 0 {
			spare = buf
			continue
		}
		if _, err := l.nc.Write(buf); err != nil {
			l.breakLink()
			return
		}
		if cap(buf) > 4*upstreamFlushAt {
			buf = nil
		}
		spare = buf
	}
}

// readLoop hands each reply to the call at the head of the queue, in
// order, until the connection fails; then it fails every call left.
func (l *scriptLink) readLoop() {
	c := l.c
	r := bufio.NewReaderSize(l.nc, upstreamReadBuf)
	var cur []*scriptWaiter
	idx := 0
	var err error
	for {
		if idx == len(cur) {
			if r.Buffered() == 0 {
				if _, err = r.Peek(1); err != nil {
					break
				}
			}
			// Take the queued calls and give the queue the emptied
			// slice to append to: one lock per batch of replies.
			clear(cur)
			c.mu.Lock()
			cur, l.queue = l.queue, cur[:0]
			c.mu.Unlock()
			idx = 0
			if len(cur) == 0 {
				err = fmt.Errorf("%w: data without a call waiting for it", errBadReply)
				break
			}
		}
		w := cur[idx]
		w.reply = w.reply[:0]
		if err = copyReply(&w.reply, r); err != nil {
			break
		}
		cur[idx] = nil
		idx++
		w.err = nil
		w.ch <- struct{}{}
	}
	l.breakLink()
	c.mu.Lock()
	rest := l.queue
	l.queue = nil
	c.mu.Unlock()
	if !c.pool.isClosed() {
		c.pool.srv.metrics.upstreamErrors.WithLabelValues("io").Inc()
		c.pool.srv.log.Warn("shared script connection lost", zap.Int("db", c.db), zap.Error(err))
	}
	for _, waiters := range [][]*scriptWaiter{cur[idx:], rest} {
		for _, w := range waiters {
			w.err = errUpstreamLost
			w.ch <- struct{}{}
		}
	}
}
