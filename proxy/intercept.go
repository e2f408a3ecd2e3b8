package proxy

import (
	"bytes"
	"strconv"
	"time"
)

// A few forwarded commands luaproxy has to answer itself, or to follow:
// they concern the scripting commands the upstream never sees.

// intercept returns the reply luaproxy gives itself to argv instead of
// forwarding it, or nil to forward it; on the way it follows the settings
// scripts depend on.
func (s *Session) intercept(argv [][]byte) []byte {
	if len(argv) < 3 {
		return nil
	}
	switch {
	case equalFold(argv[0], "COMMAND"):
		// GETKEYS of EVAL, FCALL ...: the upstream has them renamed away.
		if len(argv) >= 4 && s.srv.handler != nil && s.srv.names.lookup(argv[2]).route == routeHandler {
			switch {
			case equalFold(argv[1], "GETKEYS"):
				return commandGetKeys(s.srv.commands, argv[2:], false)
			case equalFold(argv[1], "GETKEYSANDFLAGS"):
				return commandGetKeys(s.srv.commands, argv[2:], true)
			}
		}
	case equalFold(argv[0], "DEBUG"):
		switch {
		case equalFold(argv[1], "RELOAD") && s.srv.cfg.RegistryDB >= 0 && reloadsWithoutFlush(argv[2:]):
			return errReloadNoFlush
		case equalFold(argv[1], "SET-DISABLE-DENY-SCRIPTS") && len(argv) == 3:
			// Redis's test hook: scripts may then call noscript commands.
			n, _ := strconv.Atoi(string(argv[2]))
			s.srv.allowNoScript.Store(n != 0)
		}
	case equalFold(argv[0], "CONFIG"):
		s.srv.noteConfigSet(argv)
	}
	return nil
}

// errReloadNoFlush is Redis's answer to DEBUG RELOAD NOFLUSH when loading
// the dump fails, as it does in Redis when functions are loaded.
var errReloadNoFlush = []byte("-ERR Error trying to load the RDB dump\r\n")

// reloadsWithoutFlush reports whether DEBUG RELOAD's options load the
// dump over the current dataset without MERGE. With the registry's keys
// in the upstream that makes Redis 7.0 abort on the duplicated keys, so
// luaproxy answers what Redis answers when the dump's functions clash.
func reloadsWithoutFlush(opts [][]byte) bool {
	noflush := false
	for _, o := range opts {
		switch {
		case equalFold(o, "MERGE"):
			return false
		case equalFold(o, "NOFLUSH"):
			noflush = true
		}
	}
	return noflush
}

// noteConfigSet follows CONFIG SET busy-reply-threshold (and its old name
// lua-time-limit), in milliseconds as Redis takes it: Redis's own tests
// and some operators tune it through any client.
func (s *Server) noteConfigSet(argv [][]byte) {
	if len(argv) < 4 || len(argv)%2 != 0 || !equalFold(argv[1], "SET") {
		return
	}
	for i := 2; i+1 < len(argv); i += 2 {
		name := bytes.ToLower(argv[i])
		if string(name) != "busy-reply-threshold" && string(name) != "lua-time-limit" {
			continue
		}
		ms, err := strconv.ParseInt(string(argv[i+1]), 10, 64)
		if err != nil || ms < 0 {
			continue
		}
		s.busyNanos.Store(int64(time.Duration(ms) * time.Millisecond))
	}
}
