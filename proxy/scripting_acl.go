package proxy

import (
	"time"

	"github.com/luaproxy/luaproxy/luavm"
)

// redis.acl_check_cmd asks whether the script's caller may run a command.
// The upstream answers with ACL DRYRUN, which needs the caller's user name
// and a connection allowed to run ACL commands: the caller's own
// connection usually is not (a user limited to its keys and @scripting
// cannot run ACL WHOAMI, let alone DRYRUN). So the session remembers the
// user its client last authenticated as, and the check runs on a shared
// script connection, authenticated as the upstream URL's user.

var _ luavm.ACLChecker = (*lockedCaller)(nil)

// noteUser remembers the user a forwarded AUTH or HELLO ... AUTH names.
// It is optimistic: a failed AUTH leaves Redis's user unchanged but this
// one changed, so acl_check_cmd after a failed AUTH may check the wrong
// user (the commands themselves are still checked by the upstream).
func (s *Session) noteUser(argv [][]byte, k cmdKind) {
	switch {
	case k == kindReset:
		s.aclUser = ""
	case k == kindAuth && len(argv) == 2:
		s.aclUser = "default"
	case k == kindAuth && len(argv) == 3:
		s.aclUser = string(argv[1])
	case k == kindHello:
		for j := 2; j+2 < len(argv); j++ {
			if equalFold(argv[j], "AUTH") {
				s.aclUser = string(argv[j+1])
				return
			}
		}
	}
}

// user is the ACL user the session's client is authenticated as.
func (s *Session) user() string {
	switch {
	case s.aclUser != "":
		return s.aclUser
	case s.srv.up.Username != "":
		return s.srv.up.Username
	}
	return "default"
}

// ACLCheck implements luavm.ACLChecker.
func (c *lockedCaller) ACLCheck(argv [][]byte) ([]byte, error) { return c.inner.ACLCheck(argv) }

// ACLCheck runs ACL DRYRUN for the session's user on a shared script
// connection, or without the pool on a connection of its own (the check is
// rare; a dial is cheaper than keeping one open for it).
func (c *sessionCaller) ACLCheck(argv [][]byte) ([]byte, error) {
	sess := c.up.sess
	dry := append([][]byte{[]byte("ACL"), []byte("DRYRUN"), []byte(sess.user())}, argv...)
	if p := sess.srv.scripts; p != nil {
		w := p.getWaiter()
		defer p.putWaiter(w)
		if reply, err := p.pick(c.origDB).do(w, dry); err == nil {
			return append([]byte(nil), reply...), nil
		}
	}
	return sess.srv.doOnce(dry)
}

// doOnce sends one command on a fresh upstream connection, authenticated
// as the upstream URL says, and returns its raw reply.
func (s *Server) doOnce(argv [][]byte) ([]byte, error) {
	conn, err := s.dialUpstream()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(s.cfg.UpstreamDialTimeout))
	if _, err := conn.Write(appendCommand(nil, argv)); err != nil {
		return nil, err
	}
	var reply byteSink
	if err := copyReply(&reply, newBufioReader(conn, 4096)); err != nil {
		return nil, err
	}
	return reply, nil
}
