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
// A later issue can take shard locks per forwarded command: Server's
// onForward hook is called as a command is forwarded and the function it
// returns runs when that command's reply has been delivered or has failed.
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
package proxy
