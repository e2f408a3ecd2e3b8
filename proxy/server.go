package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/cmdinfo"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("proxy: server closed")

// Handler executes the scripting commands (EVAL, EVALSHA, EVAL_RO,
// EVALSHA_RO, SCRIPT, FUNCTION, FCALL, FCALL_RO).
type Handler interface {
	// Serve runs after every earlier command of the session has had its
	// reply delivered to the client and before any later command of that
	// session is forwarded. It may use sess.Upstream() exclusively
	// meanwhile. It returns the complete raw RESP reply for the client.
	// argv aliases the proxy's read buffer and is valid only during Serve.
	Serve(ctx context.Context, sess *Session, argv [][]byte) []byte
}

// CommandLister may be implemented by a Handler to choose the commands it
// answers (upper-case names) instead of the scripting commands.
type CommandLister interface {
	Commands() []string
}

// Server accepts client connections and proxies each to its own upstream
// connection.
type Server struct {
	cfg     config.Config
	up      config.Upstream
	tlsConf *tls.Config
	log     *zap.Logger
	handler Handler
	table   commandTable
	names   *nameIndex // table, arranged for the per-command lookup
	metrics *metrics
	scripts *scriptPool // shared script connections; nil: scripts use their sessions'

	locks     *lockManager
	commands  *cmdinfo.Table // keys and flags of every command
	busyNanos atomic.Int64   // busy-reply-threshold
	// allowNoScript follows DEBUG SET-DISABLE-DENY-SCRIPTS.
	allowNoScript atomic.Bool
	// globalScripts holds the SHA1s and function names (lower-case) that
	// lock the whole keyspace: configured, or learnt from an escalation.
	globalScripts sync.Map

	nextID   atomic.Uint64
	clients  atomic.Int64
	closing  atomic.Bool
	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	sessions map[*Session]struct{}
	wg       sync.WaitGroup
	ready    readiness
}

// New checks cfg and returns a Server that is ready to Serve. It uses
// Upstream (and its TLS settings), UpstreamDialTimeout (0: 5s), MaxClients
// (0: no limit), ClientIdleTimeout (0: never), ProtoMaxBulkLen (0: 512 MiB)
// and DrainTimeout (0: only Shutdown's context bounds the drain). A nil
// log discards everything.
func New(cfg config.Config, log *zap.Logger) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	up, err := config.ParseUpstream(cfg.Upstream)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if cfg.ProtoMaxBulkLen <= 0 {
		cfg.ProtoMaxBulkLen = 512 << 20
	}
	if cfg.UpstreamDialTimeout <= 0 {
		cfg.UpstreamDialTimeout = 5 * time.Second
	}
	s := &Server{
		cfg:      cfg,
		up:       up,
		log:      log,
		metrics:  newMetrics(),
		lns:      make(map[net.Listener]struct{}),
		sessions: make(map[*Session]struct{}),
	}
	s.scripts = newScriptPool(s, cfg.ScriptUpstreamConns)
	s.setTable(newCommandTable(scriptingCommands))
	s.locks = newLockManager(cfg.LockShards)
	s.commands = cmdinfo.Builtin()
	s.busyNanos.Store(int64(cfg.BusyReplyThreshold))
	for _, name := range cfg.GlobalLockScripts {
		s.globalScripts.Store(strings.ToLower(name), struct{}{})
	}
	s.metrics.registerLocks(s.locks, &s.globalScripts)
	if up.TLS {
		host, _, err := net.SplitHostPort(up.Addr)
		if err != nil {
			return nil, fmt.Errorf("proxy: upstream address %q: %w", up.Addr, err)
		}
		s.tlsConf = &tls.Config{ServerName: host, InsecureSkipVerify: cfg.UpstreamTLSInsecure, MinVersion: tls.VersionTLS12}
		if cfg.UpstreamTLSCAFile != "" {
			pem, err := os.ReadFile(cfg.UpstreamTLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("proxy: upstream TLS CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("proxy: upstream TLS CA file %s: no certificates", cfg.UpstreamTLSCAFile)
			}
			s.tlsConf.RootCAs = pool
		}
	}
	return s, nil
}

