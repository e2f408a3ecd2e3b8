package cmdinfo

import (
	"sort"
)

//go:generate go run ./internal/gencmd -src /work/ref/redis-7.0.15/src/commands -out builtin_gen.go

// Flag is a set of Redis command flags, as COMMAND reports them (plus the
// few Redis hides there, which only the built-in table knows).
type Flag uint32

// Command flags, in the order Redis 7.0 lists them.
const (
	Write Flag = 1 << iota
	ReadOnly
	DenyOOM
	Module
	Admin
	PubSub
	NoScript
	Blocking
	Loading
	Stale
	SkipMonitor
	SkipSlowlog
	Asking
	Fast
	NoAuth
	MayReplicate // hidden by COMMAND: known from the built-in table only
	Sentinel     // hidden by COMMAND
	OnlySentinel // hidden by COMMAND
	NoMandatoryKeys
	Protected // hidden by COMMAND
	NoAsyncLoading
	NoMulti
	MovableKeys
	AllowBusy
	TouchesArbitraryKeys // hidden by COMMAND
)

// HiddenFlags are the flags Redis 7.0 keeps out of COMMAND's reply: a
// table parsed from the upstream cannot know them.
const HiddenFlags = MayReplicate | Sentinel | OnlySentinel | Protected | TouchesArbitraryKeys

// ACLCategory is a set of ACL categories (@read, @keyspace, ...).
type ACLCategory uint32

// ACL categories, in the order Redis 7.0 lists them.
const (
	CatKeyspace ACLCategory = 1 << iota
	CatRead
	CatWrite
	CatSet
	CatSortedSet
	CatList
	CatHash
	CatString
	CatBitmap
	CatHyperLogLog
	CatGeo
	CatStream
	CatPubSub
	CatAdmin
	CatFast
	CatSlow
	CatBlocking
	CatDangerous
	CatConnection
	CatTransaction
	CatScripting
)

// KeyFlag is a set of key-spec flags.
type KeyFlag uint16

// Key-spec flags.
const (
	KeyRO KeyFlag = 1 << iota
	KeyRW
	KeyOW
	KeyRM
	KeyAccess
	KeyUpdate
	KeyInsert
	KeyDelete
	KeyNotKey
	KeyIncomplete
	KeyVariableFlags
)

// BeginSearch is how a key spec finds where its keys begin.
type BeginSearch uint8

// Begin-search kinds.
const (
	BeginUnknown BeginSearch = iota // keys cannot be found from the spec
	BeginIndex                      // at argv[Index]
	BeginKeyword                    // after Keyword, searched from StartFrom
)

// FindKeys is how a key spec finds its keys once it knows where they begin.
type FindKeys uint8

// Find-keys kinds.
const (
	FindUnknown FindKeys = iota // keys cannot be found from the spec
	FindRange                   // LastKey, KeyStep, Limit
	FindKeynum                  // KeyNumIdx, FirstKey, KeyStep
)

// KeySpec is one of a command's key specifications (Redis 7.0 key specs).
// It is a plain comparable value.
type KeySpec struct {
	Flags KeyFlag

	Begin     BeginSearch
	Index     int    // BeginIndex: position of the first key
	Keyword   string // BeginKeyword: the keyword the keys follow
	StartFrom int    // BeginKeyword: where to search from; negative counts from the end, searching backwards

	Find      FindKeys
	LastKey   int // FindRange: last key relative to the first; negative counts from the end
	KeyStep   int // FindRange and FindKeynum: distance between keys
	Limit     int // FindRange with LastKey -1: only the first 1/Limit of the remaining arguments
	KeyNumIdx int // FindKeynum: position of the key count, relative to the begin
	FirstKey  int // FindKeynum: position of the first key, relative to the begin
}

// Command is one entry of the command table. A Command reached through a
// Table is shared and must be treated as read-only.
type Command struct {
	Name                    string // lower case; subcommands "container|sub"
	Arity                   int    // negative: at least -Arity arguments, name included
	Flags                   Flag
	FirstKey, LastKey, Step int // the legacy key range
	Categories              ACLCategory
	KeySpecs                []KeySpec
	Subcommands             map[string]*Command // by lower-case sub name; nil if not a container

	getKeys  getKeysProc // Redis's own procedure for irregular commands
	keyspace bool        // touches the whole keyspace though it names no key
	blocks   blockKind
	hasSpec  bool  // some key spec names real keys (not NOT_KEY)
	varFlags bool  // some key spec has VARIABLE_FLAGS
	subIndex index // Subcommands, for Lookup
}

