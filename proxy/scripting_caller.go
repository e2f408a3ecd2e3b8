package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// sessionCaller is the luavm.Caller of one script run. A script must see
// everything its client sent before it, run in the client's database and
// as the client's ACL user. Its calls go either on the session's own
// upstream connection or, when that is indistinguishable, on a shared
// script connection (scriptconn.go), where they are pipelined with other
// scripts' calls.
//
// The shared path is indistinguishable when the shared connections run as
// the same user in the same database with the same per-connection state:
// the server has a pool, the session has not sent an AUTH (or HELLO AUTH)
// that may have made it another user, nor turned CLIENT TRACKING on (which
// must see the script's reads), and the script has called neither
// redis.setresp(3) nor a command whose effect is per connection (SELECT,
// CLIENT, READONLY, READWRITE, ASKING). From the first such call on, the
// rest of the script runs on the session's connection. Calls are
// synchronous, so every call has been answered before the next is sent,
// whichever connection each takes: the order of a script's calls, and
// with the commands its client sent before and after it, is kept.
//
// The session's connection speaks the client's protocol and has the
// client's database selected. A script speaks RESP2 unless it calls
// redis.setresp(3), and may SELECT: sessionCaller switches the protocol
// with HELLO when a call needs the other one, notes a successful SELECT,
// and restore puts both back before the client's next command.
type sessionCaller struct {
	up        *UpstreamConn
	proto     int // protocol the upstream connection speaks now
	origProto int
	origDB    int
	selected  bool // a SELECT succeeded during the script
	noAuth    bool // the upstream answered NOAUTH: the client is not authenticated
	calls     int  // commands sent for the script

	own    bool          // calls go on the session's connection
	shared *scriptConn   // the shared connection of the script's calls; nil until the first
	w      *scriptWaiter // for the shared connection's replies; nil until the first
}

var (
	helloArgv = [2][][]byte{
		{[]byte("HELLO"), []byte("2")},
		{[]byte("HELLO"), []byte("3")},
	}
	errProtoSwitch = errors.New("cannot switch the upstream protocol")
)

func (c *sessionCaller) reset(up *UpstreamConn, proto, db int) {
	*c = sessionCaller{up: up, proto: proto, origProto: proto, origDB: db}
	c.own = up == nil || up.sess == nil || up.sess.srv.scripts == nil || up.sess.scriptsOwnConn
}

// Call implements luavm.Caller.
func (c *sessionCaller) Call(argv [][]byte, proto int) ([]byte, error) {
	if !c.own {
		if proto == 3 || perConnection(argv[0]) {
			c.own = true
		} else if reply, err := c.callShared(argv); !errors.Is(err, errScriptNotSent) {
			return reply, err
		} else {
			c.own = true // no shared connection now: the script uses its own
		}
	}
	if proto != c.proto {
		if err := c.hello(proto); err != nil {
			return nil, err
		}
	}
	c.calls++
	reply, err := c.up.Do(argv)
	if err != nil {
		return nil, err
	}
	if equalFold(argv[0], "SELECT") && bytes.Equal(reply, replyOK) {
		c.selected = true
	}
	if bytes.HasPrefix(reply, []byte("-NOAUTH ")) {
		c.noAuth = true
	}
	return reply, nil
}

// hello switches the upstream connection to proto; HELLO's reply (the
// server's description) is not for the script.
func (c *sessionCaller) hello(proto int) error {
	argv := helloArgv[0]
	if proto == 3 {
		argv = helloArgv[1]
	}
	reply, err := c.up.Do(argv)
	if err != nil {
		return err
	}
	if bytes.HasPrefix(reply, []byte("-NOAUTH ")) {
		c.noAuth = true
	}
	if len(reply) > 0 && reply[0] == '-' {
		return fmt.Errorf("%w: %s", errProtoSwitch, sanitize(bytes.TrimRight(reply, "\r\n")))
	}
	c.proto = proto
	return nil
}

