// Package luavm runs Redis scripts the way Redis 7.0.15 does, on go-lua
// states instead of Redis's embedded Lua 5.1: the same sandbox and globals,
// the same redis.* API, the same conversions and the same error texts, so
// that a client cannot tell luaproxy's replies from a real Redis's.
//
// A VM keeps a pool of ready states. Each state has its libraries opened
// once, caches compiled scripts by SHA1 (in its registry as "f_<sha>", like
// Redis) and is reset between scripts so that nothing one script does is
// visible to the next: globals and library tables are read-only proxies,
// KEYS and ARGV are refilled per run, and tables a script could have
// changed behind the proxies are checked and repaired after every run.
// Eval and Run serve EVAL/EVALSHA, LoadLibrary and FCall serve FUNCTION
// LOAD and FCALL, Kill and KillScripts serve SCRIPT KILL and FUNCTION KILL.
//
// Every entry into go-lua is a protected call with luavm's message
// handler: go-lua turns non-string error values into strings and reads
// ProtectedCall's handler index as an absolute stack slot, so error values
// are boxed (see raise) and the handler always sits at slot 1. Go panics
// escaping go-lua become an error reply and the state is replaced.
//
// Known differences from Redis 7.0.15 (everything else is meant to be
// byte-identical; the tests compare with a real redis-server):
//   - go-lua names the culprit of some runtime errors differently: "local
//     'x'" where Lua 5.1 says "field 'x'", and no name at all for calls of
//     a nil field or method ("attempt to call a nil value").
//   - Lua 5.1's limit of 20000 nested calls is checked at every hook tick
//     (1000 instructions), so a recursion can go a few hundred frames past
//     it before "stack overflow"; go-lua's own limit (a million stack
//     slots, hundreds of MB) is never reached by plain recursion.
//   - coroutines do not exist in go-lua: coroutine.running() returns nil
//     and the other coroutine functions raise an error.
//   - error({}) (a table without err) crashes Redis 7.0.15; luavm answers
//     "ERR Script raised an error table without an 'err' field".
//   - CR and LF in a script's error message are sent as spaces (Redis
//     sends them raw and breaks the protocol).
//   - after a kill the interrupt is raised at every instruction, not at
//     every new line, so a pcall on the kill's line cannot return either.
//   - the time limit (Config.TimeLimit) and context cancellation are
//     luaproxy's own ("ERR Script killed by luaproxy: ..."); Redis only
//     answers BUSY to others.
//   - memory: see Config.MemoryLimit; exponential growth through the VM's
//     own operators (s = s .. s) can outrun the heap check.
//   - redis.call checks command existence, arity, noscript and read-only
//     writes against Redis 7.0.15's command table and leaves ACL rights to
//     the upstream, so a read-only script calling a write command it may
//     not run gets the write error where Redis gives the ACL one; commands
//     Redis 7.0.15 does not know (modules) go upstream unchecked.
//   - set_repl and replicate_commands have no effect: the upstream
//     replicates the commands it executes.
//   - with several scripts running at once (Redis runs one), Kill and
//     KillScripts apply to all of them.
//   - the settings of the global cjson table (cjson.encode_max_depth,
//     encode_number_precision, encode_sparse_array, ...) start from their
//     defaults in every script. In Redis a script's change lasts, for
//     every later EVAL, until SCRIPT FLUSH; a pool of states cannot share
//     that without making scripts that run at once see each other's
//     changes, and keeping them per state would make a script's settings
//     depend on the state it runs on. Tables from cjson.new() are the
//     script's own in both.
//   - "bad argument" errors name a library function by its library name
//     (5.1 uses the call site's: a local alias f is 'f' there), and tell a
//     method call (s:rep(), not counting self) from the caller's bytecode
//     by line, as go-lua does not expose the call's program counter: when
//     one line calls the same function both as a method and not, the
//     error is numbered as for a plain call.
package luavm
