package luautil

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/Shopify/go-lua"
)

// Lua 5.1 tells a method call (obj:name(...)) from its call instruction:
// the called register was loaded by OP_SELF. go-lua's call-site
// information decodes the instruction after the call, so calledAsMethod
// reads the calling function's bytecode itself, through lua.State.Dump.
// Without the program counter of the call (go-lua does not expose it),
// it looks at every call on the current line.

// Lua 5.2 opcodes (go-lua's bytecode).
const (
	opMove = iota
	opLoadK
	opLoadKX
	opLoadBool
	opLoadNil
	opGetUpval
	opGetTabUp
	opGetTable
	opSetTabUp
	opSetUpval
	opSetTable
	opNewTable
	opSelf
	opAdd
	opSub
	opMul
	opDiv
	opMod
	opPow
	opUnm
	opNot
	opLen
	opConcat
	opJmp
	opEq
	opLt
	opLe
	opTest
	opTestSet
	opCall
	opTailCall
	opReturn
	opForLoop
	opForPrep
	opTForCall
	opTForLoop
	opSetList
	opClosure
	opVarArg
)

type instruction uint32

func (i instruction) op() int { return int(i & 0x3f) }
func (i instruction) a() int  { return int(i >> 6 & 0xff) }
func (i instruction) c() int  { return int(i >> 14 & 0x1ff) }
func (i instruction) b() int  { return int(i >> 23 & 0x1ff) }

// bitRK marks a B or C operand that is a constant index.
const bitRK = 1 << 8

// calledAsMethod reports whether the Lua function at call level 1 called
// the running Go function, registered as name, as a method. Among the
// calls on the caller's current line whose function was read under the
// key name (obj:name, t.name, a global name), it is true when every one is
// a method call; false when there is none, or the bytecode is unreadable.
func calledAsMethod(l *lua.State, name string) bool {
	caller, ok := lua.Stack(l, 1)
	if !ok {
		return false
	}
	d, _ := lua.Info(l, "lf", caller) // pushes the caller
	if !l.IsFunction(-1) || l.IsGoFunction(-1) {
		l.Pop(1)
		return false
	}
	var buf bytes.Buffer
	err := l.Dump(&buf)
	l.Pop(1)
	if err != nil {
		return false
	}
	p, err := readPrototype(buf.Bytes())
	if err != nil {
		return false
	}
	methods, others := 0, 0
	for pc, ins := range p.code {
		if (ins.op() != opCall && ins.op() != opTailCall) || pc >= len(p.lines) || int(p.lines[pc]) != d.CurrentLine {
			continue
		}
		setter, found := p.setter(pc, ins.a())
		if !found {
			continue
		}
		key := -1
		switch setter.op() {
		case opSelf, opGetTable, opGetTabUp:
			if c := setter.c(); c&bitRK != 0 {
				key = c &^ bitRK
			}
		}
		if key < 0 || key >= len(p.consts) || p.consts[key] != name {
			continue
		}
		if setter.op() == opSelf {
			methods++
		} else {
			others++
		}
	}
	return methods > 0 && others == 0
}

// prototype is the part of a dumped function calledAsMethod reads.
type prototype struct {
	code   []instruction
	consts []any // string constants as string, others nil
	lines  []int32
}

// setter finds the instruction before pc that last wrote register r,
// reading backwards without following jumps (a call's function register
// is loaded before its arguments, which use higher registers).
func (p *prototype) setter(pc, r int) (instruction, bool) {
	for j := pc - 1; j >= 0; j-- {
		ins := p.code[j]
		a := ins.a()
		switch ins.op() {
		case opMove, opLoadK, opLoadKX, opLoadBool, opGetUpval, opGetTabUp, opGetTable,
			opNewTable, opAdd, opSub, opMul, opDiv, opMod, opPow, opUnm, opNot, opLen,
			opConcat, opTestSet, opClosure, opForPrep, opTForLoop:
			if a == r {
				return ins, true
			}
		case opLoadNil:
			if a <= r && r <= a+ins.b() {
				return ins, true
			}
		case opSelf:
			if a == r || a+1 == r {
				return ins, true
			}
		case opCall:
			if c := ins.c(); r >= a && (c == 0 || r < a+c-1) {
				return ins, true
			}
		case opVarArg:
			if b := ins.b(); r >= a && (b == 0 || r < a+b-1) {
				return ins, true
			}
		case opForLoop:
			if a == r || a+3 == r {
				return ins, true
			}
		case opTForCall:
			if a+3 <= r && r < a+3+ins.c() {
				return ins, true
			}
		}
	}
	return 0, false
}

