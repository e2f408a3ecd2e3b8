package cmdinfo

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

// TestParseMatchesBuiltin parses a real redis-server's COMMAND reply and
// compares every command with the generated table: it proves both the
// generator and the parser. Flags COMMAND hides are left out.
func TestParseMatchesBuiltin(t *testing.T) {
	s := redistest.Start(t)
	for _, proto := range []string{"2", "3"} {
		t.Run("RESP"+proto, func(t *testing.T) {
			c := s.Dial(t)
			c.MustDo(t, "HELLO", proto)
			parseMatchesBuiltin(t, c.MustDo(t, "COMMAND"))
		})
	}
	t.Run("COMMAND INFO", func(t *testing.T) {
		raw := s.Dial(t).MustDo(t, "COMMAND", "INFO", "get", "nosuch", "client", "CONFIG|GET")
		tb, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range tb.Commands() {
			names = append(names, c.Name)
		}
		if strings.Join(names, " ") != "client config|get get" {
			t.Errorf("COMMAND INFO get nosuch client CONFIG|GET parsed as %q", names)
		}
		if tb.Lookup([][]byte{[]byte("client"), []byte("kill")}) == nil {
			t.Error("CLIENT KILL missing")
		}
	})
}

func parseMatchesBuiltin(t *testing.T, raw []byte) {
	parsed, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	builtin := Builtin()
	if parsed.Len() != builtin.Len() {
		t.Errorf("COMMAND has %d commands, Builtin %d", parsed.Len(), builtin.Len())
	}
	compared, same := 0, 0
	for _, b := range builtin.Commands() {
		p := parsed.cmds[b.Name]
		if p == nil {
			t.Errorf("%s: missing from COMMAND", b.Name)
			continue
		}
		n, diffs := diffCommand(p, b)
		compared += n
		if len(diffs) == 0 {
			same += n
		}
		for _, d := range diffs {
			t.Error(d)
		}
	}
	for _, p := range parsed.Commands() {
		if builtin.cmds[p.Name] == nil {
			t.Errorf("%s: in COMMAND, not in Builtin", p.Name)
		}
	}
	t.Logf("Parse(COMMAND) vs Builtin: %d commands and subcommands compared, %d identical", compared, same)
}

// diffCommand compares a parsed command with the built-in one; n counts
// the command and its subcommands.
func diffCommand(p, b *Command) (n int, diffs []string) {
	n = 1
	if p.Name != b.Name || p.Arity != b.Arity || p.Flags != b.Flags&^HiddenFlags ||
		p.FirstKey != b.FirstKey || p.LastKey != b.LastKey || p.Step != b.Step ||
		p.Categories != b.Categories || !reflect.DeepEqual(p.KeySpecs, b.KeySpecs) {
		diffs = append(diffs, fmt.Sprintf("%s:\n COMMAND %+v\n builtin %+v", b.Name, *p, *b))
	}
	if len(p.Subcommands) != len(b.Subcommands) {
		diffs = append(diffs, fmt.Sprintf("%s: %d subcommands in COMMAND, %d built in", b.Name, len(p.Subcommands), len(b.Subcommands)))
	}
	for name, bs := range b.Subcommands {
		ps := p.Subcommands[name]
		if ps == nil {
			diffs = append(diffs, fmt.Sprintf("%s: subcommand %s missing from COMMAND", b.Name, name))
			continue
		}
		m, d := diffCommand(ps, bs)
		n += m
		diffs = append(diffs, d...)
	}
	return n, diffs
}

