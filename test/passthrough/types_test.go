package passthrough

import (
	"testing"

	"github.com/luaproxy/luaproxy/test/harness"
)

// TestDataTypes covers every data type's common commands, in RESP2.
func TestDataTypes(t *testing.T) {
	h := harness.Start(t)
	h.Run(t,
		scenario{Name: "strings", Steps: []step{
			cmd("SET", "s", "hello"), cmd("GET", "s"), cmd("GET", "missing"), cmd("APPEND", "s", " world"),
			cmd("STRLEN", "s"), cmd("GETRANGE", "s", "0", "4"), cmd("SETRANGE", "s", "6", "there"),
			cmd("MSET", "a", "1", "b", "2"), cmd("MGET", "a", "b", "nope"), cmd("INCR", "a"), cmd("INCRBY", "a", "-10"),
			cmd("DECR", "b"), cmd("INCRBYFLOAT", "f", "1.5"), cmd("INCRBYFLOAT", "f", "1e3"), cmd("SETNX", "a", "x"),
			cmd("GETSET", "a", "y"), cmd("GETDEL", "a"), cmd("SET", "k", "v", "NX", "GET"), cmd("SET", "k", "w", "XX", "GET"),
			cmd("LCS", "s", "k"), cmd("EXPIREAT", "s", "4000000000"), cmd("EXPIRETIME", "s"), cmd("PERSIST", "s"), cmd("TTL", "s"),
			cmd("TYPE", "s"), cmd("OBJECT", "ENCODING", "s"), cmd("EXISTS", "s", "k", "nope"), cmd("DEL", "s", "k"),
			cmd("DBSIZE"), cmd("RENAME", "b", "c"), cmd("COPY", "c", "d"), cmd("DUMP", "c"),
			cmd("INCR", "f"), cmd("INCRBY", "c", "9223372036854775807"),
		}},
		scenario{Name: "lists", Steps: []step{
			cmd("RPUSH", "l", "a", "b", "c", "d"), cmd("LPUSH", "l", "z"), cmd("LRANGE", "l", "0", "-1"), cmd("LLEN", "l"),
			cmd("LINDEX", "l", "2"), cmd("LINSERT", "l", "BEFORE", "c", "bb"), cmd("LPOS", "l", "c"), cmd("LSET", "l", "0", "y"),
			cmd("LREM", "l", "1", "bb"), cmd("LTRIM", "l", "0", "3"), cmd("LPOP", "l", "2"), cmd("RPOP", "l"),
			cmd("LMOVE", "l", "m", "LEFT", "RIGHT"), cmd("LMPOP", "2", "l", "m", "LEFT", "COUNT", "5"), cmd("LRANGE", "m", "0", "-1"),
			cmd("RPUSHX", "nope", "x"), cmd("LPOP", "nope"), cmd("LSET", "nope", "0", "x"),
		}},
		scenario{Name: "hashes", Steps: []step{
			cmd("HSET", "h", "f1", "v1", "f2", "v2", "n", "5"), cmd("HGET", "h", "f1"), cmd("HMGET", "h", "f1", "x"),
			cmd("HGETALL", "h"), cmd("HKEYS", "h"), cmd("HVALS", "h"), cmd("HLEN", "h"), cmd("HEXISTS", "h", "f2"),
			cmd("HINCRBY", "h", "n", "3"), cmd("HINCRBYFLOAT", "h", "n", "0.25"), cmd("HSETNX", "h", "f1", "x"),
			cmd("HSTRLEN", "h", "f2"), cmd("HDEL", "h", "f1", "x"), cmd("HSCAN", "h", "0"),
		}},
		scenario{Name: "sets", Steps: []step{
			cmd("SADD", "s1", "1", "2", "3", "4"), cmd("SADD", "s2", "3", "4", "5"), cmd("SMEMBERS", "s1"),
			cmd("SISMEMBER", "s1", "2"), cmd("SMISMEMBER", "s1", "2", "9"), cmd("SCARD", "s1"), cmd("SINTER", "s1", "s2"),
			cmd("SUNION", "s1", "s2"), cmd("SDIFF", "s1", "s2"), cmd("SINTERCARD", "2", "s1", "s2"), cmd("SINTERSTORE", "s3", "s1", "s2"),
			cmd("SMOVE", "s1", "s2", "1"), cmd("SREM", "s1", "2", "9"), cmd("SADD", "w", "apple", "pear"), cmd("SISMEMBER", "w", "pear"), // not SMEMBERS: hashtable order is seeded
			cmd("SSCAN", "s2", "0", "COUNT", "100"), cmd("OBJECT", "ENCODING", "s2"),
		}},
		scenario{Name: "zsets", Steps: []step{
			cmd("ZADD", "z", "1", "a", "2.5", "b", "-inf", "c", "+inf", "d"), cmd("ZRANGE", "z", "0", "-1", "WITHSCORES"),
			cmd("ZSCORE", "z", "b"), cmd("ZINCRBY", "z", "0.1", "b"), cmd("ZRANK", "z", "b"), cmd("ZREVRANGE", "z", "0", "1"),
			cmd("ZRANGEBYSCORE", "z", "(1", "+inf", "LIMIT", "0", "2"), cmd("ZRANGEBYLEX", "z", "-", "+"), cmd("ZCOUNT", "z", "0", "10"),
			cmd("ZMSCORE", "z", "a", "x"), cmd("ZPOPMIN", "z"), cmd("ZPOPMAX", "z", "2"), cmd("ZADD", "y", "1", "a", "3", "q"),
			cmd("ZUNIONSTORE", "u", "2", "z", "y", "WEIGHTS", "2", "3"), cmd("ZRANGE", "u", "0", "-1", "WITHSCORES"),
			cmd("ZINTER", "2", "z", "y", "WITHSCORES"), cmd("ZDIFF", "2", "y", "z"), cmd("ZMPOP", "1", "u", "MIN"),
			cmd("ZADD", "z", "NaN", "x"), cmd("ZADD", "z", "1e400", "x"), cmd("ZSCORE", "z", "nope"),
		}},
		scenario{Name: "streams", Steps: []step{
			cmd("XADD", "st", "1-1", "f", "v"), cmd("XADD", "st", "2-0", "a", "1", "b", "2"), cmd("XADD", "st", "1-0", "x", "y"),
			cmd("XLEN", "st"), cmd("XRANGE", "st", "-", "+"), cmd("XREVRANGE", "st", "+", "-", "COUNT", "1"),
			cmd("XREAD", "COUNT", "10", "STREAMS", "st", "0"), cmd("XGROUP", "CREATE", "st", "g", "0"),
			cmd("XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "st", ">"), cmd("XPENDING", "st", "g"),
			cmd("XACK", "st", "g", "1-1"), cmd("XTRIM", "st", "MAXLEN", "1"), cmd("XDEL", "st", "2-0"),
			cmd("XINFO", "STREAM", "st"), cmd("XADD", "st", "NOMKSTREAM", "*", "f"),
		}},
		scenario{Name: "hyperloglog", Steps: []step{
			cmd("PFADD", "hll", "a", "b", "c", "d"), cmd("PFADD", "hll2", "c", "d", "e"), cmd("PFCOUNT", "hll"),
			cmd("PFCOUNT", "hll", "hll2"), cmd("PFMERGE", "m", "hll", "hll2"), cmd("PFCOUNT", "m"), cmd("GET", "hll"),
			cmd("SET", "bad", "x"), cmd("PFADD", "bad", "a"),
		}},
		scenario{Name: "bitmaps", Steps: []step{
			cmd("SETBIT", "b", "7", "1"), cmd("SETBIT", "b", "100", "1"), cmd("GETBIT", "b", "7"), cmd("BITCOUNT", "b"),
			cmd("BITPOS", "b", "1"), cmd("BITPOS", "b", "0", "0", "-1", "BIT"), cmd("SET", "c", "\xff\xf0\x00"),
			cmd("BITOP", "AND", "d", "b", "c"), cmd("GET", "d"), cmd("BITFIELD", "b", "GET", "u8", "0", "INCRBY", "i5", "100", "7"),
			cmd("BITFIELD_RO", "b", "GET", "i16", "0"), cmd("SETBIT", "b", "-1", "1"),
		}},
		scenario{Name: "geo", Steps: []step{
			cmd("GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"),
			cmd("GEODIST", "g", "Palermo", "Catania", "km"), cmd("GEOPOS", "g", "Palermo", "nope"), cmd("GEOHASH", "g", "Catania"),
			cmd("GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC", "WITHCOORD", "WITHDIST"),
			cmd("GEORADIUS", "g", "15", "37", "100", "km"), cmd("GEOADD", "g", "200", "100", "bad"),
		}},
		scenario{Name: "keyspace", Steps: []step{
			// Dict order depends on a per-process hash seed: scans see one key.
			cmd("SET", "k1", "a"), cmd("SCAN", "0", "COUNT", "100", "MATCH", "k*"), cmd("RANDOMKEY"), cmd("KEYS", "*"),
			cmd("MSET", "k2", "b", "k3", "c"),
			cmd("TOUCH", "k1", "nope"), cmd("UNLINK", "k1"), cmd("RENAMENX", "k2", "k3"), cmd("SORT", "nope"),
			cmd("RPUSH", "sl", "3", "1", "2"), cmd("SORT", "sl"), cmd("SORT", "sl", "DESC", "LIMIT", "0", "2"),
			cmd("OBJECT", "FREQ", "sl"), cmd("ECHO", "hi"), {Cmd: []string{"TIME"}, Norm: harness.AnyTime},
			{Cmd: []string{"INFO", "keyspace"}, Norm: harness.AnyBulk}, cmd("DEBUG", "SLEEP", "0"), cmd("PING"), cmd("PING", "msg"), cmd("LOLWUT", "VERSION", "5", "1", "1", "1"),
		}},
	)
}