var errDump = errors.New("luautil: unexpected dump layout")

// dumpReader reads go-lua's binary chunk format (Lua 5.2's).
type dumpReader struct {
	b       []byte
	order   binary.ByteOrder
	ptrSize int
	err     error
}

func (r *dumpReader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = errDump
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *dumpReader) int() int {
	s := r.take(4)
	if s == nil {
		return 0
	}
	return int(int32(r.order.Uint32(s)))
}

func (r *dumpReader) string() (string, bool) {
	s := r.take(r.ptrSize)
	if s == nil {
		return "", false
	}
	var n uint64
	if r.ptrSize == 8 {
		n = r.order.Uint64(s)
	} else {
		n = uint64(r.order.Uint32(s))
	}
	if n == 0 {
		return "", false
	}
	if n > uint64(len(r.b)) {
		r.err = errDump
		return "", false
	}
	b := r.take(int(n))
	return string(b[:len(b)-1]), true // without the trailing NUL
}

// readPrototype reads the main function of a dump, skipping its nested
// functions.
func readPrototype(chunk []byte) (*prototype, error) {
	const headerSize = 18
	if len(chunk) < headerSize {
		return nil, errDump
	}
	r := &dumpReader{b: chunk[headerSize:], order: binary.BigEndian, ptrSize: int(chunk[8])}
	if chunk[6] == 1 {
		r.order = binary.LittleEndian
	}
	if r.ptrSize != 4 && r.ptrSize != 8 {
		return nil, errDump
	}
	p := &prototype{}
	r.function(p)
	return p, r.err
}

// function reads one function; p is nil for nested functions, which are
// only skipped.
func (r *dumpReader) function(p *prototype) {
	r.take(4 + 4 + 3) // line defined, last line defined, params, vararg, stack size
	n := r.int()
	code := r.take(4 * n)
	if p != nil && code != nil {
		p.code = make([]instruction, n)
		for i := range p.code {
			p.code[i] = instruction(r.order.Uint32(code[4*i:]))
		}
	}
	n = r.int()
	if p != nil && r.err == nil && n >= 0 && n <= len(r.b) {
		p.consts = make([]any, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		t := r.take(1)
		if t == nil {
			break
		}
		switch lua.Type(t[0]) {
		case lua.TypeNil:
		case lua.TypeBoolean:
			r.take(1)
		case lua.TypeNumber:
			r.take(8)
		case lua.TypeString:
			if s, ok := r.string(); ok && p != nil && i < len(p.consts) {
				p.consts[i] = s
			}
		default:
			r.err = errDump
		}
	}
	n = r.int()
	for i := 0; i < n && r.err == nil; i++ {
		r.function(nil)
	}
	r.take(2 * r.int()) // upvalues: in stack, index
	r.string()          // source
	n = r.int()
	lines := r.take(4 * n)
	if p != nil && lines != nil {
		p.lines = make([]int32, n)
		for i := range p.lines {
			p.lines[i] = int32(r.order.Uint32(lines[4*i:]))
		}
	}
	n = r.int() // local variables: name, start pc, end pc
	for i := 0; i < n && r.err == nil; i++ {
		r.string()
		r.take(8)
	}
	n = r.int() // upvalue names
	for i := 0; i < n && r.err == nil; i++ {
		r.string()
	}
}