// keysCorpus are invocations chosen for the irregular commands; the
// generated ones below cover every command of the table.
var keysCorpus = []string{
	"GET k", "SET k v", "SET k v GET", "SET k v EX 10 NX GET", "MGET a b c", "MSET a 1 b 2", "MSETNX a 1 b 2",
	"HSET h f v f2 v2", "DEL a b c", "UNLINK a", "EXISTS a b a", "TOUCH a b", "RENAME a b", "RENAMENX a b",
	"COPY a b", "COPY a b DB 2 REPLACE", "MOVE a 1", "OBJECT ENCODING k", "OBJECT FREQ k", "OBJECT HELP",
	"MEMORY USAGE k", "MEMORY USAGE k SAMPLES 5", "MEMORY STATS", "DEBUG OBJECT k", "DEBUG SLEEP 0",
	"SORT k", "SORT k STORE d", "SORT k LIMIT 0 10 STORE d", "SORT k STORE d1 STORE d2", "SORT k BY nosort",
	"SORT k BY w_* GET o_*", "SORT k GET # GET o_*", "SORT k GET #", "SORT k BY w_* STORE d", "SORT k ALPHA DESC STORE d",
	"SORT k STORE", "SORT k LIMIT store 1", "SORT k by store", "SORT_RO k", "SORT_RO k BY w_*", "SORT_RO k GET #",
	"SORT_RO k LIMIT 0 1 ALPHA",
	"MIGRATE h 6379 k 0 1000", "MIGRATE h 6379 \"\" 0 1000 KEYS a b c", "MIGRATE h 6379 k 0 1000 KEYS a b",
	"MIGRATE h 6379 \"\" 0 1000 COPY REPLACE KEYS a", "MIGRATE h 6379 \"\" 0 1000 AUTH keys KEYS a b",
	"MIGRATE h 6379 \"\" 0 1000 AUTH2 u keys KEYS a", "MIGRATE h 6379 \"\" 0 1000 COPY",
	"GEORADIUS g 0 0 1 km", "GEORADIUS g 0 0 1 km STORE d", "GEORADIUS g 0 0 1 km STOREDIST d",
	"GEORADIUS g 0 0 1 km STORE d STOREDIST e", "GEORADIUS g 0 0 1 km WITHDIST COUNT 3 STORE d",
	"GEORADIUSBYMEMBER g m 1 km STORE d", "GEORADIUSBYMEMBER g m 1 km", "GEORADIUS_RO g 0 0 1 km",
	"GEORADIUSBYMEMBER_RO g m 1 km", "GEOSEARCH g FROMMEMBER m BYRADIUS 1 km", "GEOSEARCHSTORE d s FROMMEMBER m BYRADIUS 1 km",
	"XREAD STREAMS a 0", "XREAD STREAMS a b 0 0", "XREAD COUNT 2 STREAMS a b 0 0", "XREAD BLOCK 0 STREAMS a 0",
	"XREAD BLOCK 0 COUNT 1 STREAMS a b c 1 2 3", "XREAD STREAMS a b 0", "XREAD STREAMS streams 0", "XREAD COUNT 1 a 0",
	"XREADGROUP GROUP g c STREAMS a 0", "XREADGROUP GROUP g c COUNT 1 BLOCK 5 NOACK STREAMS a b > >",
	"XREADGROUP GROUP streams c STREAMS a 0", "XREADGROUP GROUP g c STREAMS a b 0",
	"ZUNIONSTORE d 2 a b", "ZUNIONSTORE d 2 a b WEIGHTS 1 2", "ZUNIONSTORE d 3 a b", "ZUNIONSTORE d 0 a",
	"ZUNIONSTORE d x a", "ZINTERSTORE d 1 a", "ZDIFFSTORE d 2 a b", "ZUNION 2 a b", "ZUNION 2 a b WITHSCORES",
	"ZINTER 1 a", "ZDIFF 2 a b", "ZINTERCARD 2 a b", "ZINTERCARD 2 a b LIMIT 1", "ZINTERCARD 3 a b",
	"SINTERCARD 2 a b", "SINTERCARD 1 a LIMIT 2", "SINTERCARD 0 a",
	"LMPOP 2 a b LEFT", "LMPOP 1 a RIGHT COUNT 2", "LMPOP 3 a b LEFT", "BLMPOP 0 2 a b LEFT", "BLMPOP 1.5 1 a RIGHT COUNT 2",
	"ZMPOP 2 a b MIN", "ZMPOP 1 a MAX COUNT 3", "BZMPOP 0 2 a b MIN", "BZMPOP 0 5 a b MIN",
	"EVAL s 0", "EVAL s 1 k", "EVAL s 2 a b c", "EVAL s 3 a b", "EVAL s -1", "EVAL s x a", "EVALSHA sha 1 k a",
	"EVAL_RO s 2 a b", "EVALSHA_RO sha 0 a", "FCALL f 0", "FCALL f 2 a b x", "FCALL_RO f 1 a", "FCALL f 4 a",
	"BITFIELD k", "BITFIELD k GET u8 0", "BITFIELD k SET u8 0 1", "BITFIELD k INCRBY u8 0 1 OVERFLOW SAT",
	"BITFIELD_RO k GET u8 0", "BITOP AND d a b", "BITOP NOT d a", "BITCOUNT k", "BITPOS k 1",
	"BLPOP a b 0", "BRPOP a 0", "BLMOVE a b LEFT RIGHT 0", "BRPOPLPUSH a b 0", "BZPOPMIN a b 0", "BZPOPMAX a 0",
	"LMOVE a b LEFT RIGHT", "RPOPLPUSH a b", "SMOVE a b m", "SINTERSTORE d a b", "SUNIONSTORE d a", "SDIFFSTORE d a b c",
	"SINTER a b", "PFCOUNT a b", "PFMERGE d a b", "PFADD h a", "PFDEBUG GETREG h", "PFSELFTEST",
	"XADD s * f v", "XGROUP CREATE s g $", "XGROUP HELP", "XINFO STREAM s", "XINFO GROUPS s", "XINFO HELP",
	"XAUTOCLAIM s g c 0 0", "XCLAIM s g c 0 1-1", "XPENDING s g", "XACK s g 1-1", "XTRIM s MAXLEN 1", "XSETID s 1-1",
	"LCS a b", "LCS a b LEN", "GETEX k PERSIST", "GETDEL k", "SETRANGE k 0 v", "OBJECT IDLETIME k", "RESTORE k 0 v",
	"RESTORE-ASKING k 0 v", "DUMP k", "WATCH a b", "UNWATCH", "MULTI", "EXEC", "DISCARD",
	"PUBLISH ch m", "SPUBLISH ch m", "SUBSCRIBE a b", "SSUBSCRIBE a", "PSUBSCRIBE a*", "UNSUBSCRIBE", "PUBSUB CHANNELS",
	"PUBSUB NUMSUB a", "PUBSUB SHARDNUMSUB a",
	"PING", "PING x", "ECHO x", "INFO", "INFO keyspace", "TIME", "SELECT 1", "AUTH p", "AUTH u p", "HELLO 3", "CLIENT LIST",
	"CLIENT KILL ID 1", "CLIENT SETNAME n", "CLIENT NOSUCH", "CONFIG GET maxmemory", "CONFIG SET a b", "ACL WHOAMI",
	"COMMAND", "COMMAND COUNT", "COMMAND GETKEYS GET k", "COMMAND INFO get", "WAIT 0 0", "LASTSAVE", "ROLE", "LOLWUT",
	"FLUSHALL", "FLUSHALL ASYNC", "FLUSHDB", "SWAPDB 0 1", "KEYS *", "SCAN 0", "SCAN 0 MATCH a*", "RANDOMKEY", "DBSIZE",
	"SAVE", "BGSAVE", "BGREWRITEAOF", "REPLICAOF NO ONE", "SLAVEOF NO ONE", "FAILOVER", "SYNC", "PSYNC a 1",
	"SHUTDOWN NOSAVE", "MONITOR", "CLUSTER INFO", "CLUSTER GETKEYSINSLOT 1 1", "CLUSTER COUNTKEYSINSLOT 1",
	"CLUSTER KEYSLOT k", "SCRIPT FLUSH", "SCRIPT LOAD s", "SCRIPT EXISTS a", "FUNCTION FLUSH", "FUNCTION LOAD s",
	"FUNCTION LIST", "FUNCTION DELETE l", "FUNCTION DUMP", "FUNCTION RESTORE x", "MODULE LIST", "MEMORY DOCTOR",
	"LATENCY LATEST", "SLOWLOG GET", "OBJECT", "CLIENT", "NOSUCHCOMMAND a b", "GET", "GET a b", "MSET a", "HSET h f",
	"READONLY", "READWRITE", "ASKING", "RESET", "QUIT", "EXPIRE k 10", "PEXPIREAT k 1", "TTL k", "TYPE k",
	"APPEND k v", "INCR k", "DECRBY k 1", "STRLEN k", "GETRANGE k 0 1", "SETEX k 1 v", "PSETEX k 1 v", "SETNX k v",
	"LPUSH l a", "RPUSH l a", "LRANGE l 0 1", "LPOS l a", "LINSERT l BEFORE a b", "LREM l 0 a", "LTRIM l 0 1",
	"SADD s a", "SREM s a", "SMEMBERS s", "SISMEMBER s a", "SMISMEMBER s a b", "SPOP s", "SRANDMEMBER s 2", "SSCAN s 0",
	"ZADD z 1 a", "ZRANGE z 0 1", "ZRANGESTORE d z 0 1", "ZSCORE z a", "ZSCAN z 0", "ZRANDMEMBER z", "ZREM z a",
	"HGET h f", "HMGET h a b", "HGETALL h", "HDEL h f", "HINCRBY h f 1", "HSCAN h 0", "HRANDFIELD h", "HSTRLEN h f",
	"GEOADD g 0 0 m", "GEODIST g a b", "GEOPOS g a", "GEOHASH g a", "SETBIT k 1 1", "GETBIT k 1",
}

