// Package proxy is luaproxy's network side: it accepts Redis clients and
// gives each its own connection to one upstream Redis, passing every
// command and reply through byte for byte, except the scripting commands,
// which a Handler answers.
//
// Each session runs two goroutines. The request side parses client input,
// appends forwarded requests to a write buffer and writes it to the
// upstream only when the client has nothing more buffered, so a pipeline
// leaves in one write. The reply side copies upstream replies to the
// client's buffered writer and flushes when the upstream has nothing more
// buffered. An ordered queue of pending replies joins them: a command for
// the Handler waits until every earlier reply has been delivered, then runs
// with exclusive use of the upstream connection. Unsolicited data (pub/sub
// messages, MONITOR output, RESP3 pushes) passes through without
// completing an entry.
//
// The proxy keeps a picture of each session from the replies it passes on,
// for the Handler and for counting replies right: the database (SELECT +OK,
// RESET, and CLIENT INFO after a transaction that selected), the protocol
// (HELLO's reply type), MULTI, pub/sub subscriptions (from the counts in
// the confirmations, also when they arrive inside EXEC's reply), MONITOR,
// CLIENT REPLY OFF/SKIP, and whether the connection is authenticated
// (learnt with a PING, when a request is large enough for Redis's limits on
// unauthenticated clients to matter). RESET also replays the upstream URL's
// AUTH and SELECT.
//
// Every forwarded command holds the shard locks of its keys (found with
// the command table of package internal/cmdinfo) from the moment it is
// forwarded until its reply has been delivered or has failed, and every
// script holds its declared keys' shards exclusively while it runs: see
// locks.go for the lock manager and its deadlock-freedom argument,
// session_locks.go for the forwarding side and scripting_locks.go for
// scripts, escalation and restarts.
//
// Replies are never decoded: a scanner finds where each ends by counting
// the elements still due, and copies bulk payloads in chunks, so a reply of
// any size costs the proxy only its read buffer.
//
// Requests are parsed by the package's own RESP2 parser, which follows
// Redis 7.0's processMultibulkBuffer and processInlineBuffer rule for rule
// (limits, quoting, error texts) and returns arguments as slices of the
// read buffer; the raw bytes are forwarded unchanged.
// github.com/tidwall/resp, which the product card names, decodes every
// request into freshly allocated Values and a bufio.Reader of its own; it
// cannot forward the raw bytes nor give Redis's error texts. Measured with
// this package's BenchmarkParse (go test -bench Parse -benchmem, 2 shared
// cores, both parsers reading the same bytes, tidwall/resp's Reader created
// once):
//
//	request                 own parser             tidwall/resp v0.1.1
//	GET k                   59 ns/op, 0 allocs     487 ns/op, 9 allocs (192 B)
//	SET k <100 bytes>       75 ns/op, 0 allocs     533 ns/op, 12 allocs (424 B)
//	pipeline of 100         6.8 us/op, 0 allocs    56.6 us/op, 1050 allocs (30 KB)
//
// That is 7 to 8 times faster with no garbage per request, which is why the
// own parser is on the hot path; tidwall/resp is only a benchmark baseline.
//
// # Performance
//
// Pass-through costs what a dumb TCP forwarder costs, syscall for syscall.
// strace -c over 20000 unpipelined GETs (redis-benchmark -c 50) counted
// 80040 reads (40002 of them EAGAIN) and 40002 writes in luaproxy, and
// 120110 splices (40052 EAGAIN) in test/bench/forwarder: per request and
// direction one read with data, one write, and one read that finds nothing
// before the goroutine parks. That last read cannot be skipped: Go's
// netpoller is edge-triggered and clears a descriptor's readiness before
// each read, so waiting without trying first could miss the client's next
// request. Pipelined 16 deep the counts were again equal (4 reads and 2
// writes per batch of 16 against 6 splices). There is no timer or deadline
// per read (ClientIdleTimeout, off by default, sets one deadline per read
// of the socket, not per command), no channel operation per command, and
// no allocation per command.
//
// So the time goes to the kernel. perf record on luaproxy at pipeline 1:
// 86% kernel (loopback TCP, context switches in epoll and futex waits),
// 14% user, of which the proxy's own code is about 3% and the Go
// scheduler and poller most of the rest; the forwarder's split is 90/10.
// At pipeline 16 the proxy's own work showed: 23% user against the
// forwarder's 10%, in request parsing (IndexByte twice per count and length
// line), the command-table map lookup (upper-casing and hashing every
// name) and the reply copy (up to three writes and a lock per reply).
// Hence three changes: runs of ordinary replies complete in the upstream
// buffer are copied to the client in one write, with one lock and one
// queue update (copyRun); command names are found through a small index
// by length and first and last letter (4 ns for GET instead of 19 ns);
// and short protocol lines are scanned by hand. GOMAXPROCS=1 was tried
// and did not help.
//
// CPU per command of the proxy process, perf stat task-clock (ns
// resolution), median of 3 alternating runs, 2 shared cores under other
// load, redis-benchmark -c 50:
//
//	                  before   after   forwarder
//	GET, pipeline 16  1.30 us  1.21 us  1.11 us
//	SET, pipeline 16  1.39 us  1.24 us  1.14 us
//	GET, pipeline 1   18.1 us  17.8 us  18.0 us
//
// Unpipelined, luaproxy is at the forwarder's cost and throughput (make
// bench: P1 ratios to direct Redis 0.70-0.76 against the forwarder's
// 0.70-0.71 in the same run). Pipelined, it still spends about 0.1 us per
// command more, in parsing each request, which the forwarder never does.
// Throughput and p99 at pipeline 16 follow CPU: on two cores shared by
// Redis, redis-benchmark and the proxy, the forwarder itself reaches only
// about 0.6x direct Redis, and single runs vary by 2x with the machine's
// load, so judge the proxy against the forwarder of the same run. The
// bench's own CPU figures come from /proc in 10 ms ticks, that is 0.1
// us/op at -n 100000: too coarse at pipeline 16, where -n 1000000 helps.
//
// # Scripting
//
// Scripting is the Handler for EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and
// SCRIPT (and, through its Functions field, FUNCTION, FCALL and FCALL_RO).
// It checks arguments as Redis 7.0 does, finds the script in a cache shared
// by all sessions and runs it in a luavm.VM. A script's redis.call goes to
// the calling session's own upstream connection (UpstreamConn.Do), which
// the Handler has to itself while it runs, or to a shared script connection
// (see below). So a script sees everything its client sent before it,
// pipelined or not; it runs in the client's database and as the client's
// ACL user; and it costs no extra connection, only one round trip per
// redis.call.
//
// That connection speaks the client's protocol. Scripts speak RESP2 unless
// they call redis.setresp(3): the first call that needs the other protocol
// switches the connection with HELLO, and it is switched back after the
// script. A SELECT inside a script is undone the same way, so the client's
// database never changes. TIME is not frozen: Redis 7.0 also reads the
// clock for every TIME, so two TIMEs in one script differ there too; what
// Redis does freeze during a script, the clock that expires keys, the
// upstream cannot, since it sees separate commands.
//
// Redis runs one script at a time and nothing else meanwhile. luaproxy
// runs scripts of different clients at once, each a series of ordinary
// commands to the upstream, so other clients' commands can run between
// two redis.calls of a script; and nobody gets BUSY while a script runs
// long (SCRIPT KILL still works).
//
// The script cache maps SHA1 digests to bodies. Scripts added by SCRIPT
// LOAD stay until SCRIPT FLUSH and are also written to the ScriptStore
// (package registry, in the upstream), where EVALSHA looks on a local miss,
// so every luaproxy in front of one Redis shares them. Scripts added by EVAL
// are kept for EVALSHA up to ScriptingOptions.CacheSize, least recently
// used first out, as Redis 7.4 does (7.0 never evicts).
//
// A script inside MULTI is answered +QUEUED and run at EXEC in order with
// the transaction's other commands: from the first script on, the session
// hands every command to the Handler, which keeps them; at EXEC it sends
// the upstream EXEC for what was queued there before (which checks WATCH),
// then runs the kept scripts and commands, and answers one array, all
// under one lock set covering the transaction's keys; scripting_multi.go
// lists the differences from Redis.
//
// # Shared script connections
//
// With ScriptUpstreamConns (script-upstream-conns) N > 0, scripts' calls
// go on N shared upstream connections per database in use instead
// (scriptconn.go), where the calls of many scripts are pipelined: each
// connection writes whatever calls are queued in one write and hands the
// replies back in order to the scripts waiting for them. Before writing,
// the writer yields once, so the scripts whose replies just arrived queue
// their next calls first; there is no timer. The upstream then reads and
// answers many commands per event-loop turn instead of one per script
// round trip, which is what makes its CPU per script lower than a native
// Redis running the script itself. A script keeps one connection, so its
// calls run in order; each call is answered before the next is sent, and
// before the script's reply, so its order with its client's other
// commands is kept too. A connection in another database than the URL's
// is dialled with a SELECT: a set per database costs no command per call,
// where a SELECT in front of calls would cost one on every switch.
//
// A script uses them only where that cannot be told apart from its
// session's connection (sessionCaller): not when its client sent AUTH or
// HELLO AUTH for another user than the URL's, nor after CLIENT TRACKING ON
// (until RESET); and from the script's first redis.setresp(3) or
// per-connection command (SELECT, CLIENT, READONLY, READWRITE, ASKING) on,
// its calls go on the session's connection as described above. A lost
// shared connection fails the calls in flight on it (the scripts get the
// same error as when their session's connection is lost) and is dialled
// again by the next call; while it cannot be dialled, scripts use their
// sessions' connections.
//
// test/bench/scripts (50 clients, 2 cores shared with other work), with
// 0 and 2 connections: the upstream's CPU per script went from 1.07x to
// 0.25x native Redis's for a 1-call script, from 2.5x to 0.46x for a
// 4-call token bucket and from 0.66x to 0.19x for a cjson round trip; it
// read 11 to 15 commands per read instead of one. One connection did the
// same within noise, four halved the commands per read; the default is 2.
package proxy
