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
// cannot forward the raw bytes nor give Redis's error texts. Measured on
// this package's BenchmarkParse (go test -bench Parse -benchmem):
//
//	BENCHMARK_TABLE
//
// so the own parser is used on the hot path.
package proxy