// argvOf splits a corpus line on spaces; "" stands for an empty argument.
func argvOf(line string) []string {
	args := strings.Fields(line)
	for i, a := range args {
		if a == `""` {
			args[i] = ""
		}
	}
	return args
}

// generatedCorpus gives every command and subcommand of the table a few
// invocations: the fewest arguments its arity allows, more arguments,
// one too few, and the same with numeric arguments (so key counts parse).
func generatedCorpus(tb *Table) [][]string {
	var out [][]string
	add := func(c *Command, prefix []string) {
		min := c.Arity
		if min < 0 {
			min = -min
		}
		counts := []int{min, min - 1}
		if c.Arity < 0 {
			counts = append(counts, min+1, min+3)
		}
		for _, n := range counts {
			if n < len(prefix) {
				continue
			}
			named := append([]string(nil), prefix...)
			numeric := append([]string(nil), prefix...)
			for i := len(prefix); i < n; i++ {
				named = append(named, "a"+strconv.Itoa(i))
				numeric = append(numeric, strconv.Itoa(1+i%2))
			}
			out = append(out, named, numeric)
		}
	}
	for _, c := range tb.Commands() {
		add(c, []string{strings.ToUpper(c.Name)})
		for name, s := range c.Subcommands {
			add(s, []string{c.Name, name})
		}
	}
	return out
}

