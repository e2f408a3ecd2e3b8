// Package cmdinfo is Redis's command table: each command's arity, flags,
// ACL categories, key specifications and subcommands, and from them which
// keys an invocation touches.
//
// Two tables exist: Builtin, Redis 7.0.15's own, generated from its
// src/commands/*.json by internal/gencmd (with what redis-server derives
// at start: implicit ACL categories, the legacy key range, MOVABLE_KEYS),
// and a table Parsed from an upstream's COMMAND reply. The proxy merges the
// second over the first: module commands and the upstream's own details
// count, while commands the upstream renamed away (EVAL, FUNCTION, ...)
// and the flags COMMAND hides (MAY_REPLICATE, PROTECTED, ...) stay known.
//
// # Keys
//
// Table.Keys and Command.Keys follow Redis 7.0's
// getKeysFromCommandWithSpecs: the key specs (begin_search index or
// keyword, find_keys range or keynum) when they are complete and their
// flags fixed, else the command's own procedure from db.c (SORT and
// SORT_RO, MIGRATE ... KEYS, GEORADIUS[BYMEMBER] STORE/STOREDIST,
// XREAD/XREADGROUP STREAMS, the numkeys commands ZUNION[STORE], ZINTER,
// ZDIFF, SINTERCARD, LMPOP, BLMPOP, ZMPOP, BZMPOP, EVAL*, FCALL*, and SET
// and BITFIELD). They agree with a real redis-server's COMMAND GETKEYS (see
// redisdiff_test.go) except where locking needs the safe answer:
//
//   - Wrong arity, an unknown command or subcommand, a key count that is
//     not a non-negative integer or exceeds the arguments, or a command
//     that must name keys and names none: AllKeys. The upstream refuses
//     the command anyway; GETKEYS answers an error, or for EVAL/FCALL an
//     empty list.
//   - SORT and SORT_RO with a BY or GET pattern containing '*': AllKeys,
//     since Redis reads keys built from the sorted values (GETKEYS lists
//     only the sorted and STORE keys).
//
// Keyless commands answer NoKeys, except those that read or write the
// whole keyspace, decided from the JSON files' @keyspace and @dangerous
// categories, which answer AllKeys so that no script is seen half done:
//
//   - FLUSHALL, FLUSHDB, SWAPDB (write every key);
//   - KEYS, SCAN, RANDOMKEY, DBSIZE, CLUSTER GETKEYSINSLOT, CLUSTER
//     COUNTKEYSINSLOT (read key names or counts);
//   - DEBUG (RELOAD, OBJECT, DIGEST, ... reach any key);
//   - SAVE, BGSAVE, BGREWRITEAOF, SHUTDOWN (persist a snapshot);
//   - SYNC, PSYNC, REPLICAOF, SLAVEOF, FAILOVER (copy or replace the
//     dataset).
//
// Keyless @dangerous commands that touch no data stay NoKeys: INFO, ROLE,
// LASTSAVE, CONFIG, CLIENT, ACL, MONITOR, MODULE, LATENCY, SLOWLOG,
// MEMORY (but MEMORY USAGE has a key), PFSELFTEST, REPLCONF and the other
// CLUSTER subcommands. So do SCRIPT and FUNCTION (scripts are not keys),
// PUBLISH and the subscription commands, MULTI, EXEC, DISCARD, UNWATCH
// (WATCH names its keys), SELECT, WAIT, AUTH, HELLO, PING, ECHO, TIME.
// MOVE and COPY name keys: their database-independent key names are what
// they report.
//
// # Blocking
//
// Command.Blocks reports the invocations that may leave a connection
// waiting: the BLOCKING commands, WAIT, and XREAD/XREADGROUP only with a
// BLOCK option.
package cmdinfo
