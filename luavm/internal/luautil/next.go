package luautil

import (
	"reflect"
	"unsafe"

	"github.com/Shopify/go-lua"
)

// go-lua's next is quadratic: for a key in a table's hash part it scans the
// table's key snapshot from its start to find the key, so a full traversal
// of n hash keys (pairs, cjson.encode, cmsgpack.pack, RESP conversion) costs
// n²/2 comparisons — minutes for 100,000 keys, where Lua 5.1 takes
// milliseconds. nextCache makes the next step O(1) by remembering, for the
// tables traversed last, each snapshot key's position. It reads go-lua's
// table fields (array, hash, iterationKeys) through their reflected offsets,
// checked once per cache; when the layout is not the expected one it falls
// back to l.Next. Traversal order and results are exactly go-lua's: the
// same snapshot is walked, keys gone from the hash part are skipped and
// marked as go-lua marks them, and every case the fast path does not cover
// (first call, array-part keys, a key not in the snapshot, no snapshot yet)
// is left to l.Next. One difference is deliberate: a key cleared during
// the traversal is a valid key for the next step, as in Lua 5.1, where
// go-lua's next raises "invalid key to 'next'".
type nextCache struct {
	layout  tableLayout
	checked bool
	entries [2]nextEntry
	victim  int
}

type nextEntry struct {
	table unsafe.Pointer // the *table, kept alive by ref
	ref   any
	keys  unsafe.Pointer // data pointer of the snapshot pos was built from
	pos   map[any]int
}

// tableLayout holds the offsets of go-lua's table fields.
type tableLayout struct {
	ok                   bool
	typ                  reflect.Type
	array, hash, iterKey uintptr
}

func (c *nextCache) reset() {
	c.entries = [2]nextEntry{}
}

func checkLayout(t reflect.Type) tableLayout {
	lay := tableLayout{typ: t}
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct || t.Elem().Name() != "table" {
		return lay
	}
	st := t.Elem()
	isIface := func(t reflect.Type) bool { return t.Kind() == reflect.Interface && t.NumMethod() == 0 }
	a, ok1 := st.FieldByName("array")
	h, ok2 := st.FieldByName("hash")
	k, ok3 := st.FieldByName("iterationKeys")
	if !ok1 || !ok2 || !ok3 ||
		a.Type.Kind() != reflect.Slice || !isIface(a.Type.Elem()) ||
		h.Type.Kind() != reflect.Map || !isIface(h.Type.Key()) || !isIface(h.Type.Elem()) ||
		k.Type.Kind() != reflect.Slice || !isIface(k.Type.Elem()) {
		return lay
	}
	lay.ok, lay.array, lay.hash, lay.iterKey = true, a.Offset, h.Offset, k.Offset
	return lay
}

// Next is l.Next(index) (pops a key, pushes the next key and value, or
// nothing at the end) in constant time per step for a table's hash part.
// Use it wherever Go code traverses a Lua table.
func (x *Limits) Next(l *lua.State, index int) bool {
	if x == nil {
		return l.Next(index)
	}
	index = l.AbsIndex(index)
	c := &x.iter
	// ToValue gives a key's own value for these types only (a userdata's
	// data is not the key).
	switch l.TypeOf(-1) {
	case lua.TypeString, lua.TypeNumber, lua.TypeBoolean, lua.TypeTable, lua.TypeFunction:
	default:
		return l.Next(index)
	}
	k := l.ToValue(-1)
	if k == nil || !l.IsTable(index) {
		return l.Next(index)
	}
	tv := l.ToValue(index)
	if !c.checked || c.layout.typ != reflect.TypeOf(tv) {
		c.layout, c.checked = checkLayout(reflect.TypeOf(tv)), true
	}
	if !c.layout.ok {
		return l.Next(index)
	}
	tp := reflect.ValueOf(tv).UnsafePointer()
	array := (*[]any)(unsafe.Add(tp, c.layout.array))
	if f, ok := k.(float64); ok {
		if i := int(f); float64(i) == f && i > 0 && i <= len(*array) {
			return l.Next(index) // array part: go-lua resumes in place
		}
	}
	keys := *(*[]any)(unsafe.Add(tp, c.layout.iterKey))
	if len(keys) == 0 || !reflect.TypeOf(k).Comparable() {
		return l.Next(index)
	}
	e := c.entry(tp, tv, keys)
	i, ok := e.pos[k]
	if !ok {
		return l.Next(index)
	}
	// k may have been cleared during the traversal, which Lua allows (and
	// go-lua's own next refuses as an invalid key): its place in the
	// snapshot is known, so the walk goes on from there.
	hash := *(*map[any]any)(unsafe.Add(tp, c.layout.hash))
	for j := i + 1; j < len(keys); j++ {
		hk := keys[j]
		if hk == nil {
			continue
		}
		v, present := hash[hk]
		if !present {
			keys[j] = nil // as go-lua marks a deleted key
			continue
		}
		l.Pop(1)
		pushValue(l, hk)
		pushValue(l, v)
		return true
	}
	l.Pop(1)
	return false
}

// entry returns the cache entry for table tp whose positions index keys,
// building it when the table or its snapshot changed.
func (c *nextCache) entry(tp unsafe.Pointer, ref any, keys []any) *nextEntry {
	data := unsafe.Pointer(unsafe.SliceData(keys))
	for i := range c.entries {
		if e := &c.entries[i]; e.table == tp {
			if e.keys != data {
				e.keys, e.pos = data, positions(keys)
			}
			return e
		}
	}
	e := &c.entries[c.victim]
	c.victim = (c.victim + 1) % len(c.entries)
	*e = nextEntry{table: tp, ref: ref, keys: data, pos: positions(keys)}
	return e
}

func positions(keys []any) map[any]int {
	pos := make(map[any]int, len(keys))
	for i, k := range keys {
		if k != nil && reflect.TypeOf(k).Comparable() {
			pos[k] = i
		}
	}
	return pos
}

// pushValue pushes a value read from a go-lua table as it is: go-lua's
// PushLightUserData pushes its argument unchanged.
func pushValue(l *lua.State, v any) { l.PushLightUserData(v) }