// expectedFromGetkeys maps a COMMAND GETKEYS reply to the answer Keys must
// give: a key list, an error for a command without keys (NoKeys, or
// AllKeys for the keyspace-wide commands), any other error AllKeys.
func expectedFromGetkeys(reply []byte, c *Command, argc int) (keys []string, acc Access) {
	if c != nil && ((c.Arity > 0 && argc != c.Arity) || argc < -c.Arity) {
		return nil, AllKeys
	}
	// COMMAND GETKEYS cannot be asked about a command given alone (its
	// own arity is -3); a command valid alone has no keys.
	alone := argc == 1 && bytes.HasPrefix(reply, []byte("-ERR wrong number of arguments for 'command|getkeys'"))
	if alone || bytes.HasPrefix(reply, []byte("-ERR The command has no key arguments")) {
		if c != nil && c.keyspace {
			return nil, AllKeys
		}
		return nil, NoKeys
	}
	if reply[0] == '-' {
		return nil, AllKeys
	}
	n, rest := readLen(reply)
	for i := 0; i < n; i++ {
		var l int
		l, rest = readLen(rest)
		keys = append(keys, string(rest[:l]))
		rest = rest[l+2:]
	}
	return keys, Keys
}

func readLen(b []byte) (int, []byte) {
	i := bytes.Index(b, []byte("\r\n"))
	n, _ := strconv.Atoi(string(b[1:i]))
	return n, b[i+2:]
}

