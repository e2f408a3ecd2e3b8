package proxy

import "strings"

// cmdKind says what the proxy must watch for in a command's reply to keep
// its picture of the session (database, protocol, transaction, pub/sub)
// right, or how an internal command's reply is used.
type cmdKind uint8

const (
	kindPlain cmdKind = iota
	kindSelect
	kindHello
	kindAuth
	kindMulti
	kindExec // EXEC and DISCARD
	kindSubscribe
	kindPsubscribe
	kindSsubscribe
	kindUnsubscribe
	kindPunsubscribe
	kindSunsubscribe
	kindMonitor
	kindReset
	kindQuit
	kindClient // CLIENT: REPLY OFF|ON|SKIP changes how many replies come
	kindSync   // SYNC, PSYNC: a replication stream, not a reply; refused

	// Commands the proxy sends itself; their replies never reach the client.
	kindSwallow    // AUTH/SELECT replayed after RESET
	kindDo         // UpstreamConn.Do: the reply goes to the Handler
	kindProbe      // PING to learn whether the connection is authenticated
	kindClientInfo // CLIENT INFO to learn the database after a transaction
)

func (k cmdKind) isSubscription() bool { return k >= kindSubscribe && k <= kindSunsubscribe }

func (k cmdKind) internal() bool { return k >= kindSwallow }

// route says who answers a command.
type route uint8

const (
	routePass    route = iota // forwarded to the upstream
	routeHandler              // answered by the Handler
)

// cmdSpec is one entry of the dispatch table.
type cmdSpec struct {
	route route
	kind  cmdKind
}

// maxCommandName bounds the names looked up in the table; longer names are
// never special.
const maxCommandName = 24

// commandTable maps upper-case command names to their handling. Anything
// not in it is forwarded as a plain command.
type commandTable map[string]cmdSpec

// ScriptingCommands are the commands a Handler answers by default.
var scriptingCommands = []string{"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "SCRIPT", "FUNCTION", "FCALL", "FCALL_RO"}

func newCommandTable(handlerCommands []string) commandTable {
	t := commandTable{
		"SELECT":       {kind: kindSelect},
		"HELLO":        {kind: kindHello},
		"AUTH":         {kind: kindAuth},
		"MULTI":        {kind: kindMulti},
		"EXEC":         {kind: kindExec},
		"DISCARD":      {kind: kindExec},
		"SUBSCRIBE":    {kind: kindSubscribe},
		"PSUBSCRIBE":   {kind: kindPsubscribe},
		"SSUBSCRIBE":   {kind: kindSsubscribe},
		"UNSUBSCRIBE":  {kind: kindUnsubscribe},
		"PUNSUBSCRIBE": {kind: kindPunsubscribe},
		"SUNSUBSCRIBE": {kind: kindSunsubscribe},
		"MONITOR":      {kind: kindMonitor},
		"RESET":        {kind: kindReset},
		"QUIT":         {kind: kindQuit},
		"CLIENT":       {kind: kindClient},
		"SYNC":         {kind: kindSync},
		"PSYNC":        {kind: kindSync},
	}
	for _, name := range handlerCommands {
		name = strings.ToUpper(name)
		spec := t[name]
		spec.route = routeHandler
		t[name] = spec
	}
	return t
}

// lookup finds name case-insensitively without allocating.
func (t commandTable) lookup(name []byte) cmdSpec {
	if len(name) > maxCommandName {
		return cmdSpec{}
	}
	var buf [maxCommandName]byte
	for i, c := range name {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	return t[string(buf[:len(name)])]
}

// equalFold reports whether b equals the upper-case ASCII word s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