// SetCommands replaces the command table (Redis 7.0's by default) that
// gives every command's keys, e.g. with the upstream's own (COMMAND),
// which knows its modules' commands. Call it before Serve.
func (s *Server) SetCommands(t *cmdinfo.Table) { s.commands = t }

// SetHandler installs the Handler for scripting commands. Call it before
// Serve; with a nil Handler scripting commands are forwarded like any other.
func (s *Server) SetHandler(h Handler) {
	s.handler = h
	names := scriptingCommands
	if l, ok := h.(CommandLister); ok {
		names = l.Commands()
	}
	if h == nil {
		names = nil
	}
	s.setTable(newCommandTable(names))
}

func (s *Server) setTable(t commandTable) {
	s.table = t
	s.names = newNameIndex(t)
}

// nameIndex finds a command name in a commandTable without hashing the
// whole name: a bucket chosen by the name's length and its first and last
// letters holds the few names that share them. Most commands are in no
// bucket, so the lookup of an ordinary command usually ends after reading
// three bytes; the map lookup it replaces cost a copy, an upper-casing and
// a hash per command.
type nameIndex struct {
	bucket  [256]uint32 // 1 + index into entries of the bucket's first name; 0: empty
	entries []nameEntry
}

type nameEntry struct {
	name string // upper case
	spec cmdSpec
	next uint32 // 1 + index of the next name in the bucket; 0: none
}

func newNameIndex(t commandTable) *nameIndex {
	x := &nameIndex{}
	for name, spec := range t {
		if len(name) == 0 || len(name) > maxCommandName {
			continue
		}
		h := nameHash(len(name), name[0], name[len(name)-1])
		x.entries = append(x.entries, nameEntry{name: name, spec: spec, next: x.bucket[h]})
		x.bucket[h] = uint32(len(x.entries))
	}
	return x
}

func nameHash(n int, first, last byte) uint8 {
	return uint8(n*31 + int(upper(first))*7 + int(upper(last)))
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// lookup finds name case-insensitively; it agrees with commandTable.lookup.
func (x *nameIndex) lookup(name []byte) cmdSpec {
	if len(name) == 0 || len(name) > maxCommandName {
		return cmdSpec{}
	}
	for i := x.bucket[nameHash(len(name), name[0], name[len(name)-1])]; i != 0; {
		e := &x.entries[i-1]
		if equalFold(name, e.name) {
			return e.spec
		}
		i = e.next
	}
	return cmdSpec{}
}

// Serve accepts connections on ln until Shutdown, which makes it return
// ErrServerClosed. It closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	defer ln.Close()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", zap.Error(err), zap.Duration("backoff", backoff))
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("proxy: accept: %w", err)
		}
		backoff = 0
		s.accept(c)
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) accept(c net.Conn) {
	if n := s.clients.Add(1); s.cfg.MaxClients > 0 && n > int64(s.cfg.MaxClients) {
		s.clients.Add(-1)
		s.log.Warn("max number of clients reached", zap.Stringer("remote", c.RemoteAddr()))
		go func() {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("-ERR max number of clients reached\r\n"))
			_ = c.Close()
		}()
		return
	}
	sess := newSession(s, c)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		s.clients.Add(-1)
		_ = c.Close()
		return
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.clients.Inc()
	s.metrics.clientsTotal.Inc()
	go func() {
		defer s.wg.Done()
		sess.run()
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
		s.clients.Add(-1)
		s.metrics.clients.Dec()
	}()
}

