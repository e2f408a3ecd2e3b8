// Package functions holds luaproxy's end-to-end tests of Redis Functions:
// FUNCTION LOAD, DELETE, LIST, DUMP, RESTORE, FLUSH, KILL, STATS, HELP and
// FCALL / FCALL_RO, compared byte for byte with a real Redis 7.0.15 through
// test/harness, in RESP2 and RESP3.
package functions
