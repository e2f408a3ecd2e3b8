package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"

	"github.com/luaproxy/luaproxy/internal/cmdinfo"
)

// Scripts inside MULTI.
//
// The upstream cannot queue a script: it has to run in luaproxy, at EXEC,
// in order with the transaction's other commands. So once a script is
// queued the Handler holds the rest of the transaction (Session.held):
// the session sends it every later command, which it answers +QUEUED and
// keeps, until EXEC or DISCARD. What was queued before the first script
// stays queued in the upstream. At EXEC the Handler
//
//  1. sends the upstream EXEC: it runs the commands queued there and
//     checks WATCH; a null reply (a watched key changed) or EXECABORT
//     ends the transaction with that reply, and nothing held runs;
//  2. runs the held commands in order: scripts in luavm, and each run of
//     consecutive other commands inside a MULTI/EXEC of its own, so that
//     blocking commands do not block, as in a transaction;
//  3. answers one array: the upstream EXEC's elements, then the held
//     commands' replies.
//
// The whole of it runs under one exclusive lock set covering every
// command's keys (see exec), so no other client's command through the
// proxy runs between its parts. Differences from Redis: held commands are not checked when queued (a wrong arity shows as that
// command's error in EXEC's array instead of EXECABORT); and commands that
// change the session's state (SELECT, HELLO, AUTH, CLIENT, (un)subscribe,
// MONITOR) after a script abort the transaction, as does a script after a
// SELECT or a subscription queued in the same transaction.

// functionQueuer is implemented by Functions: FCALL and FUNCTION queue in
// a transaction like scripts, after Redis's queue-time checks.
type functionQueuer interface {
	queueTimeError(argv [][]byte) []byte
}

// heldTx is a transaction the Handler holds.
type heldTx struct {
	cmds    [][][]byte // queued commands, copied out of the read buffer
	aborted bool       // a command was refused: EXEC answers EXECABORT
}

var (
	replyQueued       = []byte("+QUEUED\r\n")
	errNestedMulti    = []byte("-ERR MULTI calls can not be nested\r\n")
	errWatchInMulti   = []byte("-ERR WATCH inside MULTI is not allowed\r\n")
	errExecAbort      = []byte("-EXECABORT Transaction discarded because of previous errors.\r\n")
	errHeldStateful   = []byte("-ERR luaproxy: this command cannot follow a script inside MULTI; the transaction is discarded at EXEC\r\n")
	errScriptTxSelect = []byte("-ERR luaproxy: a script cannot follow SELECT or a subscription inside MULTI; the transaction is discarded at EXEC\r\n")
)

// statefulCommands change what the session tracks (or end the
// transaction); they cannot be held.
var statefulCommands = []string{"SELECT", "HELLO", "AUTH", "CLIENT", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE",
	"UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR"}

func copyArgv(argv [][]byte) [][]byte {
	n := 0
	for _, a := range argv {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(argv))
	for i, a := range argv {
		buf = append(buf, a...)
		out[i] = buf[len(buf)-len(a) : len(buf) : len(buf)]
	}
	return out
}

// queueScript starts holding the session's transaction with a script
// command that passed its queue-time checks.
func (h *Scripting) queueScript(sess *Session, argv [][]byte) []byte {
	if sess.txSelect || sess.txSub {
		return h.reject(sess, errScriptTxSelect)
	}
	sess.held = &heldTx{cmds: [][][]byte{copyArgv(argv)}}
	return replyQueued
}

// serveHeld answers a command of a held transaction.
func (h *Scripting) serveHeld(ctx context.Context, sess *Session, argv [][]byte) []byte {
	tx := sess.held
	name := argv[0]
	switch {
	case equalFold(name, "EXEC"):
		return h.exec(ctx, sess, tx)
	case equalFold(name, "DISCARD"):
		reply, err := sess.Upstream().Do([][]byte{[]byte("DISCARD")})
		endHeld(sess)
		if err != nil {
			panic("luaproxy: upstream lost at DISCARD: " + err.Error())
		}
		return reply
	case equalFold(name, "MULTI"):
		return errNestedMulti
	case equalFold(name, "WATCH"):
		return errWatchInMulti
	}
	for _, c := range statefulCommands {
		if equalFold(name, c) {
			tx.aborted = true
			return h.reject(sess, errHeldStateful)
		}
	}
	if reply := h.queueTimeError(argv); reply != nil {
		tx.aborted = true
		return h.reject(sess, reply)
	}
	tx.cmds = append(tx.cmds, copyArgv(argv))
	return replyQueued
}

