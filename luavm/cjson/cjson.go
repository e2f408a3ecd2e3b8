// Package cjson is Redis's bundled Lua CJSON 2.1.0 (the `cjson` global) for
// go-lua: JSON encoding of Lua values and decoding of JSON text, byte for
// byte as Redis 7.0 produces and accepts them, with the same configuration
// functions, the same error messages and the same limits.
//
// The C library leans on C and glibc behaviour that shows in its output:
// numbers are printed with printf("%.14g") and parsed with strtod (so hex
// numbers, "inf" and "nan" decode), text stops at the first NUL byte, and
// out-of-range doubles become INT_MIN when stored in a C int. Those details
// are reproduced here. Nesting limits include Lua 5.1's cap of 8000 stack
// slots per C function, which bounds depth even when the configured
// maximum is raised.
package cjson

import (
	"fmt"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

const (
	name    = "cjson"
	version = "2.1.0"

	// cStackMax is Lua 5.1's LUAI_MAXCSTACK: lua_checkstack refuses to
	// let a C function hold more stack slots than this.
	cStackMax = 8000

	// tableCost and slotCost approximate the memory a decoded table and
	// each of its entries take, for the memory budget.
	tableCost = 64
	slotCost  = 16
)

// Invalid number handling when encoding (encode_invalid_numbers).
const (
	invalidOff  = 0 // raise an error
	invalidOn   = 1 // print inf, -inf and nan
	invalidNull = 2 // print null
)

// config is one instance's settings: the global cjson table has one, and
// every cjson.new() table gets its own, as in the C library.
type config struct {
	sparseConvert  bool
	sparseRatio    int32
	sparseSafe     int32
	encodeMaxDepth int32
	decodeMaxDepth int32
	encodeInvalid  int32
	precision      int32
	keepBuffer     bool
	decodeInvalid  bool

	// buf is the encode buffer kept between calls while keepBuffer is on.
	buf []byte
}

func newConfig() *config {
	return &config{
		sparseRatio:    2,
		sparseSafe:     10,
		encodeMaxDepth: 1000,
		decodeMaxDepth: 1000,
		precision:      14,
		keepBuffer:     true,
		decodeInvalid:  true,
	}
}

// IsNull reports whether the value at index is cjson.null, for callers that
// convert Lua values (Redis turns it into a nil reply). The C library uses
// a NULL light userdata; go-lua has no working light userdata, so each
// state gets one full userdata holding a luautil.CNull, shared by all
// cjson instances in it. Both have type "userdata", compare equal only to
// themselves and print as "userdata: (nil)".
func IsNull(l *lua.State, index int) bool {
	_, ok := l.ToUserData(index).(luautil.CNull)
	return ok
}

// Module is the global cjson table of one state.
type Module struct{ cfg *config }

// Reset restores the global table's default settings (encode_max_depth,
// encode_number_precision...). In Redis they belong to its one Lua state
// and a script's change lasts until SCRIPT FLUSH; luaproxy runs scripts
// on a pool of states, so it resets them before every script rather than
// let a script see whichever settings its state happened to keep.
func (m *Module) Reset() {
	buf := m.cfg.buf
	*m.cfg = *newConfig()
	m.cfg.buf = buf[:0]
}

// Open creates the `cjson` table as Redis's luaopen_cjson does and sets it
// as a global. Encoded output and decoded values are charged to lim (nil
// means unlimited), and long encodings and decodings poll it for
// interrupts.
func Open(l *lua.State, lim *luautil.Limits) *Module {
	l.PushUserData(luautil.CNull{})
	cfg := newModule(l, lim)
	l.Remove(-2)
	l.SetGlobal(name)
	return &Module{cfg: cfg}
}

// newModule pushes a fresh cjson table with its own configuration, and
// returns the configuration. The null userdata must be on top of the
// stack; it stays there.
func newModule(l *lua.State, lim *luautil.Limits) *config {
	cfg := newConfig()
	l.NewTable()
	l.PushValue(-2) // null, the upvalue of every function
	luautil.SetFuncs(l, []lua.RegistryFunction{
		{Name: "encode", Function: func(l *lua.State) int { return encode(l, cfg, lim) }},
		{Name: "decode", Function: func(l *lua.State) int { return decode(l, cfg, lim) }},
		{Name: "encode_sparse_array", Function: cfg.encodeSparseArray},
		{Name: "encode_max_depth", Function: cfg.encodeMaxDepthOption},
		{Name: "decode_max_depth", Function: cfg.decodeMaxDepthOption},
		{Name: "encode_number_precision", Function: cfg.encodeNumberPrecision},
		{Name: "encode_keep_buffer", Function: cfg.encodeKeepBuffer},
		{Name: "encode_invalid_numbers", Function: cfg.encodeInvalidNumbers},
		{Name: "decode_invalid_numbers", Function: cfg.decodeInvalidNumbers},
		{Name: "new", Function: func(l *lua.State) int {
			l.PushValue(lua.UpValueIndex(2))
			newModule(l, lim)
			return 1
		}},
	}, 1)
	l.PushValue(-2)
	l.SetField(-2, "null")
	l.PushString(name)
	l.SetField(-2, "_NAME")
	l.PushString(version)
	l.SetField(-2, "_VERSION")
	return cfg
}

// argInit is json_arg_init: at most n arguments, padded with nils.
func argInit(l *lua.State, n int) {
	if l.Top() > n {
		luautil.ArgError(l, n+1, "found too many arguments")
	}
	l.SetTop(n)
}

// integerOption is json_integer_option. The value goes through a C int, so
// it is truncated to 32 bits before the range check, and a range error
// always names argument #1, as the C code does.
func integerOption(l *lua.State, i int, setting *int32, min, max int32) {
	if !l.IsNil(i) {
		v := int32(luautil.CheckInteger(l, i))
		if v < min || v > max {
			luautil.ArgError(l, 1, fmt.Sprintf("expected integer between %d and %d", min, max))
		}
		*setting = v
	}
	l.PushInteger(int(*setting))
}

// enumOption is json_enum_option: a boolean, or one of options by name.
// Settings 0 and 1 are reported as booleans, others by name.
func enumOption(l *lua.State, i int, setting *int32, options []string) {
	if !l.IsNil(i) {
		if l.IsBoolean(i) {
			*setting = 0
			if l.ToBoolean(i) {
				*setting = 1
			}
		} else {
			*setting = int32(luautil.CheckOption(l, i, options))
		}
	}
	if *setting <= 1 {
		l.PushBoolean(*setting == 1)
	} else {
		l.PushString(options[*setting])
	}
}

var onOff = []string{"off", "on"}

// boolOption is enumOption for on/off settings stored as bools.
func boolOption(l *lua.State, i int, setting *bool) {
	v := int32(0)
	if *setting {
		v = 1
	}
	enumOption(l, i, &v, onOff)
	*setting = v == 1
}

func (c *config) encodeSparseArray(l *lua.State) int {
	argInit(l, 3)
	boolOption(l, 1, &c.sparseConvert)
	integerOption(l, 2, &c.sparseRatio, 0, 1<<31-1)
	integerOption(l, 3, &c.sparseSafe, 0, 1<<31-1)
	return 3
}

func (c *config) encodeMaxDepthOption(l *lua.State) int {
	argInit(l, 1)
	integerOption(l, 1, &c.encodeMaxDepth, 1, 1<<31-1)
	return 1
}

func (c *config) decodeMaxDepthOption(l *lua.State) int {
	argInit(l, 1)
	integerOption(l, 1, &c.decodeMaxDepth, 1, 1<<31-1)
	return 1
}

func (c *config) encodeNumberPrecision(l *lua.State) int {
	argInit(l, 1)
	integerOption(l, 1, &c.precision, 1, 14)
	return 1
}

func (c *config) encodeKeepBuffer(l *lua.State) int {
	argInit(l, 1)
	boolOption(l, 1, &c.keepBuffer)
	if !c.keepBuffer {
		c.buf = nil
	}
	return 1
}

func (c *config) encodeInvalidNumbers(l *lua.State) int {
	argInit(l, 1)
	enumOption(l, 1, &c.encodeInvalid, []string{"off", "on", "null"})
	return 1
}

func (c *config) decodeInvalidNumbers(l *lua.State) int {
	argInit(l, 1)
	boolOption(l, 1, &c.decodeInvalid)
	return 1
}
