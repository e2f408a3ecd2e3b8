package cjson

import (
	"strings"
	"testing"

	"github.com/Shopify/go-lua"
	"github.com/luaproxy/luaproxy/luavm/internal/luautil"
)

// run executes script in a fresh state with limits and returns its first
// result as a string, or the error message.
func run(t *testing.T, lim *luautil.Limits, script string) (string, error) {
	t.Helper()
	l := lua.NewState()
	lua.OpenLibraries(l)
	Open(l, lim)
	l.PushThread() // go-lua has no coroutines: the main thread stands in
	l.SetGlobal("thread")
	if err := lua.LoadBuffer(l, script, "@test", "text"); err != nil {
		t.Fatal(err)
	}
	if err := l.ProtectedCall(0, 1, 0); err != nil {
		msg, _ := l.ToString(-1)
		return "", &luaError{msg}
	}
	s, _ := l.ToString(-1)
	return s, nil
}

type luaError struct{ msg string }

func (e *luaError) Error() string { return e.msg }

func TestLocal(t *testing.T) {
	tests := []struct {
		name, script, want, err string
	}{
		{"null is userdata", "return type(cjson.null)", "userdata", ""},
		{"null equals itself", "return tostring(cjson.null == cjson.decode('[null]')[1])", "true", ""},
		{"null encodes", "return cjson.encode({cjson.null})", "[null]", ""},
		{"thread", "return cjson.encode(thread)", "", "Cannot serialise thread: type not supported"},
		{"other userdata", "return cjson.encode(io.stdout)", "", "Cannot serialise userdata: type not supported"},
		{"keep buffer survives errors", "pcall(cjson.encode, {1, {2, type}}) return cjson.encode({3})", "[3]", ""},
		{"keep buffer reused", "cjson.encode({string.rep('x', 100)}) return cjson.encode(1)", "1", ""},
		{"keep buffer off", "cjson.encode_keep_buffer(false) pcall(cjson.encode, {type}) return cjson.encode({4})", "[4]", ""},
		{"number argument to decode", "return cjson.decode(1e100) == 1e100 and 'ok'", "ok", ""},
		{"decode deep arrays bounded", "cjson.decode_max_depth(1e9) return cjson.decode(string.rep('[', 1e6))", "", "Found too many nested data structures (7999) at character 7999"},
		{"encode deep bounded", "cjson.encode_max_depth(1e9) local t = {} t[1] = t return cjson.encode(t)", "", "Cannot serialise, excessive nesting (7998)"},
		{"new has own config", "local j = cjson.new() j.encode_max_depth(1) return cjson.encode({{}})", "[{}]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := run(t, nil, tt.script)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %q, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestMemoryLimit(t *testing.T) {
	tests := []struct{ name, script string }{
		{"encode repeated string", "local s = string.rep('x', 1e5) local t = {} for i = 1, 100 do t[i] = s end return cjson.encode(t)"},
		{"encode escapes", "local s = string.rep('\\1', 1e5) return cjson.encode({s, s, s})"},
		{"encode sparse nulls", "cjson.encode_sparse_array(false, 0) return cjson.encode({[1e8] = 1})"},
		{"decode big string", "return cjson.decode('\"' .. string.rep('a', 3e6) .. '\"')"},
		{"decode many tables", "return cjson.decode('[' .. string.rep('[],', 1e5) .. '[]]')"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lim luautil.Limits
			lim.Reset(1 << 20)
			if _, err := run(t, &lim, tt.script); err == nil || !strings.Contains(err.Error(), luautil.OutOfMemory) {
				t.Fatalf("got %v, want %q", err, luautil.OutOfMemory)
			}
		})
	}
}

func TestInterrupt(t *testing.T) {
	var lim luautil.Limits
	lim.Reset(0)
	lim.Interrupt("killed by test")
	for _, script := range []string{
		"local t = {} for i = 1, 1e5 do t[i] = i end return cjson.encode(t)",
		"return cjson.decode('[' .. string.rep('1,', 1e5) .. '1]')",
	} {
		if _, err := run(t, &lim, script); err == nil || err.Error() != "killed by test" {
			t.Errorf("%s: got %v, want the interrupt", script, err)
		}
	}
}

func TestIsNull(t *testing.T) {
	l := lua.NewState()
	Open(l, nil)
	l.Global("cjson")
	l.Field(-1, "null")
	if !IsNull(l, -1) {
		t.Error("cjson.null is not null")
	}
	l.PushUserData(struct{}{})
	l.PushNil()
	if IsNull(l, -1) || IsNull(l, -2) {
		t.Error("other values are null")
	}
}
