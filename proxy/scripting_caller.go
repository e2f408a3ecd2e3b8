package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// sessionCaller is the luavm.Caller of one script run: it sends the
// script's redis.call commands on the session's own upstream connection,
// so a script sees everything its client sent before it, runs in the
// client's database and as the client's ACL user.
//
// The connection speaks the client's protocol and has the client's
// database selected. A script speaks RESP2 unless it calls
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
}

// Call implements luavm.Caller.
func (c *sessionCaller) Call(argv [][]byte, proto int) ([]byte, error) {
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
// its database and its protocol.
func (c *sessionCaller) restore() error {
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
