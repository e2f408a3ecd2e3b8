// Package cmsgpack is Redis's bundled lua-cmsgpack 0.4.0 (the `cmsgpack`
// global) for go-lua: MessagePack encoding of Lua values and decoding of
// MessagePack streams, byte for byte as Redis 7.0 produces and accepts them.
//
// The C library runs on Lua 5.1, whose C API refuses to grow a C function's
// stack beyond 8000 slots. Deeply nested or very long inputs hit that limit
// in Redis with specific "stack overflow (...)" errors; the encoder and
// decoder here count the slots the C code would use and fail at the same
// points with the same messages.
//
// One difference remains: a map is encoded in the order go-lua's next
// visits the table's keys, which is not Lua 5.1's order (and not even
// stable between runs, since go-lua keeps hash keys in a Go map). Tables
// with several non-array keys therefore pack to the same pairs as in Redis
// but possibly in another order.
package cmsgpack

import (
	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

const (
	name        = "cmsgpack"
	version     = "lua-cmsgpack 0.4.0"
	copyright   = "Copyright (C) 2012, Salvatore Sanfilippo"
	description = "MessagePack C implementation for Lua"

	// maxNesting is the table depth beyond which tables encode as nil,
	// which is how the C library survives reference cycles.
	maxNesting = 16

	// cStackMax is Lua 5.1's LUAI_MAXCSTACK: the most stack slots a C
	// function may hold.
	cStackMax = 8000
)

// Open creates the `cmsgpack` table as Redis's luaopen_cmsgpack does and
// sets it as a global. Encoded output and decoded values are charged to lim
// (nil means unlimited), and long encodings and decodings poll it for
// interrupts.
func Open(l *lua.State, lim *luautil.Limits) {
	luautil.NewLib(l, []lua.RegistryFunction{
		{Name: "pack", Function: func(l *lua.State) int { return pack(l, lim) }},
		{Name: "unpack", Function: func(l *lua.State) int { return unpack(l, lim) }},
		{Name: "unpack_one", Function: func(l *lua.State) int { return unpackOne(l, lim) }},
		{Name: "unpack_limit", Function: func(l *lua.State) int { return unpackLimit(l, lim) }},
	})
	for _, f := range [][2]string{
		{"_NAME", name},
		{"_VERSION", version},
		{"_COPYRIGHT", copyright},
		{"_DESCRIPTION", description},
	} {
		l.PushString(f[1])
		l.SetField(-2, f[0])
	}
	l.SetGlobal(name)
}

// cStack mirrors the number of stack slots the C implementation would be
// using, so that luaL_checkstack failures happen where they do in Redis.
type cStack struct {
	l   *lua.State
	top int
}

func (s *cStack) check(n int, what string) {
	if s.top+n > cStackMax {
		luautil.Errorf(s.l, "stack overflow (%s)", what)
	}
}