// restore gives the connection back in the state the client left it:
// its database and its protocol. It also hands back what the script used
// of the shared connections; the caller must not Call again before reset.
func (c *sessionCaller) restore() error {
	if c.w != nil {
		c.shared.pool.putWaiter(c.w)
		c.w = nil
	}
	if c.selected {
		reply, err := c.up.Do([][]byte{[]byte("SELECT"), strconv.AppendInt(nil, int64(c.origDB), 10)})
		if err != nil {
			return err
		}
		if !bytes.Equal(reply, replyOK) {
			return fmt.Errorf("restore database %d: %s", c.origDB, sanitize(bytes.TrimRight(reply, "\r\n")))
		}
		c.selected = false
	}
	if c.proto != c.origProto {
		if err := c.hello(c.origProto); err != nil {
			return fmt.Errorf("restore protocol: %w", err)
		}
	}
	return nil
}

// callShared sends argv on the script's shared connection.
func (c *sessionCaller) callShared(argv [][]byte) ([]byte, error) {
	if c.shared == nil {
		c.shared = c.up.sess.srv.scripts.pick(c.origDB)
	}
	if c.w == nil {
		c.w = c.shared.pool.getWaiter()
	}
	reply, err := c.shared.do(c.w, argv)
	if err != nil {
		if !errors.Is(err, errScriptNotSent) {
			c.calls++
		}
		return nil, err
	}
	c.calls++
	if bytes.HasPrefix(reply, []byte("-NOAUTH ")) {
		c.noAuth = true
	}
	return reply, nil
}

// perConnection reports whether a command's effect or reply depends on the
// connection it runs on, among those scripts may call: it must run on the
// session's own connection.
func perConnection(name []byte) bool {
	switch len(name) {
	case 6:
		return equalFold(name, "SELECT") || equalFold(name, "CLIENT") || equalFold(name, "ASKING")
	case 8:
		return equalFold(name, "READONLY")
	case 9:
		return equalFold(name, "READWRITE")
	}
	return false
}

// noteForScripts looks at a command the session forwards for what makes
// its scripts' calls distinguishable on a shared connection: another user
// (AUTH, HELLO AUTH) or CLIENT TRACKING. It is pessimistic (the command
// may fail) and lasts until RESET, which undoes both. argv is nil when the
// command is too large to be held; it is then assumed to change them.
func (s *Session) noteForScripts(argv [][]byte, k cmdKind) {
	if k == kindAuth || k == kindHello || k == kindClient || k == kindReset {
		s.noteStateCommand(argv, k)
		s.noteUser(argv, k)
	}
}

func (s *Session) noteStateCommand(argv [][]byte, k cmdKind) {
	switch k {
	case kindReset:
		s.scriptsOwnConn = false
	case kindAuth:
		switch len(argv) {
		case 2:
			s.scriptsOwnConn = s.scriptsOwnConn || !s.srv.isUpstreamUser([]byte("default"))
		case 3:
			s.scriptsOwnConn = s.scriptsOwnConn || !s.srv.isUpstreamUser(argv[1])
		default:
			s.scriptsOwnConn = s.scriptsOwnConn || argv == nil
		}
	case kindHello:
		if argv == nil {
			s.scriptsOwnConn = true
			return
		}
		// As Redis parses HELLO's options; a malformed HELLO fails.
		for j := 2; j < len(argv); j++ {
			more := len(argv) - 1 - j
			switch {
			case equalFold(argv[j], "AUTH") && more >= 2:
				s.scriptsOwnConn = s.scriptsOwnConn || !s.srv.isUpstreamUser(argv[j+1])
				j += 2
			case equalFold(argv[j], "SETNAME") && more >= 1:
				j++
			default:
				return
			}
		}
	case kindClient:
		if argv == nil || len(argv) >= 3 && equalFold(argv[1], "TRACKING") && equalFold(argv[2], "ON") {
			s.scriptsOwnConn = true
		}
	}
}

// isUpstreamUser reports whether user is the ACL user the upstream URL
// authenticates as. Without a password in the URL, shared connections are
// not authenticated while a session that sent AUTH may be: no user
// matches.
func (s *Server) isUpstreamUser(user []byte) bool {
	if s.up.Password == "" {
		return false
	}
	name := s.up.Username
	if name == "" {
		name = "default"
	}
	return string(user) == name
}