// Table is a command table. It is immutable once built and safe for
// concurrent use.
type Table struct {
	cmds  map[string]*Command
	index index
}

// Builtin returns Redis 7.0.15's own command table, generated from its
// src/commands/*.json. Each call builds a new table; callers keep it.
func Builtin() *Table {
	return newTable(builtinCommands())
}

func newTable(cmds []*Command) *Table {
	t := &Table{cmds: make(map[string]*Command, len(cmds))}
	for _, c := range cmds {
		finish(c)
		t.cmds[c.Name] = c
	}
	t.index = newIndex(t.cmds)
	return t
}

// finish derives what a Command knows from its name alone: Redis's rules
// for irregular commands live in code, not in COMMAND's reply.
func finish(c *Command) {
	for _, s := range c.Subcommands {
		finish(s)
	}
	finishOne(c)
}

// finishOne is finish for c alone, its subcommands being finished already.
func finishOne(c *Command) {
	c.getKeys = getKeysFor(c.Name)
	c.keyspace = touchesKeyspace(c.Name)
	c.blocks = blockKindFor(c.Name, c.Flags)
	c.hasSpec, c.varFlags = false, false
	for _, ks := range c.KeySpecs {
		c.hasSpec = c.hasSpec || ks.Flags&KeyNotKey == 0
		c.varFlags = c.varFlags || ks.Flags&KeyVariableFlags != 0
	}
	c.subIndex = newIndex(c.Subcommands)
}

// Len returns the number of top-level commands.
func (t *Table) Len() int { return len(t.cmds) }

// Commands returns the top-level commands sorted by name.
func (t *Table) Commands() []*Command {
	out := make([]*Command, 0, len(t.cmds))
	for _, c := range t.cmds {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Merge returns a table with the commands of t and over; where both have
// a command, over's wins. t's entries missing from over stay: an upstream
// that renamed EVAL or FUNCTION away still needs them described. Two
// things COMMAND cannot tell are kept from t's entry: the hidden flags
// (MAY_REPLICATE and friends), and the key specs and subcommands when over
// has none (an upstream older than 7.0 reports neither).
func (t *Table) Merge(over *Table) *Table {
	m := &Table{cmds: make(map[string]*Command, len(t.cmds)+len(over.cmds))}
	for name, c := range t.cmds {
		m.cmds[name] = c
	}
	for name, c := range over.cmds {
		m.cmds[name] = mergeCommand(t.cmds[name], c)
	}
	m.index = newIndex(m.cmds)
	return m
}

func mergeCommand(base, over *Command) *Command {
	if base == nil {
		return over
	}
	c := *over
	c.Flags |= base.Flags & HiddenFlags
	if len(c.KeySpecs) == 0 && len(base.KeySpecs) > 0 && c.FirstKey == base.FirstKey {
		c.KeySpecs = base.KeySpecs
	}
	if len(base.Subcommands) > 0 {
		subs := make(map[string]*Command, len(base.Subcommands)+len(c.Subcommands))
		for name, s := range base.Subcommands {
			subs[name] = s
		}
		for name, s := range c.Subcommands {
			subs[name] = mergeCommand(base.Subcommands[name], s)
		}
		c.Subcommands = subs
	}
	finishOne(&c) // the subcommands are finished, and may be shared
	return &c
}

// Lookup finds argv's command as Redis's lookupCommand does, ignoring
// case: when argv[0] is a container and argv[1] is present it returns the
// subcommand. It returns nil for an unknown command or subcommand. It does
// not allocate.
func (t *Table) Lookup(argv [][]byte) *Command {
	c, _ := t.LookupName(argv)
	return c
}

// LookupName is Lookup that also tells an unknown subcommand from an
// unknown command: knownContainer is true when cmd is nil because argv[1]
// is no subcommand of the container argv[0].
func (t *Table) LookupName(argv [][]byte) (cmd *Command, knownContainer bool) {
	if len(argv) == 0 {
		return nil, false
	}
	c := t.index.find(argv[0])
	if c == nil {
		return nil, false
	}
	if c.Subcommands == nil || len(argv) == 1 {
		return c, false
	}
	if sub := c.subIndex.find(argv[1]); sub != nil {
		return sub, false
	}
	return nil, true
}