// Shutdown stops accepting connections, lets every session finish the
// requests it has already read (waiting for their replies), and closes the
// sessions. It waits at most until ctx is done or DrainTimeout has passed,
// then closes whatever is left.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.scripts.close()
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.lns {
		_ = ln.Close()
	}
	for sess := range s.sessions {
		sess.interrupt()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var timeout <-chan time.Time
	if s.cfg.DrainTimeout > 0 {
		t := time.NewTimer(s.cfg.DrainTimeout)
		defer t.Stop()
		timeout = t.C
	}
	var err error
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timeout:
		err = fmt.Errorf("proxy: drain timeout %v exceeded", s.cfg.DrainTimeout)
	}
	s.mu.Lock()
	for sess := range s.sessions {
		sess.close()
	}
	s.mu.Unlock()
	s.scripts.close() // a script waiting on a shared connection ends too
	<-done
	return err
}

// dialUpstream opens and prepares one upstream connection: TCP or TLS,
// then AUTH and SELECT from the upstream URL with their replies swallowed.
func (s *Server) dialUpstream() (net.Conn, error) {
	start := time.Now()
	d := net.Dialer{Timeout: s.cfg.UpstreamDialTimeout, KeepAlive: 30 * time.Second}
	var c net.Conn
	var err error
	if s.tlsConf != nil {
		td := tls.Dialer{NetDialer: &d, Config: s.tlsConf}
		c, err = td.Dial("tcp", s.up.Addr)
	} else {
		c, err = d.Dial("tcp", s.up.Addr)
	}
	s.metrics.dialSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.upstreamErrors.WithLabelValues("dial").Inc()
		s.metrics.upstreamUp.Set(0)
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if hs := s.handshake(); len(hs) > 0 {
		_ = c.SetDeadline(time.Now().Add(s.cfg.UpstreamDialTimeout))
		if err := s.runHandshake(c, hs); err != nil {
			_ = c.Close()
			s.metrics.upstreamErrors.WithLabelValues("auth").Inc()
			s.metrics.upstreamUp.Set(0)
			return nil, err
		}
		_ = c.SetDeadline(time.Time{})
	}
	s.metrics.upstreamUp.Set(1)
	s.ready.succeeded()
	return c, nil
}

// handshake returns the commands that prepare a fresh upstream connection
// as the URL asks: AUTH [user] pass and SELECT db.
func (s *Server) handshake() [][][]byte {
	var cmds [][][]byte
	if s.up.Password != "" {
		if s.up.Username != "" {
			cmds = append(cmds, [][]byte{[]byte("AUTH"), []byte(s.up.Username), []byte(s.up.Password)})
		} else {
			cmds = append(cmds, [][]byte{[]byte("AUTH"), []byte(s.up.Password)})
		}
	}
	if s.up.DB != 0 {
		cmds = append(cmds, [][]byte{[]byte("SELECT"), appendInt(nil, int64(s.up.DB))})
	}
	return cmds
}

func (s *Server) runHandshake(c net.Conn, cmds [][][]byte) error {
	var out []byte
	for _, argv := range cmds {
		out = appendCommand(out, argv)
	}
	if _, err := c.Write(out); err != nil {
		return fmt.Errorf("upstream handshake: %w", err)
	}
	r := newBufioReader(c, 4096)
	for _, argv := range cmds {
		var buf byteSink
		if err := copyReply(&buf, r); err != nil {
			return fmt.Errorf("upstream handshake: %w", err)
		}
		if len(buf) > 0 && buf[0] == '-' {
			return fmt.Errorf("upstream %s failed: %s", argv[0], sanitize(buf[1:]))
		}
	}
	return nil
}

// byteSink is an io.Writer that appends to itself.
type byteSink []byte

func (b *byteSink) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}

// sanitize makes text fit in one RESP error line.
func sanitize(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == '\r' || c == '\n' {
			if len(out) > 0 && out[len(out)-1] != ' ' {
				out = append(out, ' ')
			}
			continue
		}
		out = append(out, c)
	}
	for len(out) > 0 && out[len(out)-1] == ' ' {
		out = out[:len(out)-1]
	}
	return string(out)
}
