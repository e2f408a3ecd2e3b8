package cmdinfo

import "bytes"

// Access says what part of the keyspace a command invocation touches.
type Access uint8

const (
	// NoKeys: the command touches no key (PING, INFO, CLIENT ..., PUBLISH).
	NoKeys Access = iota
	// Keys: the command touches exactly the keys returned.
	Keys
	// AllKeys: the command touches the whole keyspace, or its keys cannot
	// be known (unknown command, wrong arity, malformed key count).
	AllKeys
)

func (a Access) String() string {
	switch a {
	case NoKeys:
		return "NoKeys"
	case Keys:
		return "Keys"
	case AllKeys:
		return "AllKeys"
	}
	return "Access(?)"
}

// Keys appends the key arguments of argv to dst[:0] and says what argv
// touches. The keys are sub-slices of argv, not copies. An unknown command
// touches AllKeys. It does not allocate when dst has room.
func (t *Table) Keys(argv [][]byte, dst [][]byte) ([][]byte, Access) {
	c := t.Lookup(argv)
	if c == nil {
		return dst[:0], AllKeys
	}
	return c.Keys(argv, dst)
}

// Keys is Table.Keys for argv already looked up as c. It follows Redis
// 7.0's getKeysFromCommandWithSpecs: the key specs when they are complete,
// else the command's own procedure; see the package documentation for
// where it deliberately answers AllKeys instead.
func (c *Command) Keys(argv [][]byte, dst [][]byte) ([][]byte, Access) {
	dst = dst[:0]
	argc := len(argv)
	if (c.Arity > 0 && argc != c.Arity) || argc < -c.Arity || argc == 0 {
		return dst, AllKeys
	}
	if c.keyspace {
		return dst, AllKeys
	}
	hasSpec, varFlags := c.hasSpec, c.varFlags
	if hasSpec && (!varFlags || c.getKeys == procNone) {
		if keys, ok := specKeys(c.KeySpecs, argv, dst); ok {
			return c.found(keys)
		}
		dst = dst[:0]
	}
	if c.getKeys != procNone {
		keys, ok := c.getKeys.run(argv, dst)
		if !ok {
			return dst[:0], AllKeys
		}
		return c.found(keys)
	}
	if hasSpec || c.Flags&MovableKeys != 0 {
		// Keys exist that neither the specs nor a procedure of ours can
		// find: a module's getkeys callback, say.
		return dst, AllKeys
	}
	if len(c.KeySpecs) == 0 && c.FirstKey > 0 {
		// A table from an upstream older than 7.0: only the legacy range.
		legacy := KeySpec{Begin: BeginIndex, Index: c.FirstKey, Find: FindRange, KeyStep: c.Step}
		if c.LastKey >= 0 {
			legacy.LastKey = c.LastKey - c.FirstKey
		} else {
			legacy.LastKey = c.LastKey
		}
		if keys, ok := specKeys([]KeySpec{legacy}, argv, dst); ok {
			return c.found(keys)
		}
		return dst[:0], AllKeys
	}
	return dst, NoKeys
}

// found turns a key list into the answer: a command that must name keys
// and names none is malformed, and Redis refuses it.
func (c *Command) found(keys [][]byte) ([][]byte, Access) {
	if len(keys) == 0 && c.Flags&NoMandatoryKeys == 0 {
		return keys, AllKeys
	}
	return keys, Keys
}

// specKeys is Redis's getKeysUsingKeySpecs: ok is false when a spec
// cannot be applied (unknown kind, out of range, bad key count,
// incomplete).
func specKeys(specs []KeySpec, argv [][]byte, dst [][]byte) ([][]byte, bool) {
	argc := len(argv)
	for i := range specs {
		s := &specs[i]
		if s.Flags&KeyNotKey != 0 {
			continue
		}
		first := 0
		switch s.Begin {
		case BeginIndex:
			first = s.Index
		case BeginKeyword:
			start, end := s.StartFrom, argc-1
			if s.StartFrom <= 0 {
				start, end = argc+s.StartFrom, 1
			}
			dir := 1
			if start > end {
				dir = -1
			}
			for j := start; j != end; j += dir {
				if j >= argc || j < 1 {
					break
				}
				if equalFold(argv[j], s.Keyword) {
					first = j + 1
					break
				}
			}
			if first == 0 {
				continue // keyword absent: this spec names no key
			}
		default:
			return dst, false
		}
		if first < 1 || first >= argc {
			return dst, false
		}
		var last int
		switch s.Find {
		case FindRange:
			switch {
			case s.LastKey >= 0:
				last = first + s.LastKey
			case s.Limit == 0:
				last = argc + s.LastKey
			case s.LastKey == -1 && s.Limit > 0:
				last = first + ((argc-first)/s.Limit + s.LastKey)
			default:
				return dst, false
			}
		case FindKeynum:
			at := first + s.KeyNumIdx
			if s.KeyNumIdx < 0 || at < 0 || at >= argc {
				return dst, false
			}
			n, ok := parseCount(argv[at])
			if !ok || n > argc {
				return dst, false
			}
			first += s.FirstKey
			last = first + n - 1
		default:
			return dst, false
		}
		if last >= argc || last < first || first < 1 || s.KeyStep < 1 {
			return dst, false
		}
		for j := first; ; j += s.KeyStep {
			dst = append(dst, argv[j])
			if last-j < s.KeyStep {
				break
			}
		}
		if s.Flags&KeyIncomplete != 0 {
			return dst, false
		}
	}
	return dst, true
}

