package proxy

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"time"
)

// UpstreamVersion asks the upstream for its version (INFO server's
// redis_version) on a connection of its own, dialled and authenticated as
// the sessions' are, so that scripts can see it in redis.REDIS_VERSION.
func (s *Server) UpstreamVersion() (string, error) {
	c, err := s.dialUpstream()
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(s.cfg.UpstreamDialTimeout))
	if _, err := c.Write(appendCommand(nil, [][]byte{[]byte("INFO"), []byte("server")})); err != nil {
		return "", fmt.Errorf("upstream INFO: %w", err)
	}
	var reply byteSink
	if err := copyReply(&reply, newBufioReader(c, 16<<10)); err != nil {
		return "", fmt.Errorf("upstream INFO: %w", err)
	}
	if len(reply) > 0 && reply[0] == '-' {
		return "", fmt.Errorf("upstream INFO: %s", sanitize(reply[1:]))
	}
	const field = "\nredis_version:"
	i := bytes.Index(reply, []byte(field))
	if i < 0 {
		return "", fmt.Errorf("upstream INFO: no redis_version")
	}
	v := reply[i+len(field):]
	if j := bytes.IndexAny(v, "\r\n"); j >= 0 {
		v = v[:j]
	}
	return string(v), nil
}

// UpstreamTLSConfig returns a copy of the TLS settings sessions reach a
// rediss:// upstream with, for other connections to it (the registry);
// nil for plain TCP.
func (s *Server) UpstreamTLSConfig() *tls.Config {
	if s.tlsConf == nil {
		return nil
	}
	return s.tlsConf.Clone()
}