// deliberate lists where Keys answers AllKeys though Redis's GETKEYS
// lists keys: SORT reading keys through BY/GET patterns, key counts the
// command itself refuses though GETKEYS's atoi reads them ("01"), and
// EVAL/FCALL key counts the command refuses (negative, not a number, more
// than the arguments), for which GETKEYS answers an empty list.
func deliberate(argv []string, c *Command, wantKeys []string) bool {
	name := strings.ToLower(argv[0])
	if c != nil {
		at := 0
		switch c.getKeys {
		case procNumkeys:
			at = 1
		case procNumkeys2, procDestNumkeys:
			at = 2
		}
		if at > 0 && at < len(argv) {
			if _, ok := parseCount([]byte(argv[at])); !ok {
				return true
			}
		}
	}
	if c != nil && c.Flags&NoMandatoryKeys != 0 && len(wantKeys) == 0 && len(argv) > 2 {
		n, err := strconv.Atoi(argv[2])
		if err != nil || n < 0 || n > len(argv)-3 {
			return true
		}
	}
	if name == "sort" || name == "sort_ro" {
		for i := 2; i+1 < len(argv); i++ {
			if o := strings.ToLower(argv[i]); (o == "by" || o == "get") && strings.Contains(argv[i+1], "*") {
				return true
			}
		}
	}
	return false
}

// TestKeysMatchRedis compares Keys with a real redis-server's COMMAND
// GETKEYS for every corpus invocation.
func TestKeysMatchRedis(t *testing.T) {
	s := redistest.Start(t)
	conn := s.Dial(t)
	tb := Builtin()
	corpus := generatedCorpus(tb)
	for _, line := range keysCorpus {
		corpus = append(corpus, argvOf(line))
	}
	corpus = append(corpus, randomCorpus(tb, 6000)...)
	for _, argv := range corpus {
		_ = conn.Send(append([]string{"COMMAND", "GETKEYS"}, argv...)...)
	}
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	same, skipped := 0, 0
	var dst [][]byte
	for _, argv := range corpus {
		reply, err := conn.Read()
		if err != nil {
			t.Fatal(err)
		}
		bargv := make([][]byte, len(argv))
		for i, a := range argv {
			bargv[i] = []byte(a)
		}
		c := tb.Lookup(bargv)
		if c != nil {
			names[c.Name] = true
		}
		wantKeys, wantAcc := expectedFromGetkeys(reply, c, len(argv))
		var acc Access
		dst, acc = tb.Keys(bargv, dst)
		var got []string
		for _, k := range dst {
			got = append(got, string(k))
		}
		if wantAcc == Keys && acc == AllKeys && deliberate(argv, c, wantKeys) {
			skipped++
			continue
		}
		if acc != wantAcc || (acc == Keys && !reflect.DeepEqual(got, wantKeys) && len(got)+len(wantKeys) > 0) {
			t.Errorf("%q: Keys = %v %q, Redis %q (want %v %q)", argv, acc, got, reply, wantAcc, wantKeys)
			continue
		}
		same++
	}
	t.Logf("Keys vs COMMAND GETKEYS: %d invocations of %d commands/subcommands, %d identical, %d deliberately AllKeys (SORT BY/GET patterns, malformed numkeys)",
		len(corpus), len(names), same, skipped)
}

// randomCorpus builds n invocations of the commands with keys, their
// arguments drawn from the keywords and numbers their key procedures
// look for, with a fixed seed.
func randomCorpus(tb *Table, n int) [][]string {
	var keyed [][]string // the command's name, or container and sub name
	for _, c := range tb.Commands() {
		if c.hasSpec || c.getKeys != procNone {
			keyed = append(keyed, []string{c.Name})
		}
		for name, sub := range c.Subcommands {
			if sub.hasSpec {
				keyed = append(keyed, []string{c.Name, name})
			}
		}
	}
	sort.Slice(keyed, func(i, j int) bool { return strings.Join(keyed[i], " ") < strings.Join(keyed[j], " ") })
	tokens := []string{"a", "b", "c", "", "0", "1", "2", "3", "-1", "01", "x*",
		"STORE", "storedist", "KEYS", "STREAMS", "BLOCK", "COUNT", "GROUP", "NOACK", "BY", "GET", "#",
		"LIMIT", "AUTH", "AUTH2", "COPY", "REPLACE", "WEIGHTS", "SET", "INCRBY", "OVERFLOW", "u8"}
	r := rand.New(rand.NewPCG(1, 2))
	out := make([][]string, 0, n)
	for len(out) < n {
		argv := append([]string(nil), keyed[r.IntN(len(keyed))]...)
		for i := r.IntN(9); i >= 0; i-- {
			argv = append(argv, tokens[r.IntN(len(tokens))])
		}
		out = append(out, argv)
	}
	return out
}
