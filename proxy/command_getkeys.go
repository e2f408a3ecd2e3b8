package proxy

import (
	"strings"

	"github.com/luaproxy/luaproxy/internal/cmdinfo"
)

// COMMAND GETKEYS and GETKEYSANDFLAGS of a command luaproxy answers itself
// (EVAL, FCALL ...) cannot go to the upstream, which has those commands
// renamed away; luaproxy answers them from its command table, as Redis
// would (cluster clients ask it to route scripts).

// commandGetKeys is Redis's reply to COMMAND GETKEYS (withFlags false) or
// GETKEYSANDFLAGS for args, a whole command.
func commandGetKeys(t *cmdinfo.Table, args [][]byte, withFlags bool) []byte {
	cmd := t.Lookup(args)
	switch {
	case cmd == nil:
		return []byte("-ERR Invalid command specified\r\n")
	case len(cmd.KeySpecs) == 0:
		return []byte("-ERR The command has no key arguments\r\n")
	case cmd.Arity > 0 && cmd.Arity != len(args) || len(args) < -cmd.Arity:
		return []byte("-ERR Invalid number of arguments specified for command\r\n")
	}
	keys, access := cmd.Keys(args, nil)
	if access != cmdinfo.Keys {
		keys = nil // a malformed key count: Redis finds no keys
	}
	if len(keys) == 0 && cmd.Flags&cmdinfo.NoMandatoryKeys == 0 {
		return []byte("-ERR Invalid arguments specified for command\r\n")
	}
	out := appendArrayLen(nil, '*', len(keys))
	var flags []string
	if withFlags {
		// The commands luaproxy answers have a single key spec.
		flags = strings.Fields(cmd.KeySpecs[0].Flags.String())
	}
	for _, k := range keys {
		if withFlags {
			out = append(out, "*2\r\n"...)
		}
		out = appendBulk(out, k)
		if withFlags {
			out = appendArrayLen(out, '*', len(flags))
			for _, f := range flags {
				out = append(out, '+')
				out = append(out, f...)
				out = append(out, "\r\n"...)
			}
		}
	}
	return out
}

func appendBulk(dst, b []byte) []byte {
	dst = appendArrayLen(dst, '$', len(b))
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}