// queueTimeError is the error Redis gives when queueing one of the
// Handler's commands (wrong arity, unknown SCRIPT subcommand), or nil.
func (h *Scripting) queueTimeError(argv [][]byte) []byte {
	name := argv[0]
	for _, c := range [...]struct {
		name, full string
	}{{"EVAL", "eval"}, {"EVALSHA", "evalsha"}, {"EVAL_RO", "eval_ro"}, {"EVALSHA_RO", "evalsha_ro"}} {
		if equalFold(name, c.name) {
			if len(argv) < 3 {
				return arityError(c.full)
			}
			return nil
		}
	}
	if q, ok := h.functions.(functionQueuer); ok && (equalFold(name, "FCALL") || equalFold(name, "FCALL_RO") || equalFold(name, "FUNCTION")) {
		return q.queueTimeError(argv)
	}
	if equalFold(name, "SCRIPT") {
		if len(argv) < 2 {
			return arityError("script")
		}
		sub := string(bytes.ToUpper(argv[1]))
		arity, known := scriptArity[sub]
		if !known {
			return unknownSubcommand(argv)
		}
		if argc := len(argv); arity > 0 && argc != arity || argc < -arity {
			return arityError("script|" + string(bytes.ToLower(argv[1])))
		}
	}
	return nil
}

// endHeld closes the transaction in the session's picture: the upstream's
// EXEC or DISCARD went through Do, which the reply side does not watch.
func endHeld(sess *Session) {
	sess.held = nil
	sess.multi.Store(false)
	sess.maybeMulti, sess.txSelect, sess.txSub = false, false, false
}

// exec runs a held transaction (see the top of this file), under one
// exclusive lock set covering every command in it.
func (h *Scripting) exec(ctx context.Context, sess *Session, tx *heldTx) []byte {
	m := sess.srv.locks
	o := m.newOwner(false)
	m.markWrote(o) // a transaction never starts again
	shards, global := h.txShards(sess, tx)
	if _, ok := m.acquire(o, shards, global, 0, ctx.Done()); !ok {
		return errShuttingDown
	}
	sess.txOwner = o
	defer func() {
		sess.txOwner = nil
		m.release(o)
	}()
	up := sess.Upstream()
	first, err := up.Do([][]byte{[]byte("EXEC")})
	endHeld(sess)
	if err != nil {
		panic("luaproxy: upstream lost at EXEC: " + err.Error())
	}
	if tx.aborted {
		if len(first) > 0 && first[0] == '-' {
			return first
		}
		return errExecAbort
	}
	elems, ok := splitArray(first)
	if !ok {
		return first // null (WATCH) or an error
	}
	for i := 0; i < len(tx.cmds); {
		cmd := tx.cmds[i]
		if h.isOwn(cmd[0]) {
			elems = append(elems, h.Serve(ctx, sess, cmd))
			i++
			continue
		}
		j := i
		for j < len(tx.cmds) && !h.isOwn(tx.cmds[j][0]) {
			j++
		}
		elems = append(elems, runSegment(up, tx.cmds[i:j])...)
		i = j
	}
	out := appendArrayLen(nil, '*', len(elems))
	for _, e := range elems {
		out = append(out, e...)
	}
	return out
}