// parseCount parses a non-negative decimal count strictly, as Redis's
// string2ll does for key counts (no sign, spaces or leading zeros).
func parseCount(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// equalFold compares ASCII case-insensitively, as strcasecmp does.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// getKeysProc names one of Redis's per-command key procedures (db.c), used
// where key specs cannot find the keys.
type getKeysProc uint8

const (
	procNone        getKeysProc = iota
	procNumkeys                 // <numkeys> <key>...: LMPOP, ZUNION, SINTERCARD, ...
	procNumkeys2                // <arg> <numkeys> <key>...: EVAL, FCALL, BLMPOP, BZMPOP
	procDestNumkeys             // <dest> <numkeys> <key>...: ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE
	procSort
	procSortRO
	procMigrate
	procGeoradius
	procXread
	procFirstKey // SET, BITFIELD: the key is argv[1]; only its flags vary
)

func getKeysFor(name string) getKeysProc {
	switch name {
	case "sintercard", "zunion", "zinter", "zdiff", "zintercard", "lmpop", "zmpop":
		return procNumkeys
	case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro", "blmpop", "bzmpop":
		return procNumkeys2
	case "zunionstore", "zinterstore", "zdiffstore":
		return procDestNumkeys
	case "sort":
		return procSort
	case "sort_ro":
		return procSortRO
	case "migrate":
		return procMigrate
	case "georadius", "georadiusbymember":
		return procGeoradius
	case "xread", "xreadgroup":
		return procXread
	case "set", "bitfield":
		return procFirstKey
	}
	return procNone
}

func (p getKeysProc) run(argv [][]byte, dst [][]byte) ([][]byte, bool) {
	switch p {
	case procNumkeys:
		return numkeysKeys(argv, dst, 0, 1, 2)
	case procNumkeys2:
		return numkeysKeys(argv, dst, 0, 2, 3)
	case procDestNumkeys:
		return numkeysKeys(argv, dst, 1, 2, 3)
	case procSort, procSortRO:
		return sortKeys(argv, dst, p == procSort)
	case procMigrate:
		return migrateKeys(argv, dst)
	case procGeoradius:
		return georadiusKeys(argv, dst)
	case procXread:
		return xreadKeys(argv, dst)
	case procFirstKey:
		if len(argv) < 2 {
			return dst, false
		}
		return append(dst, argv[1]), true
	}
	return dst, false
}

// numkeysKeys is Redis's genericGetKeys: keys at argv[first:first+n]
// where n is argv[count], then the destination argv[dest] if dest > 0.
// A count Redis's own parsing would refuse is malformed (not ok); a zero
// count gives no keys.
func numkeysKeys(argv [][]byte, dst [][]byte, dest, count, first int) ([][]byte, bool) {
	if count >= len(argv) {
		return dst, false
	}
	n, ok := parseCount(argv[count])
	if !ok || n > len(argv)-first {
		return dst, false
	}
	if n == 0 {
		return dst, true
	}
	dst = append(dst, argv[first:first+n]...)
	if dest > 0 {
		dst = append(dst, argv[dest])
	}
	return dst, true
}

// sortKeys is sortGetKeys and sortROGetKeys: the sorted key and, for
// SORT, the last STORE destination. A BY or GET pattern with '*' makes
// Redis read keys derived from the sorted values, which cannot be known
// in advance: not ok.
func sortKeys(argv [][]byte, dst [][]byte, store bool) ([][]byte, bool) {
	argc := len(argv)
	if argc < 2 {
		return dst, false
	}
	for i := 2; i+1 < argc; i++ {
		if (equalFold(argv[i], "by") || equalFold(argv[i], "get")) && bytes.IndexByte(argv[i+1], '*') >= 0 {
			return dst, false
		}
	}
	dst = append(dst, argv[1])
	if !store {
		return dst, true
	}
	storeAt := 0
	for i := 2; i < argc; i++ {
		switch {
		case equalFold(argv[i], "limit"):
			i += 2
		case equalFold(argv[i], "get"), equalFold(argv[i], "by"):
			i++
		case equalFold(argv[i], "store") && i+1 < argc:
			storeAt = i + 1
		}
	}
	if storeAt > 0 {
		dst = append(dst, argv[storeAt])
	}
	return dst, true
}

// migrateKeys is migrateGetKeys: argv[3], or with the KEYS option (and an
// empty argv[3]) every argument after KEYS.
func migrateKeys(argv [][]byte, dst [][]byte) ([][]byte, bool) {
	argc := len(argv)
	if argc < 4 {
		return dst, false
	}
	first, num := 3, 1
	if argc > 6 {
	scan:
		for i := 6; i < argc; i++ {
			switch {
			case equalFold(argv[i], "keys"):
				if len(argv[3]) > 0 {
					num = 0
				} else {
					first, num = i+1, argc-i-1
				}
				break scan
			case equalFold(argv[i], "auth"):
				i++
			case equalFold(argv[i], "auth2"):
				i += 2
			}
		}
	}
	return append(dst, argv[first:first+num]...), true
}

// georadiusKeys is georadiusGetKeys: argv[1] and the last STORE or
// STOREDIST destination.
func georadiusKeys(argv [][]byte, dst [][]byte) ([][]byte, bool) {
	if len(argv) < 2 {
		return dst, false
	}
	stored := -1
	for i := 5; i < len(argv); i++ {
		if (equalFold(argv[i], "store") || equalFold(argv[i], "storedist")) && i+1 < len(argv) {
			stored = i + 1
			i++
		}
	}
	dst = append(dst, argv[1])
	if stored > 0 {
		dst = append(dst, argv[stored])
	}
	return dst, true
}

// xreadKeys is xreadGetKeys: the first half of the arguments after the
// STREAMS option.
func xreadKeys(argv [][]byte, dst [][]byte) ([][]byte, bool) {
	argc := len(argv)
	streams := -1
scan:
	for i := 1; i < argc; i++ {
		switch {
		case equalFold(argv[i], "block"), equalFold(argv[i], "count"):
			i++
		case equalFold(argv[i], "group"):
			i += 2
		case equalFold(argv[i], "noack"):
		case equalFold(argv[i], "streams"):
			streams = i
			break scan
		default:
			break scan
		}
	}
	if streams < 0 {
		return dst, false
	}
	n := argc - streams - 1
	if n == 0 || n%2 != 0 {
		return dst, false
	}
	return append(dst, argv[streams+1:streams+1+n/2]...), true
}

// touchesKeyspace lists the commands that name no key yet read or write
// the whole keyspace: a script running meanwhile must not be seen half
// done. See the package documentation.
func touchesKeyspace(name string) bool {
	switch name {
	case "flushall", "flushdb", "swapdb", "keys", "scan", "randomkey", "dbsize",
		"debug",
		"save", "bgsave", "bgrewriteaof", "shutdown",
		"sync", "psync", "replicaof", "slaveof", "failover",
		"cluster|getkeysinslot", "cluster|countkeysinslot":
		return true
	}
	return false
}

type blockKind uint8

const (
	blocksNever  blockKind = iota
	blocksAlways           // BLPOP and the other BLOCKING commands, WAIT
	blocksOption           // XREAD, XREADGROUP: only with BLOCK
)

func blockKindFor(name string, flags Flag) blockKind {
	switch name {
	case "xread", "xreadgroup":
		return blocksOption
	case "wait":
		return blocksAlways
	}
	if flags&Blocking != 0 {
		return blocksAlways
	}
	return blocksNever
}

// Blocks reports whether this invocation may leave the connection waiting
// for an event: the BLOCKING commands (BLPOP, BLMOVE, BZPOPMIN, BLMPOP,
// ...), WAIT, and XREAD/XREADGROUP given a BLOCK option. SUBSCRIBE and
// MONITOR change the connection's mode but answer at once: false.
func (c *Command) Blocks(argv [][]byte) bool {
	if c == nil {
		return false
	}
	switch c.blocks {
	case blocksAlways:
		return true
	case blocksOption:
		for i := 1; i < len(argv); i++ {
			switch {
			case equalFold(argv[i], "block"):
				return true
			case equalFold(argv[i], "count"):
				i++
			case equalFold(argv[i], "group"):
				i += 2
			case equalFold(argv[i], "streams"):
				return false
			}
		}
	}
	return false
}
