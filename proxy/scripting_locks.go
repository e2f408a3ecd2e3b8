package proxy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/luaproxy/luaproxy/internal/cmdinfo"
	"github.com/luaproxy/luaproxy/luavm"
)

// errShuttingDown answers a script that was still waiting for its locks
// when the proxy began to shut down.
var errShuttingDown = []byte("-ERR luaproxy is shutting down\r\n")

// lockedRun is one script or function call run under the shard locks of
// its declared keys (see locks.go).
type lockedRun struct {
	srv      *Server
	sess     *Session
	name     string // SHA1 or function name: what is remembered as global
	function bool
	keys     [][]byte // declared keys
	waited   time.Duration
}

// run runs fn, which runs the script with the Caller it is given, under
// the locks. c is the session's caller: a script that has to start
// again has c put back as the client left it first. It returns the
// script's reply, or -BUSY if a script holding the keys is busy.
func (r *lockedRun) run(ctx context.Context, c *sessionCaller, fn func(ctx context.Context, caller luavm.Caller) []byte) []byte {
	began := time.Now()
	defer func() { r.logSlow(time.Since(began), c.calls) }()
	if o := r.sess.txOwner; o != nil {
		// Inside a transaction, which holds the locks of all its commands.
		lc := lockedCaller{inner: c, run: r, owner: o, cancel: func() {}}
		return fn(ctx, &lc)
	}
	m := r.srv.locks
	global := r.srv.lockGlobally(r.name)
	for {
		o := m.newOwner(r.function)
		var shards []uint32
		if !global {
			shards = m.appendShards(nil, r.keys)
		}
		start := time.Now()
		blocker, ok := m.acquire(o, shards, global, r.srv.busyThreshold(), ctx.Done())
		r.waited += time.Since(start)
		if !ok {
			if blocker != nil {
				r.srv.metrics.busyReplies.Inc()
				return busyReply(blocker)
			}
			return errShuttingDown
		}
		reply, restart := r.runOnce(ctx, c, o, fn)
		if !restart {
			r.observeWait()
			return reply
		}
		// The script touched another script's keys before writing
		// anything: nothing it did is visible. Run it again, alone.
		if err := c.restore(); err != nil {
			panic("luaproxy: upstream connection left in the script's state: " + err.Error())
		}
		c.reset(r.sess.Upstream(), r.sess.Proto(), r.sess.DB())
		global = true
	}
}

// logSlow is the slow-script log: every run longer than
// slow-script-threshold, with what an operator needs to find it.
func (r *lockedRun) logSlow(elapsed time.Duration, calls int) {
	limit := r.srv.cfg.SlowScriptThreshold
	if limit <= 0 || elapsed < limit {
		return
	}
	kind := "script"
	if r.function {
		kind = "function"
	}
	r.sess.log.Warn("slow script",
		zap.String("kind", kind), zap.String("name", r.name),
		zap.Duration("duration", elapsed), zap.Duration("lock_wait", r.waited),
		zap.Int("calls", calls), zap.Int("keys", len(r.keys)))
}

// runOnce runs fn as o, which holds its locks, and lets them go however
// fn ends (a panic included: the session ends, the proxy does not).
func (r *lockedRun) runOnce(ctx context.Context, c *sessionCaller, o *lockOwner, fn func(ctx context.Context, caller luavm.Caller) []byte) (reply []byte, restart bool) {
	defer r.srv.locks.release(o)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	lc := lockedCaller{inner: c, run: r, owner: o, cancel: cancel}
	reply = fn(runCtx, &lc)
	return reply, lc.restart
}

func (r *lockedRun) observeWait() {
	waiter := "script"
	if r.function {
		waiter = "function"
	}
	if r.waited > 0 {
		r.srv.metrics.lockWait.WithLabelValues(waiter).Observe(r.waited.Seconds())
	}
}

// lockedCaller checks every redis.call of a script against the locks it
// holds before passing it on: a key outside them is taken first
// (escalation), and the script's name is remembered so that its later runs
// lock the whole keyspace from the start.
type lockedCaller struct {
	inner   *sessionCaller
	run     *lockedRun
	owner   *lockOwner
	cancel  context.CancelFunc
	restart bool // the script must run again under the global lock
	keys    [][]byte
	shards  []uint32
}

// errRestarting is what a script's redis.call gets between the decision
// to restart it and the interrupt that ends it.
var errRestarting = errors.New("script restarting under the global lock")

// Call implements luavm.Caller.
func (c *lockedCaller) Call(argv [][]byte, proto int) ([]byte, error) {
	if c.restart {
		return nil, errRestarting
	}
	srv := c.run.srv
	cmd := srv.commands.Lookup(argv)
	if !c.owner.global {
		access := cmdinfo.AllKeys
		var keys [][]byte
		if cmd != nil {
			keys, access = cmd.Keys(argv, c.keys[:0])
			c.keys = keys[:0]
		}
		var err error
		switch access {
		case cmdinfo.AllKeys:
			err = c.escalate(nil, true)
		case cmdinfo.Keys:
			c.shards = c.shards[:0]
			for _, k := range keys {
				if i := srv.locks.shardOf(k); !c.owner.holds(i) {
					c.shards = append(c.shards, i)
				}
			}
			if len(c.shards) > 0 {
				slices.Sort(c.shards)
				c.shards = slices.Compact(c.shards)
				err = c.escalate(c.shards, false)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if !c.owner.wrote && (cmd == nil || cmd.Flags&(cmdinfo.Write|cmdinfo.MayReplicate) != 0) {
		srv.locks.markWrote(c.owner)
	}
	start := time.Now()
	reply, err := c.inner.Call(argv, proto)
	if err == nil {
		srv.metrics.rtt.observeScript(start)
	}
	return reply, err
}

func (c *lockedCaller) escalate(shards []uint32, global bool) error {
	srv := c.run.srv
	srv.learnGlobal(c.run.name, c.run.sess.log)
	err := srv.locks.escalate(c.owner, shards, global)
	if errors.Is(err, errLockRestart) {
		c.restart = true
		c.cancel()
		return errRestarting
	}
	return err
}

// markWrote records that o ran a write: from now on it cannot be run
// again unnoticed.
func (m *lockManager) markWrote(o *lockOwner) {
	m.mu.Lock()
	o.wrote = true
	m.mu.Unlock()
}

// lockGlobally reports whether a script or function (by SHA1 or name)
// takes the global lock from the start: it was configured so, or an
// earlier run touched keys it had not declared.
func (s *Server) lockGlobally(name string) bool {
	_, ok := s.globalScripts.Load(strings.ToLower(name))
	return ok
}

// learnGlobal remembers a script or function that touched an undeclared
// key.
func (s *Server) learnGlobal(name string, log *zap.Logger) {
	if _, loaded := s.globalScripts.LoadOrStore(strings.ToLower(name), struct{}{}); !loaded {
		s.metrics.escalatedScripts.Inc()
		log.Info("script touched keys it did not declare: later runs lock the whole keyspace",
			zap.String("script", name))
	}
}