// txShards returns the shards a held transaction locks: those of the
// commands queued in the upstream before the first script, and those of
// every held command (a script's declared keys).
func (h *Scripting) txShards(sess *Session, tx *heldTx) (shards []uint32, global bool) {
	srv := sess.srv
	m := srv.locks
	shards = append(shards, sess.tx.shards...)
	global = sess.tx.global
	sess.tx.reset()
	for _, cmd := range tx.cmds {
		if !h.isOwn(cmd[0]) {
			switch keys, access := srv.commands.Keys(cmd, nil); access {
			case cmdinfo.AllKeys:
				global = true
			case cmdinfo.Keys:
				shards = m.appendShards(shards, keys)
			}
			continue
		}
		name, keys, ok := scriptCallKeys(cmd)
		if !ok {
			continue // SCRIPT or FUNCTION: no keys
		}
		global = global || srv.lockGlobally(name)
		shards = m.appendShards(shards, keys)
	}
	return shards, global
}

// scriptCallKeys returns the name a script or function call is known by
// for locking (SHA1 or function name) and its declared keys.
func scriptCallKeys(cmd [][]byte) (name string, keys [][]byte, ok bool) {
	if len(cmd) < 3 {
		return "", nil, false
	}
	n, valid := string2ll(cmd[2])
	if !valid || n < 0 || n > int64(len(cmd)-3) {
		return "", nil, false
	}
	keys = cmd[3 : 3+n]
	switch {
	case equalFold(cmd[0], "EVAL"), equalFold(cmd[0], "EVAL_RO"):
		sum := sha1.Sum(cmd[1])
		return hex.EncodeToString(sum[:]), keys, true
	case equalFold(cmd[0], "EVALSHA"), equalFold(cmd[0], "EVALSHA_RO"),
		equalFold(cmd[0], "FCALL"), equalFold(cmd[0], "FCALL_RO"):
		return string(cmd[1]), keys, true
	}
	return "", nil, false
}

// isOwn reports whether the Handler answers the command.
func (h *Scripting) isOwn(name []byte) bool {
	for _, c := range h.commands {
		if equalFold(name, c) {
			return true
		}
	}
	return false
}

// runSegment runs consecutive held commands in a MULTI/EXEC of their own
// and returns one reply each. A command the upstream refuses to queue gets
// that refusal as its reply and the others run without it.
func runSegment(up *UpstreamConn, cmds [][][]byte) [][]byte {
	replies := make([][]byte, len(cmds))
	for {
		if _, err := up.Do([][]byte{[]byte("MULTI")}); err != nil {
			panic("luaproxy: upstream lost in a held transaction: " + err.Error())
		}
		var idx []int
		refused := false
		for i, c := range cmds {
			if replies[i] != nil {
				continue
			}
			r, err := up.Do(c)
			if err != nil {
				panic("luaproxy: upstream lost in a held transaction: " + err.Error())
			}
			if !bytes.Equal(r, replyQueued) {
				replies[i] = r
				refused = true
				continue
			}
			idx = append(idx, i)
		}
		if refused {
			// The upstream's transaction is now marked failed: drop it
			// and queue the accepted commands again.
			if _, err := up.Do([][]byte{[]byte("DISCARD")}); err != nil {
				panic("luaproxy: upstream lost in a held transaction: " + err.Error())
			}
			if len(idx) == 0 {
				return replies
			}
			continue
		}
		r, err := up.Do([][]byte{[]byte("EXEC")})
		if err != nil {
			panic("luaproxy: upstream lost in a held transaction: " + err.Error())
		}
		elems, ok := splitArray(r)
		if !ok || len(elems) != len(idx) {
			for _, i := range idx {
				replies[i] = r
			}
			return replies
		}
		for k, i := range idx {
			replies[i] = elems[k]
		}
		return replies
	}
}

// splitArray splits an array reply ('*', RESP2 or RESP3) into its
// elements' raw bytes; ok is false for anything else, a null array
// included.
func splitArray(b []byte) (elems [][]byte, ok bool) {
	if len(b) < 4 || b[0] != '*' {
		return nil, false
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, false
	}
	n, ok := string2ll(b[1 : nl-1])
	if !ok || n < 0 {
		return nil, false
	}
	r := bufio.NewReaderSize(bytes.NewReader(b[nl+1:]), 4096)
	elems = make([][]byte, 0, n)
	for i := int64(0); i < n; i++ {
		var sink byteSink
		if err := copyReply(&sink, r); err != nil {
			return nil, false
		}
		elems = append(elems, sink)
	}
	return elems, true
}
