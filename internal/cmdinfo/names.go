package cmdinfo

import "strings"

// flagNames are the command flags' names as COMMAND and the JSON files
// spell them (compared ignoring case).
var flagNames = [...]struct {
	flag Flag
	name string
}{
	{Write, "write"}, {ReadOnly, "readonly"}, {DenyOOM, "denyoom"}, {Module, "module"},
	{Admin, "admin"}, {PubSub, "pubsub"}, {NoScript, "noscript"}, {Blocking, "blocking"},
	{Loading, "loading"}, {Stale, "stale"}, {SkipMonitor, "skip_monitor"},
	{SkipSlowlog, "skip_slowlog"}, {Asking, "asking"}, {Fast, "fast"}, {NoAuth, "no_auth"},
	{MayReplicate, "may_replicate"}, {Sentinel, "sentinel"}, {OnlySentinel, "only_sentinel"},
	{NoMandatoryKeys, "no_mandatory_keys"}, {Protected, "protected"},
	{NoAsyncLoading, "no_async_loading"}, {NoMulti, "no_multi"}, {MovableKeys, "movablekeys"},
	{AllowBusy, "allow_busy"}, {TouchesArbitraryKeys, "touches_arbitrary_keys"},
}

var categoryNames = [...]struct {
	cat  ACLCategory
	name string
}{
	{CatKeyspace, "keyspace"}, {CatRead, "read"}, {CatWrite, "write"}, {CatSet, "set"},
	{CatSortedSet, "sortedset"}, {CatList, "list"}, {CatHash, "hash"}, {CatString, "string"},
	{CatBitmap, "bitmap"}, {CatHyperLogLog, "hyperloglog"}, {CatGeo, "geo"},
	{CatStream, "stream"}, {CatPubSub, "pubsub"}, {CatAdmin, "admin"}, {CatFast, "fast"},
	{CatSlow, "slow"}, {CatBlocking, "blocking"}, {CatDangerous, "dangerous"},
	{CatConnection, "connection"}, {CatTransaction, "transaction"}, {CatScripting, "scripting"},
}

var keyFlagNames = [...]struct {
	flag KeyFlag
	name string
}{
	{KeyRO, "RO"}, {KeyRW, "RW"}, {KeyOW, "OW"}, {KeyRM, "RM"}, {KeyAccess, "access"},
	{KeyUpdate, "update"}, {KeyInsert, "insert"}, {KeyDelete, "delete"},
	{KeyNotKey, "not_key"}, {KeyIncomplete, "incomplete"}, {KeyVariableFlags, "variable_flags"},
}

func flagNamed(s string) Flag {
	for _, f := range flagNames {
		if strings.EqualFold(f.name, s) {
			return f.flag
		}
	}
	return 0
}

func categoryNamed(s string) ACLCategory {
	for _, c := range categoryNames {
		if strings.EqualFold(c.name, s) {
			return c.cat
		}
	}
	return 0
}

func keyFlagNamed(s string) KeyFlag {
	for _, f := range keyFlagNames {
		if strings.EqualFold(f.name, s) {
			return f.flag
		}
	}
	return 0
}

// String lists the flags by their Redis names, space separated.
func (f Flag) String() string {
	var names []string
	for _, n := range flagNames {
		if f&n.flag != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, " ")
}

// String lists the categories as @name, space separated.
func (c ACLCategory) String() string {
	var names []string
	for _, n := range categoryNames {
		if c&n.cat != 0 {
			names = append(names, "@"+n.name)
		}
	}
	return strings.Join(names, " ")
}

// String lists the key-spec flags by their Redis names, space separated.
func (f KeyFlag) String() string {
	var names []string
	for _, n := range keyFlagNames {
		if f&n.flag != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, " ")
}
