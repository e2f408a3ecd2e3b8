// Package registry is luaproxy's durable, shared store of Redis Function
// libraries and SCRIPT LOADed scripts.
//
// luaproxy answers FUNCTION, FCALL and SCRIPT itself, so the upstream Redis
// never holds those libraries and scripts as Redis would (its scripting
// commands may even be disabled). The registry keeps them instead, in the
// upstream Redis as plain data, so that they survive a luaproxy restart and
// are shared by every luaproxy in front of the same Redis. It stores bytes:
// it knows nothing about Lua, and callers validate code before storing it.
//
// # Data model
//
// With the default key prefix "__luaproxy:" the registry is
//
//	__luaproxy:libs     hash: library name -> library code
//	__luaproxy:scripts  hash: script SHA1 -> script body
//	__luaproxy:version  string: counter incremented by every change
//	__luaproxy:registry pub/sub channel announcing each new version
//
// The keys live in a reserved database, DefaultDB (15) unless configured:
// applications behind luaproxy must not use that database, and then KEYS,
// SCAN, DBSIZE, RANDOMKEY and FLUSHDB in their own databases never see the
// registry. Where only database 0 exists (Redis Cluster, some managed
// services), set DB to 0: the keys are then visible to applications in
// database 0, recognisable by their prefix, and applications must leave them
// alone. Pub/sub channels are not per database: instances using different
// databases of one server still receive each other's announcements, which
// costs them one GET each and changes nothing.
//
// Changes are MULTI/EXEC transactions guarded by WATCH on the version key,
// so no Lua runs on the upstream and two instances changing the registry at
// the same time never lose an update: the loser of the race reloads and
// retries (at most Options.MaxAttempts times, then ErrConflict). Each
// transaction also publishes the new version on the channel.
//
// # Local copy and freshness
//
// Every Store keeps the whole registry in memory. Libraries are published
// as an immutable Snapshot through an atomic pointer: reading one takes no
// lock and no network round trip, which keeps FCALL lookups cheap. Scripts
// sit in a map behind a read-write lock. The local copy always equals the
// shared registry at the copy's version.
//
// Another instance's change reaches a Store by the channel, normally within
// a round trip. Because a pub/sub message can be lost (a dropped
// connection), a Store also compares versions with one GET: after every
// (re)subscription, every Options.CheckInterval (one second by default),
// whenever Script misses locally, and whenever the caller calls Refresh,
// which it should do before answering "not found" for anything. A Store
// behind the shared version reloads; a change of one script or of libraries
// only is fetched incrementally.
//
// # Surviving FLUSHALL
//
// Redis keeps functions across FLUSHALL; the registry, being data, does
// not. So a Store that finds the version key missing while it holds version
// > 0 (after FLUSHALL, FLUSHDB on the registry's database, or a restart of a
// Redis without persistence), or finds it lower than its own (a failover to
// a replica that missed writes), rewrites the whole registry from memory in
// one transaction, with a version higher than any instance holds, and
// announces it; the other instances then reload it.
//
// The guarantee: the registry survives as long as one luaproxy instance
// that had caught up with it is running. Its window: from the wipe until
// some instance notices it, which is immediate when the FLUSHALL went
// through luaproxy (the proxy calls Restore right after forwarding it), and
// otherwise at the latest one CheckInterval later, or earlier at the next
// change, Script miss or Refresh. During the window running instances keep
// serving from memory, an instance starting up sees an empty registry until
// the rewrite reaches it, and a change made by another instance less than
// one notification delay before the wipe may be lost if an instance that
// had not yet received it is the one that rewrites. If every instance is
// stopped when the data goes, the registry is lost. Only the loss of the
// version key is detected: deleting or editing the hashes by hand is not.
//
// # FUNCTION DUMP and RESTORE
//
// EncodeDump and DecodeDump read and write FUNCTION DUMP payloads byte for
// byte as Redis 7.0.15 does, LZF compression and CRC-64 included, so dumps
// move freely between luaproxy and real Redis servers.
package registry
